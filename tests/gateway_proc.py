"""Start real `rightmodel serve` processes on loopback for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen
    log: Path
    home: Path

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ledger_rows(self, expect: int | None = None, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Rows of the gateway's SQLite ledger; waits until at least `expect` have been shipped."""
        import sqlalchemy as sa

        engine = sa.create_engine(f"sqlite:///{self.home / 'ledger.db'}")
        deadline = time.time() + timeout
        try:
            while True:
                try:
                    with engine.connect() as conn:
                        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM ledger_requests ORDER BY created_at"))]
                except sa.exc.OperationalError:
                    rows = []
                if expect is None or len(rows) >= expect or time.time() > deadline:
                    return rows
                time.sleep(0.1)
        finally:
            engine.dispose()


def start_gateway(config: dict[str, Any] | None, home: Path, port: int | None = None, extra_args: tuple[str, ...] = (), env: dict | None = None) -> Gateway:
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "rightmodel.cli", "serve", "--port", str(port), "--home", str(home), "--threads", "1", *extra_args]
    if config is not None:
        path = home / f"constellation-{port}.yaml"
        path.write_text(yaml.safe_dump(config))
        args += ["--config", str(path)]
    log = home / f"gateway-{port}.log"
    proc = subprocess.Popen(
        args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    )
    gateway = Gateway(f"http://127.0.0.1:{port}", proc, log, home)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{gateway.log_text()[-3000:]}")
        try:
            if httpx.get(f"{gateway.url}/readyz", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_gateway(gateway)
    raise RuntimeError(f"gateway did not become ready:\n{gateway.log_text()[-3000:]}")


def stop_gateway(gateway: Gateway, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if gateway.process.poll() is None:
        gateway.process.send_signal(sig)
        try:
            gateway.process.wait(timeout)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
            gateway.process.wait()
    return gateway.process.returncode


@contextmanager
def running_gateway(config: dict[str, Any] | None, home: Path, **kwargs) -> Iterator[Gateway]:
    gateway = start_gateway(config, home, **kwargs)
    try:
        yield gateway
    finally:
        stop_gateway(gateway)


def create_keys(keys_url: str, *specs: Any) -> list[str]:
    """A key store at ``keys_url`` holding one key per ``KeySpec``; their secrets, in order."""
    from rightmodel.auth import KeyStore

    store = KeyStore(keys_url)
    store.migrate()
    try:
        return [store.create(spec)[1] for spec in specs]
    finally:
        store.close()
