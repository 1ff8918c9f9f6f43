"""Running `rightmodel serve`: uvicorn with our connection limits, and a stop that cannot hang.

uvicorn drains in-flight requests for `timeout_graceful_shutdown` (our `drain_s`) and runs the
lifespan shutdown (ledger flushed and closed). Then `asyncio.run` waits, without limit, for the
loop's default executor, and the interpreter joins every thread a `ThreadPoolExecutor` started:
work that was abandoned at its deadline (issue 17: a worker thread stuck in a scan) kept the
process alive minutes after "Finished server process". Here:

- the loop is run by hand and closed without waiting for executor threads;
- after the orderly stop, threads still busy with abandoned work are not waited for: the process
  ends with `os._exit` (everything durable was closed by then; the ledger journal was written
  before each answer, so nothing a client was told is lost);
- a watchdog armed by the first SIGTERM/SIGINT ends the process `drain_s + EXIT_GRACE_S` after
  the signal whatever is still running (exit status 1: something in the shutdown hung).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

from rightmodel.gateway.protocol import ConnectionLimits, protocol_class

log = logging.getLogger("rightmodel.gateway")
EXIT_GRACE_S = 1.5  # after drain_s: the lifespan shutdown (ledger flush) normally takes milliseconds
JOIN_S = 0.3  # how long finished-but-not-yet-exited threads are given before the hard exit


def server_config(app: Any, *, host: str, port: int, log_level: str, defaults: Any) -> uvicorn.Config:
    """uvicorn's config with the gateway's protocol (connection limits) and drain time."""
    return uvicorn.Config(
        app, host=host, port=port, loop="uvloop", http=protocol_class(ConnectionLimits.from_defaults(defaults)),
        access_log=False, log_level=log_level, lifespan="on", timeout_graceful_shutdown=defaults.drain_s,
        timeout_keep_alive=defaults.idle_timeout_s,  # idle keep-alive connections: same rule as new ones
    )


class GatewayServer(uvicorn.Server):
    """A uvicorn server whose stop is bounded by `drain_s + EXIT_GRACE_S` after the signal."""

    def __init__(self, config: uvicorn.Config, drain_s: float) -> None:
        super().__init__(config)
        self.drain_s = drain_s
        self._watchdog: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._watchdog is None:
            limit = self.drain_s + EXIT_GRACE_S
            self._watchdog = threading.Thread(target=_watchdog, args=(time.monotonic() + limit, limit), name="rightmodel-exit", daemon=True)
            self._watchdog.start()

    def run(self, sockets: Any = None) -> None:
        """Serve until stopped; never wait on abandoned work once the orderly stop is done."""
        factory = self.config.get_loop_factory()
        loop = factory() if factory is not None else asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve(sockets=sockets))
        finally:
            try:
                _cancel_leftovers(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()  # the default executor is shut down without waiting
        exit_if_threads_linger()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop, timeout: float = 1.0) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=timeout))


def lingering_threads() -> list[threading.Thread]:
    """Non-daemon threads other than this one that are still running (the interpreter would join them)."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def exit_if_threads_linger(status: int = 0) -> None:
    """End the process now if threads still run abandoned work, rather than wait for them."""
    deadline = time.monotonic() + JOIN_S
    for thread in lingering_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = lingering_threads()
    if busy:
        log.warning("exiting without waiting for %d thread(s) still running abandoned work (%s)", len(busy),
                    ", ".join(sorted({t.name for t in busy})))
        _hard_exit(status)


def _watchdog(deadline: float, limit: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
    log.error("shutdown did not finish within drain_s + %.1f s (%.1f s) after the signal; exiting now", EXIT_GRACE_S, limit)
    _hard_exit(1)


def _hard_exit(status: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe must not stop the exit
            pass
    os._exit(status)
