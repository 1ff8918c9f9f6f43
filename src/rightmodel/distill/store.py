"""The capture store: (input, frontier answer) pairs of the tasks that opted in (``tasks.X.capture``).

Kept apart from the ledger on purpose: the ledger never holds prompts, captures are nothing but
prompts and answers. Each pair is stored as the frontier saw it: under the ``redact`` policy
with sensitive values replaced by typed placeholders (``<PERSON_1>``), so a distilled specialist
learns from the same text the frontier answered and no value that policy guards is kept.
Retention: pairs older than ``retention_days`` and beyond ``max_rows`` per task are deleted.

SQLite or PostgreSQL (``storage.captures_url``, default SQLite ``captures.db`` in the home),
migrated with alembic under its own version table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rightmodel.errors import ConfigError
from rightmodel.sqlite_engine import open_store_engine, safe_url, upgrade_to_head, write

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_VERSION_TABLE = "rightmodel_distill_alembic_version"
CAPTURES_URL_ENV = "RIGHTMODEL_CAPTURES_URL"

metadata = sa.MetaData()
captures = sa.Table(
    "distill_captures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("task", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("model", sa.String(256), nullable=True),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("redacted", sa.Boolean, nullable=False),
    # 0002: the conversation answered (JSON list of {role, content}), when it was more than `input`
    sa.Column("prompt", sa.Text, nullable=True),
    sa.Index("ix_distill_captures_task_created_at", "task", "created_at"),
)


@dataclass(frozen=True)
class Capture:
    task: str
    request_id: str
    route: str
    model: str | None
    input: str
    answer: str
    redacted: bool
    created_at: datetime
    # The conversation the frontier answered ({role, content} text messages, redacted like
    # `input`), when it held more than one user message; None: it was [user: input].
    prompt: list[dict[str, str]] | None = None

    def conversation(self) -> list[dict[str, str]]:
        """The prompt as chat messages: the stored conversation, else the input as one user turn."""
        return [dict(m) for m in self.prompt] if self.prompt else [{"role": "user", "content": self.input}]


def resolve_captures_url(home: str | Path, configured: str | None = None) -> str:
    import os

    return os.environ.get(CAPTURES_URL_ENV) or configured or f"sqlite:///{Path(home).expanduser().absolute() / 'captures.db'}"


class CaptureStore:
    """Reads and writes of the capture table; every method may raise ``ConfigError`` naming the URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = open_store_engine(url, what="capture store", error=ConfigError, busy_timeout_s=5.0, make_parent=True)
        self._migrated = False

    def _fail(self, exc: sa.exc.SQLAlchemyError) -> ConfigError:
        cause = getattr(exc, "orig", None) or exc
        return ConfigError(f"capture store {safe_url(self.url)}: {str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__}")

    def migrate(self) -> None:
        try:
            upgrade_to_head(self.engine, MIGRATIONS_DIR)
            self._migrated = True
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def add(self, items: Iterable[Capture]) -> int:
        rows = [{**asdict(c), "prompt": json.dumps(c.prompt, ensure_ascii=False) if c.prompt else None} for c in items]
        if not rows:
            return 0
        try:
            with write(self.engine) as conn:
                conn.execute(sa.insert(captures), rows)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return len(rows)

    def fetch(self, task: str, since: datetime | None = None) -> list[Capture]:
        """The task's pairs, oldest first. Migrates first: a store last written by an older gateway
        lacks the columns read here."""
        if not self._migrated:
            self.migrate()
        c = captures.c
        query = sa.select(c.task, c.request_id, c.route, c.model, c.input, c.answer, c.redacted, c.created_at, c.prompt).where(c.task == task)
        if since is not None:
            query = query.where(c.created_at >= since)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(c.created_at, c.id)).all()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return [Capture(**{**row._mapping, "created_at": _utc(row.created_at), "prompt": _prompt(row.prompt)}) for row in rows]

    def counts(self) -> dict[str, int]:
        c = captures.c
        try:
            with self.engine.connect() as conn:
                return {row.task: int(row.n) for row in conn.execute(sa.select(c.task, sa.func.count().label("n")).group_by(c.task))}
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def prune(self, task: str, retention_days: float | None, max_rows: int | None, now: datetime | None = None) -> int:
        """Delete the task's pairs past retention: older than ``retention_days``, then the oldest
        beyond ``max_rows``. Returns how many were deleted."""
        c = captures.c
        deleted = 0
        try:
            with write(self.engine) as conn:
                if retention_days is not None:
                    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=retention_days)
                    deleted += conn.execute(sa.delete(captures).where(c.task == task, c.created_at < cutoff)).rowcount or 0
                if max_rows is not None:
                    # The newest max_rows by time (ties by id) stay; the first row past them and older go.
                    edge = conn.execute(
                        sa.select(c.created_at, c.id).where(c.task == task).order_by(c.created_at.desc(), c.id.desc())
                        .offset(max_rows).limit(1)
                    ).first()
                    if edge is not None:
                        older = sa.or_(c.created_at < edge.created_at, sa.and_(c.created_at == edge.created_at, c.id <= edge.id))
                        deleted += conn.execute(sa.delete(captures).where(c.task == task, older)).rowcount or 0
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return deleted

    def close(self) -> None:
        self.engine.dispose()


def _prompt(value: str | None) -> list[dict[str, str]] | None:
    """A stored conversation, or None when there is none or it is not a list of text messages."""
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    ok = isinstance(data, list) and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                                        for m in data)
    return data if ok and data else None


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
