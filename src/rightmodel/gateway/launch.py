"""Starting one gateway process from `rightmodel serve`'s options: alone, or as worker K of N.

The options travel as JSON from the supervisor to each worker (gateway/supervisor.py), so a
worker is started exactly as `serve` would start a lone gateway, with three differences: its own
journal directory (`<journal_dir>/worker-K`), the shared limits store, and a listening socket of
its own bound with SO_REUSEPORT to the common port (the kernel spreads connections over them).
"""

from __future__ import annotations

import json
import os
import signal
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rightmodel.errors import ConfigError

WORKER_DIR = "worker-{}"


@dataclass
class ServeOptions:
    """What `rightmodel serve` was asked (paths as strings: they are sent to workers as JSON)."""

    config: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    home: str | None = None
    db_url: str | None = None
    ledger_url: str | None = None
    keys_url: str | None = None
    limits_url: str | None = None
    journal_dir: str | None = None
    threads: int | None = None
    log_level: str = "warning"
    workers: int = 1
    version_poll_s: float = 2.0
    ray: bool = False  # `serve --ray`: this process is an ingress or specialist replica of a Ray Serve app
    ray_address: str | None = None  # an existing Ray cluster; None: `constellation.ray.address`, else a new one on loopback

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeOptions":
        return cls(**json.loads(text))


def prepare(options: ServeOptions, *, worker: int | None = None, instance: str | None = None) -> tuple[Any, Any]:
    """The constellation and settings this process serves with (validated, preflighted)."""
    from rightmodel.constellation.config import load_constellation
    from rightmodel.constellation.settings import GatewaySettings
    from rightmodel.gateway.state import default_constellation, preflight

    home = Path(options.home) if options.home else None
    if options.config is not None:
        constellation = load_constellation(Path(options.config))
    else:
        constellation = default_constellation(home or Path(".rightmodel"), options.db_url)
    if options.keys_url:
        constellation = constellation.model_copy(update={"storage": constellation.storage.model_copy(update={"keys_url": options.keys_url})})
    settings = GatewaySettings.from_constellation(
        constellation, home=home, registry_url=options.db_url, ledger_url=options.ledger_url,
        journal_dir=Path(options.journal_dir) if options.journal_dir else None, inference_threads=options.threads,
        version_poll_s=options.version_poll_s,
    )
    if options.workers > 1 or options.ray or options.limits_url or constellation.storage.limits_url:
        from rightmodel.cluster.limits_store import resolve_limits_url

        settings.limits_url = resolve_limits_url(settings.home, constellation.storage.limits_url, options.limits_url)
    if worker is not None:
        become_worker(settings, worker, instance)
        if options.threads is None:  # the cores are shared by the workers
            settings.inference_threads = max(1, (os.cpu_count() or 1) // options.workers)
    preflight(constellation, settings)
    return constellation, settings


def become_worker(settings: Any, worker: int, instance: str | None) -> None:
    """Settings of process K of several sharing one home: its own journal directory, its name in
    the shared limits store (`serve --workers N`, and each ingress replica of `serve --ray`)."""
    root = journal_root(settings)
    settings.worker, settings.instance = worker, instance
    settings.journal_dir = root / WORKER_DIR.format(worker)


def journal_root(settings: Any) -> Path:
    return Path(settings.journal_dir or settings.home / "ledger-journal").expanduser().absolute()


def ship_leftover_journals(settings: Any, keep: set[int]) -> None:
    """Ship the rows left in worker journal directories nobody will reuse (a run with more
    workers than this one, or `--workers` before a lone `serve`): each is locked, started as a
    ledger (which ships its backlog first), flushed and closed. Inserts are idempotent by request
    id, so a directory shipped twice costs time, never a duplicate row. A directory whose lock is
    held belongs to a live process and is left alone."""
    import logging
    import re

    from rightmodel.constellation.settings import ledger_url_of
    from rightmodel.ledger import Ledger

    root = journal_root(settings)
    if not root.is_dir():
        return
    for path in sorted(root.iterdir()):
        m = re.fullmatch(r"worker-(\d+)", path.name)
        if m is None or int(m.group(1)) in keep or not path.is_dir() or not journal_backlog(path):
            continue
        ledger = Ledger(ledger_url_of(settings), path)
        try:
            ledger.start()
        except ConfigError:  # in use
            continue
        try:
            if not ledger.flush(10):  # the database down: the rows wait for the next start
                logging.getLogger("rightmodel.ledger").warning("ledger: rows of %s are not all shipped yet; they stay there", path)
        finally:
            ledger.close()


def journal_backlog(directory: Path) -> int:
    """Journal bytes in `directory` the database has not acknowledged (0: nothing to ship)."""
    from rightmodel.ledger.journal import list_segments, pending_bytes, read_checkpoint

    segments = list_segments(directory)
    start = read_checkpoint(directory) or ((segments[0], 0) if segments else None)
    return pending_bytes(directory, start) if start is not None else 0


def claim_journal(directory: Path, what: str) -> Any:
    """Lock a journal directory for this process, or a ConfigError saying who holds it and what to
    do (a second `serve` on the same home used to die in a traceback from the ledger's lock)."""
    from rightmodel.ledger.journal import DirLock

    directory.mkdir(parents=True, exist_ok=True)
    try:
        return DirLock(directory)
    except ConfigError:
        raise ConfigError(
            f"another rightmodel gateway is already serving with the ledger journal {directory} ({what}); "
            "stop it first, or run several processes as one with `rightmodel serve --workers N` "
            "(they share the port, the journal directory, rate limits and budgets)"
        ) from None


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT (not listening: uvicorn listens on it)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run(options: ServeOptions, *, worker: int | None = None, instance: str | None = None) -> bool:
    """Serve until stopped (SIGTERM/SIGINT: drain, then exit). False if the server never started."""
    import logging

    from rightmodel.gateway.app import create_app
    from rightmodel.gateway.server import GatewayServer, server_config

    logging.basicConfig(level=options.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    constellation, settings = prepare(options, worker=worker, instance=instance)
    sockets = None
    if worker is None:
        # Fail clearly, before loading anything, when another gateway holds the journal (the
        # ledger takes the lock itself at startup, a moment later).
        claim_journal(journal_root(settings), "its directory lock is held").release()
        ship_leftover_journals(settings, keep=set())
        names = ", ".join([*constellation.tasks, *constellation.remote_models()]) or "nothing (no production specialists, no models)"
        import typer

        typer.echo(f"rightmodel gateway on http://{options.host}:{options.port}/v1 serving: {names}", err=True)
    else:
        sockets = [reuse_port_socket(options.host, options.port)]
    app = create_app(constellation, settings)
    # uvicorn drains and shuts down on SIGINT/SIGTERM, then re-raises the signal with the handler
    # it found: make that a no-op so a graceful stop exits 0 (the CLI's default turns it into 130).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    # Connection limits (header bytes, idle, slow headers and bodies) and a stop bounded by
    # drain_s even when abandoned work is still running: gateway/server.py.
    defaults = constellation.defaults
    config = server_config(app, host=options.host, port=options.port, log_level=options.log_level, defaults=defaults)
    server = GatewayServer(config, defaults.drain_s)
    server.run(sockets=sockets)
    return bool(getattr(server, "started", False))
