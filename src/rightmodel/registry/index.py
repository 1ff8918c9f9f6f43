"""The registry's SQL index: table definitions, engine setup, migrations and queries.

The index is the source of truth for which versions exist and which stage each one is in; the
directories on disk only hold the bytes. Any SQLAlchemy URL works. SQLite gets WAL mode, a busy
timeout and ``BEGIN IMMEDIATE`` for writes, so two processes registering at once queue up instead
of failing with "database is locked". Other backends rely on the unique constraints plus retries
in the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rightmodel.errors import RegistryError
from rightmodel.sqlite_engine import configure_sqlite, upgrade_to_head, write  # noqa: F401  (write: used by registry.py)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Own version table so the registry can share a database with other rightmodel components.
ALEMBIC_VERSION_TABLE = "rightmodel_registry_alembic_version"
SQLITE_BUSY_TIMEOUT_S = 30.0
STAGES = ("candidate", "production", "archived")

# Schema declarations (not state). Keep in step with the latest migration in migrations/versions.
metadata = sa.MetaData()

versions = sa.Table(
    "registry_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("version_num", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("data_hash", sa.String(128), nullable=True),
    sa.Column("base_model", sa.String(256), nullable=True),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.UniqueConstraint("task", "version_num", name="uq_registry_versions_task_num"),
    sa.UniqueConstraint("task", "version", name="uq_registry_versions_task_version"),
    sa.CheckConstraint(
        "stage IN ('candidate', 'production', 'archived')", name="ck_registry_versions_stage"
    ),
    sa.Index(
        "uq_registry_versions_one_production",
        "task",
        unique=True,
        sqlite_where=sa.text("stage = 'production'"),
        postgresql_where=sa.text("stage = 'production'"),
    ),
)

events = sa.Table(
    "registry_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_stage", sa.String(16), nullable=True),
    sa.Column("to_stage", sa.String(16), nullable=True),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("candidate_score", sa.Float, nullable=True),
    sa.Column("production_score", sa.Float, nullable=True),
    sa.Index("ix_registry_events_task", "task", "id"),
)


def create_engine(url: str) -> Engine:
    """Build an engine; SQLite connections get WAL, a busy timeout and explicit BEGINs."""
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise RegistryError(f"cannot use registry database URL {_safe_url(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S)
    return engine


def _safe_url(url: str) -> str:
    """The URL with its password masked, for error messages."""
    try:
        return repr(sa.engine.make_url(url).render_as_string(hide_password=True))
    except sa.exc.ArgumentError:
        return "(unparseable URL)"


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A connection inside a read transaction (rolled back at the end; nothing to commit)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration shipped with the package.

    Runs inside a write transaction so two processes starting on a fresh SQLite file serialize
    instead of both trying to create the tables. A second attempt covers servers where a
    concurrent first run wins the race and ours fails on the already-created tables.
    """
    try:
        upgrade_to_head(engine, MIGRATIONS_DIR)
    except sa.exc.DBAPIError as exc:
        raise RegistryError(
            f"cannot create or upgrade the registry schema in "
            f"{_safe_url(engine.url.render_as_string(hide_password=False))}: "
            f"{getattr(exc, 'orig', exc)}"
        ) from exc


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _version_row(row: sa.Row) -> dict[str, Any]:
    data = dict(row._mapping)
    data["created_at"] = _aware(data["created_at"])
    return data


def next_version_num(conn: Connection, task: str) -> int:
    """One more than the highest version number ever allocated for the task."""
    current = conn.execute(
        sa.select(sa.func.max(versions.c.version_num)).where(versions.c.task == task)
    ).scalar()
    return int(current or 0) + 1


def insert_version(conn: Connection, **values: Any) -> None:
    """Insert a version row; raises IntegrityError when (task, version) is already taken."""
    conn.execute(sa.insert(versions).values(**values))


def fetch_versions(conn: Connection, task: str | None = None) -> list[dict[str, Any]]:
    """All version rows, optionally for one task, ordered by task then version number."""
    query = sa.select(versions).order_by(versions.c.task, versions.c.version_num)
    if task is not None:
        query = query.where(versions.c.task == task)
    return [_version_row(r) for r in conn.execute(query)]


def find_version(
    conn: Connection, task: str, *, version: str | None = None, stage: str | None = None
) -> dict[str, Any] | None:
    """The newest version of a task matching the filters, or None."""
    query = sa.select(versions).where(versions.c.task == task)
    if version is not None:
        query = query.where(versions.c.version == version)
    if stage is not None:
        query = query.where(versions.c.stage == stage)
    row = conn.execute(query.order_by(versions.c.version_num.desc()).limit(1)).first()
    return _version_row(row) if row is not None else None


def set_stage(conn: Connection, task: str, version: str, stage: str) -> None:
    """Move one version to another stage."""
    conn.execute(
        sa.update(versions)
        .where(versions.c.task == task, versions.c.version == version)
        .values(stage=stage)
    )


def insert_event(
    conn: Connection,
    *,
    task: str,
    version: str,
    action: str,
    from_stage: str | None,
    to_stage: str | None,
    forced: bool = False,
    reason: str | None = None,
    candidate_score: float | None = None,
    production_score: float | None = None,
) -> None:
    """Append one row to the audit trail."""
    conn.execute(
        sa.insert(events).values(
            occurred_at=datetime.now(timezone.utc),
            task=task,
            version=version,
            action=action,
            from_stage=from_stage,
            to_stage=to_stage,
            forced=forced,
            reason=reason,
            candidate_score=candidate_score,
            production_score=production_score,
        )
    )


def fetch_events(conn: Connection, task: str | None = None) -> list[dict[str, Any]]:
    """Audit rows in the order they happened."""
    query = sa.select(events).order_by(events.c.id)
    if task is not None:
        query = query.where(events.c.task == task)
    out = []
    for row in conn.execute(query):
        data = dict(row._mapping)
        data["time"] = _aware(data.pop("occurred_at"))
        data["forced"] = bool(data["forced"])
        data["ref"] = f"{data['task']}@{data['version']}"
        out.append(data)
    return out


def production_stack(events: list[dict[str, Any]]) -> list[str]:
    """Replay promote/rollback events into the stack of production versions (top = current)."""
    stack: list[str] = []
    for event in events:
        if event["action"] == "promote":
            stack.append(event["version"])
        elif event["action"] == "rollback":
            while stack and stack[-1] != event["version"]:
                stack.pop()
            if not stack:
                stack.append(event["version"])
    return stack
