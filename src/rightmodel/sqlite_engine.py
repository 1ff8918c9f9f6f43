"""SQLite the way every rightmodel store uses it (registry, ledger, key store).

pysqlite's own transaction handling issues a deferred BEGIN lazily, which in WAL mode can fail
at once with SQLITE_BUSY when a read transaction tries to upgrade to a write. So: autocommit at
the driver, explicit BEGINs, BEGIN IMMEDIATE for connections marked as writers (`write()`), WAL,
and a busy timeout so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password masked, for messages and `config show`."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparseable URL)"


def open_store_engine(
    url: str,
    *,
    what: str,
    error: type[Exception],
    busy_timeout_s: float,
    pg_connect_timeout_s: float = 10,
    watch_file: bool = False,
    make_parent: bool = False,
) -> Engine:
    """An engine for a store that needs SQLite (a file) or PostgreSQL — the ledger and the key
    store both rely on ON CONFLICT and JSON. Raises `error` naming `what` when the URL cannot work.
    SQLite gets synchronous=FULL: these stores' rows must survive a power cut once committed."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise error(f"cannot use {what} URL {safe_url(url)!r}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise error(f"{what} {safe_url(url)!r}: only SQLite and PostgreSQL URLs are supported")
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise error(f"the {what} needs an SQLite database file, not an in-memory one")
        if make_parent:
            Path(parsed.database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": pg_connect_timeout_s}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise error(f"cannot use {what} URL {safe_url(url)!r}: {exc}") from None
    if backend == "sqlite":
        configure_sqlite(
            engine,
            busy_timeout_s=busy_timeout_s,
            synchronous="FULL",
            watch_file=os.path.abspath(parsed.database) if watch_file else None,
        )
    return engine


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def configure_sqlite(
    engine: Engine,
    *,
    busy_timeout_s: float,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    watch_file: str | None = None,
) -> None:
    """Install the connection hooks. `synchronous=FULL` makes each commit survive a power cut
    (the ledger deletes its journal once rows are committed). `watch_file` drops a pooled
    connection whose database file was moved or replaced (the pool then opens the new file)."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute(f"PRAGMA synchronous = {synchronous}")
        cur.close()
        if watch_file is not None:
            record.info["rightmodel_file"] = _file_identity(watch_file)

    if watch_file is not None:

        @sa.event.listens_for(engine, "checkout")
        def _on_checkout(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            if record.info.get("rightmodel_file") != _file_identity(watch_file):
                raise sa.exc.DisconnectionError(f"SQLite database {watch_file} was moved or replaced")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("rightmodel_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A connection inside a write transaction: committed on success, rolled back on any error."""
    with engine.connect() as conn:
        conn.execution_options(rightmodel_write=True)
        with conn.begin():
            yield conn


def alembic_config(migrations_dir: Path) -> Any:
    """An alembic Config for a package's own migrations directory (no ini file)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir).replace("%", "%%"))
    return cfg


def upgrade_to_head(engine: Engine, migrations_dir: Path) -> None:
    """Create or upgrade a package's tables to its newest migration.

    In a write transaction, so two processes starting on a fresh SQLite file serialize instead of
    both creating the tables; a second attempt covers a server where a concurrent first run won
    that race. Raises the database's error: each store words it for its own users.
    """
    from alembic import command

    cfg = alembic_config(migrations_dir)
    for attempt in range(2):
        try:
            with write(engine) as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            return
        except sa.exc.DBAPIError:
            if attempt == 1:
                raise
