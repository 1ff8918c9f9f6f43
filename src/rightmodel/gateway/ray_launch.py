"""`rightmodel serve --ray`: deploy the gateway on Ray Serve and serve until stopped.

Without an address (`--address`, `ray.address` in the constellation) it starts a Ray cluster of
its own for this gateway, on loopback only (node address 127.0.0.1, no dashboard, no usage
stats, its own temporary directory so that no other Ray session on the machine attaches to it),
and stops it on exit. With an address it joins that cluster, deploys the application, and on exit
deletes the application and leaves the cluster running.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from typing import Any

from rightmodel.errors import ConfigError
from rightmodel.gateway.launch import ServeOptions, prepare

# Ray reads these at import: no telemetry, and a single-node cluster stays on the given address.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
LOOPBACK = "127.0.0.1"


def start_ray(address: str | None, num_cpus: int | None = None) -> str | None:
    """Join the cluster at `address`, or start one on loopback; returns the temp dir to remove (own cluster)."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise ConfigError("`serve --ray` needs Ray Serve: pip install 'rightmodel[ray]'") from None
    if address:
        ray.init(address=address, configure_logging=False, log_to_driver=False)
        return None
    temp = tempfile.mkdtemp(prefix="rightmodel-ray-")  # short: Ray's socket paths must fit 107 bytes
    ray.init(address="local", _node_ip_address=LOOPBACK, include_dashboard=False, num_cpus=num_cpus or os.cpu_count(),
             _temp_dir=temp, configure_logging=False, log_to_driver=False)
    return temp


def serve_on_ray(options: ServeOptions, *, echo: Any = print) -> int:
    """Deploy, serve until SIGTERM/SIGINT, then tear down what this process started. Exit status."""
    constellation, _ = prepare(options)  # a bad file, a missing version: fail before starting anything
    address = options.ray_address or constellation.ray.address
    own_temp = start_ray(address)
    from ray import serve

    from rightmodel.gateway.ray_serve import APP_NAME, build_app

    stop = {"signal": None}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        serve.start(http_options={"host": options.host, "port": options.port}, proxy_location="HeadOnly")
        started = time.monotonic()
        serve.run(build_app(options, constellation), name=APP_NAME, route_prefix="/", blocking=False)
        names = ", ".join([*constellation.tasks, *constellation.remote_models()]) or "nothing"
        echo(f"rightmodel gateway on Ray Serve at http://{options.host}:{options.port}/v1 serving: {names} "
             f"(ready in {time.monotonic() - started:.1f} s)")
        while stop["signal"] is None:
            time.sleep(0.2)
        return 0
    finally:
        try:
            if own_temp is None:
                serve.delete(APP_NAME)  # someone else's cluster: leave it as found
            else:
                serve.shutdown()
        finally:
            import ray

            ray.shutdown()
            if own_temp is not None:
                import shutil

                shutil.rmtree(own_temp, ignore_errors=True)
