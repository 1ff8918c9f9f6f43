"""The key store's SQL side: table, engine, migrations, and the few queries keys need.

SQLAlchemy 2 Core on SQLite or PostgreSQL, migrated with alembic under a version table of its
own (``rightmodel_auth_alembic_version``) so the keys can share a database with the registry and
the ledger. Writes are rare (a key made or revoked) and reads are one small ``SELECT`` per
gateway refresh, so the engine is simple: on SQLite, WAL (a gateway reading never blocks the CLI
writing), a busy timeout, ``BEGIN IMMEDIATE`` for writes and ``synchronous=FULL`` (a revocation
that was acknowledged must survive a power cut); on PostgreSQL, pre-ping and a connect timeout.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rightmodel.auth.keys import KeyRecord, KeySpec, generate_key, hash_key
from rightmodel.errors import ConfigError
from rightmodel.sqlite_engine import alembic_config, open_store_engine, safe_url, upgrade_to_head, write  # noqa: F401  (safe_url: re-exported)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_VERSION_TABLE = "rightmodel_auth_alembic_version"
KEYS_URL_ENV = "RIGHTMODEL_KEYS_URL"
SQLITE_BUSY_TIMEOUT_S = 5.0
PG_CONNECT_TIMEOUT_S = 10
SUPPORTED_DIALECTS = ("sqlite", "postgresql")  # the ledger's too: budgets sum its JSON column

# Schema declaration (not state). Keep in step with the latest migration in migrations/versions.
metadata = sa.MetaData()

keys_table = sa.Table(
    "auth_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant", sa.String(256), nullable=False),
    sa.Column("name", sa.String(256), nullable=True),
    sa.Column("models", sa.JSON, nullable=False),
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.BigInteger, nullable=True),
    sa.Column("budget_usd", sa.Float, nullable=True),
    sa.Column("budget_period", sa.String(16), nullable=False),
    sa.Column("admin", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("privacy", sa.String(16), nullable=True),  # 0002: the key's privacy policy
)


class KeyStoreError(ConfigError):
    """The key store cannot be reached or used (message names the URL, password masked)."""


class UnknownKey(ConfigError):
    """No key has this id."""


def resolve_keys_url(home: str | Path, configured: str | None = None, override: str | None = None) -> str:
    """Where the keys are: an explicit URL (CLI option), else $RIGHTMODEL_KEYS_URL, else the
    constellation's `storage.keys_url`, else SQLite `home/keys.db`."""
    url = override or os.environ.get(KEYS_URL_ENV) or configured
    return url or f"sqlite:///{(Path(home) / 'keys.db').resolve()}"


def create_engine(url: str) -> Engine:
    """An engine for the key store; ConfigError when the URL cannot be used."""
    return open_store_engine(
        url, what="key store", error=KeyStoreError, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S,
        pg_connect_timeout_s=PG_CONNECT_TIMEOUT_S, make_parent=True,
    )


def _schema_is_current(engine: Engine) -> bool:
    """A read, so gateways starting next to a CLI holding the write lock need not wait."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(MIGRATIONS_DIR)).get_current_head()
    with engine.connect() as conn, conn.begin():
        if not sa.inspect(conn).has_table(ALEMBIC_VERSION_TABLE):
            return False
        current = conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")).scalars().all()
    return current == [head]


def _record(row: sa.Row) -> KeyRecord:
    data = row._mapping
    return KeyRecord(
        key_id=data["key_id"],
        key_hash=data["key_hash"],
        tenant=data["tenant"],
        name=data["name"],
        models=tuple(data["models"] or ()),
        rpm=data["rpm"],
        tpm=data["tpm"],
        budget_usd=data["budget_usd"],
        budget_period=data["budget_period"],
        admin=bool(data["admin"]),
        created_at=_utc(data["created_at"]),
        revoked_at=_utc(data["revoked_at"]) if data["revoked_at"] is not None else None,
        privacy=data["privacy"],
    )


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


class KeyStore:
    """The keys in one database. Database failures raise KeyStoreError (URL password masked)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)

    def _fail(self, exc: sa.exc.SQLAlchemyError) -> KeyStoreError:
        cause = getattr(exc, "orig", None) or exc
        return KeyStoreError(f"key store {safe_url(self.url)}: {type(cause).__name__}: {cause}"[:500])

    def migrate(self) -> None:
        """Create or upgrade the table (a second try covers two processes racing on a new file)."""
        try:
            if not _schema_is_current(self.engine):
                upgrade_to_head(self.engine, MIGRATIONS_DIR)
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def create(self, spec: KeySpec) -> tuple[KeyRecord, str]:
        """Store a new key; returns its record and the secret key (which is not stored)."""
        key_id, key = generate_key()
        values = {
            "key_id": key_id,
            "key_hash": hash_key(key),
            "tenant": spec.tenant,
            "name": spec.name,
            "models": list(spec.models),
            "rpm": spec.rpm,
            "tpm": spec.tpm,
            "budget_usd": spec.budget_usd,
            "budget_period": spec.budget_period,
            "admin": spec.admin,
            "created_at": datetime.now(timezone.utc),
            "revoked_at": None,
            "privacy": spec.privacy,
        }
        try:
            with write(self.engine) as conn:
                conn.execute(sa.insert(keys_table).values(**values))
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return KeyRecord(**{**values, "models": tuple(values["models"])}), key

    def list(self, include_revoked: bool = True) -> list[KeyRecord]:
        """Keys, oldest first."""
        query = sa.select(keys_table).order_by(keys_table.c.created_at, keys_table.c.key_id)
        if not include_revoked:
            query = query.where(keys_table.c.revoked_at.is_(None))
        try:
            with self.engine.connect() as conn, conn.begin():
                return [_record(r) for r in conn.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None

    def revoke(self, key_id: str) -> KeyRecord:
        """Mark a key revoked (idempotent: a revoked key keeps its first revocation time)."""
        try:
            with write(self.engine) as conn:
                conn.execute(
                    sa.update(keys_table)
                    .where(keys_table.c.key_id == key_id, keys_table.c.revoked_at.is_(None))
                    .values(revoked_at=datetime.now(timezone.utc))
                )
                row = conn.execute(sa.select(keys_table).where(keys_table.c.key_id == key_id)).first()
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc) from None
        if row is None:
            raise UnknownKey(f"no key with id {key_id!r} (see `rightmodel keys list`)")
        return _record(row)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "KeyStore":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
