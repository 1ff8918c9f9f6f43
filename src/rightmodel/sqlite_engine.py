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
