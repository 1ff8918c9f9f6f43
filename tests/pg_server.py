"""A throwaway PostgreSQL server for tests: its own cluster in a temp dir, on a free loopback port.

Uses the server binaries of Debian's ``postgresql`` package (``/usr/lib/postgresql/<N>/bin``, the
newest N found; ``RIGHTMODEL_PG_BINDIR`` overrides). ``initdb`` refuses to run as root, so as root
the cluster belongs to the ``postgres`` user and every server command runs through ``runuser``.
Debian's default cluster is never touched. Auth is ``trust``, and the server listens on
127.0.0.1 only, with its Unix socket inside the temp dir.

Without the binaries (or, as root, the ``postgres`` user, or the psycopg driver) the tests that
use it are skipped on a developer machine but fail when ``CI`` is set, so CI can't skip them
silently; ``.ci/run`` installs the package.

Use it from a test module with ``from pg_server import pg_server, pg_url  # noqa: F401``:
``pg_server`` is the session's ``PgServer`` (``.url``, ``.stop()``, ``.start()``, ``.restart()``,
``.create_database()``), ``pg_url`` the URL of a database of its own for one test.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

OWNER = "postgres"  # OS user owning the cluster when we are root; also the database superuser
DEFAULT_DB = "rightmodel"
COMMAND_TIMEOUT_S = 120
# Durability off: the cluster is thrown away, and fsyncs would dominate the tests' run time.
SPEED_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresUnavailable(RuntimeError):
    """This machine cannot run a throwaway PostgreSQL server (a skip, or a failure in CI)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_bindir() -> Path:
    """The newest installed PostgreSQL server bin dir."""
    override = os.environ.get("RIGHTMODEL_PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
        candidates = [
            Path(p).parent
            for p in sorted(found, key=lambda p: _version_key(Path(p).parent.parent.name),
                            reverse=True)
        ]
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (looked for /usr/lib/postgresql/*/bin/initdb; "
        "install Debian's 'postgresql' package or set RIGHTMODEL_PG_BINDIR)"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name)) or (0,)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """One cluster in ``root``: ``start()``/``stop()`` it any number of times; ``close()`` ends it.

    The port is fixed at the first successful start, so URLs stay valid across restarts.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(OWNER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {OWNER!r} user for initdb to run as "
                    "(Debian's 'postgresql' package creates it)"
                ) from None
            if shutil.which("runuser") is None and shutil.which("su") is None:
                raise PostgresUnavailable("running as root and neither runuser nor su exists")
            self.run_as = OWNER
        self.user = OWNER  # database superuser name (initdb -U)
        self.root = Path(tempfile.mkdtemp(prefix="rightmodel-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self.port: int | None = None
        self._initialized = False
        self._closed = False
        self.sockets.mkdir()
        if self.run_as:
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        os.chmod(self.root, 0o700)
        atexit.register(self.close)

    # -- URLs --------------------------------------------------------------------------------

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of one database on this server."""
        if self.port is None:
            raise RuntimeError("the server has not been started yet")
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """URL of the ``rightmodel`` database, created at the first start."""
        return self.url_for(DEFAULT_DB)

    def connect(self, database: str = "postgres"):
        """A plain psycopg connection in autocommit mode (for admin statements)."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database,
                               autocommit=True, connect_timeout=10)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PgServer:
        """Start (initdb and create the ``rightmodel`` database on the first call); waits."""
        if self._closed:
            raise RuntimeError("the server was closed")
        if not self._initialized:
            self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
            self._initialized = True
        if self.port is not None:
            self._pg_ctl_start(self.port)
            return self
        for attempt in range(3):  # another process may grab the free port before we bind it
            port = free_port()
            try:
                self._pg_ctl_start(port)
            except RuntimeError:
                if attempt == 2 or "already in use" not in self._log_tail():
                    raise
                continue
            self.port = port
            break
        self.create_database(DEFAULT_DB)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait; ``mode="immediate"`` is a crash-like stop (no checkpoint)."""
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w",
                      "-t", str(COMMAND_TIMEOUT_S), "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def is_running(self) -> bool:
        if not self._initialized:
            return False
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def close(self) -> None:
        """Stop the server and delete the cluster (idempotent)."""
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.close)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- databases ---------------------------------------------------------------------------

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name by default); returns its URL."""
        from psycopg import sql

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals ---------------------------------------------------------------------------

    def _pg_ctl_start(self, port: int) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {self.sockets} "
                   f"{SPEED_OPTIONS}")
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                      "-t", str(COMMAND_TIMEOUT_S), "-o", options, "start")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{self._log_tail()}") from None

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(self.bindir / tool), *args]
        if self.run_as and shutil.which("runuser"):
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        elif self.run_as:
            argv = ["su", self.run_as, "-s", "/bin/sh", "-c", shlex.join(argv)]
        # PG* variables of the caller (PGPORT, PGDATA, ...) must not leak into our cluster.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        proc = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_S)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def unavailable(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where .ci/run must have installed PostgreSQL."""
    if in_ci():
        pytest.fail(f"PostgreSQL tests cannot run: {reason}. CI is set, so this fails instead of "
                    "skipping (.ci/run installs Debian's postgresql package).", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@contextmanager
def running_server() -> Iterator[PgServer]:
    """A started throwaway server, stopped and deleted at the end."""
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (skips, or fails in CI, when none can be run)."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        unavailable(f"the psycopg driver is not installed ({exc})")
    try:
        server = PgServer()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    with server:
        server.start()
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a fresh, empty database for one test, dropped afterwards."""
    url = pg_server.create_database()
    yield url
    if pg_server.is_running():
        pg_server.drop_database(url.rsplit("/", 1)[1])
