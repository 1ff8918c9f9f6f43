"""The ledger's SQL side: table, engine setup, migrations, idempotent inserts and reads.

SQLAlchemy 2 Core on SQLite or PostgreSQL (the two dialects with ``ON CONFLICT DO NOTHING``
that we test). Not ``registry.index.create_engine``: the ledger wants different trade-offs.

- SQLite: WAL, ``BEGIN IMMEDIATE`` for writes (as the registry), but a 1 s busy timeout (the
  shipper backs off and retries on its own, and a 30 s wait would hold ``close()`` hostage),
  ``synchronous=FULL`` (a journal segment is deleted once its rows are committed, so a commit
  must survive a power cut), and a pooled connection is only reused while the database path
  still names the file it opened (a connection kept across a deleted or moved database file
  would otherwise go on committing into the vanished file).
- PostgreSQL: pre-ping and a connect timeout, so a restarted or unreachable server costs one
  failed attempt instead of a hang.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from rightmodel.errors import ConfigError
from rightmodel.sqlite_engine import alembic_config, open_store_engine, safe_url, upgrade_to_head, write  # noqa: F401  (safe_url: re-exported)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_VERSION_TABLE = "rightmodel_ledger_alembic_version"
SQLITE_BUSY_TIMEOUT_S = 1.0
PG_CONNECT_TIMEOUT_S = 10
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
INT64 = (-(2**63), 2**63 - 1)

# Schema declaration (not state). Keep in step with the latest migration in migrations/versions.
metadata = sa.MetaData()

# Bounded string columns: values longer than this are truncated on the way in (see to_row).
STRING_LIMITS = {"request_id": 128, "tenant": 256, "endpoint": 256, "task": 128, "route": 64,
                 "model": 256, "privacy_policy": 16, "privacy_action": 32, "specialist": 256, "shadow_model": 256}
PII_TYPE_LIMIT = 64  # characters kept of an entity type name in pii_entities
LABEL_LIMIT = 256  # characters kept of one label in labels
LABELS_MAX = 256  # labels kept per row

requests = sa.Table(
    "ledger_requests",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("tenant", sa.String(256), nullable=True),
    sa.Column("endpoint", sa.String(256), nullable=False),
    sa.Column("task", sa.String(128), nullable=True),
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("model", sa.String(256), nullable=True),
    sa.Column("tokens_in", sa.BigInteger, nullable=False),
    sa.Column("tokens_out", sa.BigInteger, nullable=False),
    sa.Column("cached_tokens", sa.BigInteger, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("routing_ms", sa.Float, nullable=True),
    sa.Column("model_ms", sa.Float, nullable=True),
    sa.Column("cost_usd", sa.Float, nullable=True),
    sa.Column("counterfactual_cost_usd", sa.Float, nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("escalated", sa.Boolean, nullable=False),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("extra", sa.JSON, nullable=False),
    # 0002: the privacy policy applied, what it did, entity type -> count (never values).
    sa.Column("privacy_policy", sa.String(16), nullable=True),
    sa.Column("privacy_action", sa.String(32), nullable=True),
    sa.Column("pii_entities", sa.JSON(none_as_null=True), nullable=True),  # None: SQL NULL, not 'null'
    # 0003: the specialist version consulted (answered or escalated), the labels the answer carried.
    sa.Column("specialist", sa.String(256), nullable=True),
    sa.Column("labels", sa.JSON(none_as_null=True), nullable=True),
    # 0004: shadow mode, a candidate specialist run beside production without answering.
    sa.Column("shadow_model", sa.String(256), nullable=True),
    sa.Column("shadow_labels", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("shadow_confidence", sa.Float, nullable=True),
    sa.Column("shadow_accepted", sa.Boolean, nullable=True),
    sa.Column("shadow_agree", sa.Boolean, nullable=True),
    sa.Index("ix_ledger_requests_created_at", "created_at"),
    sa.Index("ix_ledger_requests_task_created_at", "task", "created_at"),
    sa.Index("ix_ledger_requests_tenant_created_at", "tenant", "created_at"),
    sa.Index("ix_ledger_requests_shadow", "shadow_model", "created_at", sqlite_where=sa.text("shadow_model IS NOT NULL"),
             postgresql_where=sa.text("shadow_model IS NOT NULL")),
)

# 0003: one verdict per request (a later one replaces it). The request's task, route, model and
# specialist are copied in when the feedback arrives, so reports read this small table alone.
feedback = sa.Table(
    "ledger_feedback",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),  # when the feedback came
    sa.Column("request_created_at", sa.DateTime(timezone=True), nullable=False),  # report windows use this
    sa.Column("tenant", sa.String(256), nullable=True),
    sa.Column("task", sa.String(128), nullable=True),
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("model", sa.String(256), nullable=True),
    sa.Column("specialist", sa.String(256), nullable=True),
    sa.Column("labels", sa.JSON(none_as_null=True), nullable=True),  # the correct label(s), as given
    sa.Column("score", sa.Float, nullable=True),  # 0-1, as given
    sa.Column("correct", sa.Boolean, nullable=True),  # was the answer served right (None: cannot tell)
    sa.Column("specialist_correct", sa.Boolean, nullable=True),  # was the specialist's own label right
    sa.Index("ix_ledger_feedback_request_created_at", "request_created_at"),
)

_STR = ("tenant", "endpoint", "task", "route", "reason", "model", "error", "privacy_policy",
        "privacy_action", "specialist", "shadow_model")
_REQUIRED_STR = ("endpoint", "route", "reason")
_INT = ("tokens_in", "tokens_out", "cached_tokens", "status")
_FLOAT = ("latency_ms", "routing_ms", "model_ms", "cost_usd", "counterfactual_cost_usd",
          "confidence", "shadow_confidence")
_BOOL = ("escalated", "stream")


# -- engine -----------------------------------------------------------------------------------


def create_engine(url: str) -> Engine:
    """An engine configured for the ledger (see the module docstring); ConfigError if unusable."""
    return open_store_engine(
        url, what="ledger database", error=ConfigError, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S,
        pg_connect_timeout_s=PG_CONNECT_TIMEOUT_S, watch_file=True,
    )


# -- migrations -------------------------------------------------------------------------------


def schema_is_current(engine: Engine) -> bool:
    """True when the version table already names the newest migration (a read: it works while
    another process holds SQLite's write lock, so start() need not wait for it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(MIGRATIONS_DIR)).get_current_head()
    with engine.connect() as conn, conn.begin():
        if not sa.inspect(conn).has_table(ALEMBIC_VERSION_TABLE):
            return False
        current = conn.execute(
            sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")
        ).scalars().all()
    return current == [head]


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration shipped with the package.

    In a write transaction so two processes starting on a fresh SQLite file serialize; a
    second attempt covers a server where a concurrent first run created the tables first.
    Raises the database's error (the caller decides whether that is fatal or worth a retry).
    """
    if not schema_is_current(engine):
        upgrade_to_head(engine, MIGRATIONS_DIR)


# -- rows -------------------------------------------------------------------------------------


def to_row(data: dict[str, Any]) -> dict[str, Any]:
    """Journal JSON → column values, validated so one odd row cannot make a batch fail forever.

    Strings are truncated to their column and stripped of NUL (PostgreSQL refuses it); floats
    that are not finite become NULL; ints must fit in 64 bits. Raises ValueError for a row that
    still cannot be stored (it is then quarantined, see ``Shipper``). The privacy fields never
    raise (see ``_pii_counts``), and lines journaled before they existed get NULLs.
    """
    row: dict[str, Any] = {"request_id": _text(data["request_id"], "request_id")}
    if not row["request_id"]:
        raise ValueError("empty request_id")
    created = data.get("created_at")
    if not isinstance(created, str):
        raise ValueError(f"created_at is {created!r}, not an ISO 8601 string")
    row["created_at"] = _utc(datetime.fromisoformat(created))
    for name in _STR:
        value = data.get(name)
        if value is None:
            row[name] = "" if name in _REQUIRED_STR else None
        else:
            row[name] = _text(value, name)
    for name in _INT:
        value = data.get(name, 0)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} is {value!r}, not an integer")
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{name} = {value} does not fit in 64 bits")
        row[name] = value
    for name in _FLOAT:
        value = data.get(name)
        if value is None:
            row[name] = None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            row[name] = float(value) if math.isfinite(value) else None
        else:
            raise ValueError(f"{name} is {value!r}, not a number")
    for name in _BOOL:
        row[name] = bool(data.get(name, False))
    extra = data.get("extra")
    row["extra"] = extra if isinstance(extra, dict) else ({} if extra is None else {"value": extra})
    row["pii_entities"] = _pii_counts(data.get("pii_entities"))
    row["labels"] = label_list(data.get("labels"))
    row["shadow_labels"] = label_list(data.get("shadow_labels"))
    for name in ("shadow_accepted", "shadow_agree"):  # three-valued: NULL means "not known"
        value = data.get(name)
        row[name] = None if value is None else bool(value)
    return row


def label_list(value: Any) -> list[str] | None:
    """``labels`` as a list of strings, best effort like ``_pii_counts``: items that are not
    strings are dropped, long ones cut, and anything that is not a list becomes NULL."""
    if not isinstance(value, (list, tuple)):
        return None
    return [_text(v, "")[:LABEL_LIMIT] for v in value[:LABELS_MAX] if isinstance(v, str)]


def _pii_counts(value: Any) -> dict[str, int] | None:
    """``pii_entities`` as {entity type: count}, best effort: a bookkeeping field must never get
    an otherwise good row quarantined. Counts are coerced to int where that is exact (2.0, "2"),
    entries that are not counts are dropped, and a value that is not a mapping becomes NULL."""
    if not isinstance(value, dict):
        return None
    counts: dict[str, int] = {}
    for key, raw in value.items():
        count: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            count = raw
        elif isinstance(raw, float) and raw.is_integer():
            count = int(raw)
        elif isinstance(raw, str):
            try:
                count = int(raw.strip())
            except ValueError:
                count = None
        if count is not None and 0 <= count <= INT64[1]:
            counts[_text(key, "")[:PII_TYPE_LIMIT]] = count
    return counts


def _text(value: Any, name: str) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    limit = STRING_LIMITS.get(name)
    return text[:limit] if limit is not None and len(text) > limit else text


def insert_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert in one transaction; rows whose request_id is already there are skipped."""
    if not rows:
        return
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(requests).on_conflict_do_nothing(index_elements=["request_id"])
    with write(engine) as conn:
        conn.execute(stmt, rows)


def key_spend(engine: Engine, tenant: str, key_id: str, since: datetime | None = None) -> float:
    """What API key `key_id` of `tenant` spent since `since` (all time if None), summed by the
    database: the rows its requests left (they carry the key id in ``extra.key_id``). One
    definition for the gateway's budgets (read at startup) and `rightmodel keys list`."""
    query = sa.select(sa.func.coalesce(sa.func.sum(requests.c.cost_usd), 0.0)).where(
        requests.c.tenant == tenant, requests.c.extra["key_id"].as_string() == key_id
    )
    if since is not None:
        query = query.where(requests.c.created_at >= _utc(since))
    with engine.connect() as conn, conn.begin():
        return float(conn.execute(query).scalar() or 0.0)


def fetch_rows(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Rows with ``since <= created_at < until``, oldest first (ties by request_id)."""
    query = sa.select(requests).order_by(requests.c.created_at, requests.c.request_id)
    if since is not None:
        query = query.where(requests.c.created_at >= _utc(since))
    if until is not None:
        query = query.where(requests.c.created_at < _utc(until))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn, conn.begin():
        result = conn.execute(query)
        out = []
        for r in result:
            data = dict(r._mapping)
            data["created_at"] = _utc(data["created_at"])
            data["escalated"] = bool(data["escalated"])
            data["stream"] = bool(data["stream"])
            out.append(data)
    return out


def _utc(value: datetime) -> datetime:
    """Aware UTC. SQLite hands back naive datetimes (stored as UTC); a naive input is UTC."""
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
