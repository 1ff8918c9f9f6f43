"""Rate limits and budget reservations kept in SQL, so several gateway processes admit as one.

A single gateway keeps its token buckets and budget reservations in memory (gateway/limits.py):
fast, but N processes would let a key through at N times its rate and could overspend a budget.
With `serve --workers N` (or `--limits-url`), each admission is one short write transaction on
the key's row instead, and each settle another:

- SQLite (one machine): `BEGIN IMMEDIATE` serializes every admission across processes (WAL and a
  busy timeout, as every rightmodel store).
- PostgreSQL (several machines): `SELECT ... FOR UPDATE` on the key's row serializes the
  admissions of one key; other keys go on in parallel.

Consistency: the check (spent + reserved + worst case <= budget) and the reservation are one
transaction under that lock, so whatever the number of processes, the budget is exceeded only
by what requests cost *beyond their own worst case* (an upstream ignoring max_tokens; flagged in
the ledger, as with one process) — with honest prices, never. Rate buckets are exact up to the
wall clocks' skew between machines. A reservation whose process died before settling it is kept
until `hold_s` after it was made (or until the supervisor reports the process dead) and then
charged in full: a crash can make a key pay a worst case it did not use, never spend unseen.

What the key spent before its shared row existed is read once from the ledger (the caller passes
it as the baseline); after that the row is the truth for the period. Spend by gateways that do
not use this store is not seen by it (run every gateway of a key with the same store).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rightmodel.errors import ConfigError
from rightmodel.sqlite_engine import open_store_engine, safe_url, upgrade_to_head, write

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_VERSION_TABLE = "rightmodel_limits_alembic_version"
LIMITS_URL_ENV = "RIGHTMODEL_LIMITS_URL"
SQLITE_BUSY_TIMEOUT_S = 30.0

# Schema declaration (not state). Keep in step with the latest migration in migrations/versions.
metadata = sa.MetaData()
accounts = sa.Table(
    "limit_accounts",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("period_start", sa.String(40), nullable=True),
    sa.Column("spent", sa.Float, nullable=False),
    sa.Column("reserved", sa.Float, nullable=False),
    sa.Column("rpm_cap", sa.Integer, nullable=True),
    sa.Column("rpm_level", sa.Float, nullable=True),
    sa.Column("tpm_cap", sa.BigInteger, nullable=True),
    sa.Column("tpm_level", sa.Float, nullable=True),
    sa.Column("stamp", sa.Float, nullable=False),
)
reservations = sa.Table(
    "limit_reservations",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("period_start", sa.String(40), nullable=True),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("instance", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


class LimitsStoreError(ConfigError):
    """The shared limits store cannot be used (message names the URL, password masked)."""


def resolve_limits_url(home: str | Path, configured: str | None = None, override: str | None = None) -> str:
    """An explicit URL (CLI), else $RIGHTMODEL_LIMITS_URL, else `storage.limits_url`, else SQLite
    `home/limits.db` (one machine: every worker of `serve --workers` opens the same file)."""
    import os

    url = override or os.environ.get(LIMITS_URL_ENV) or configured
    return url or f"sqlite:///{(Path(home) / 'limits.db').resolve()}"


@dataclass(frozen=True)
class Want:
    """What one request asks of its key's limits (limits come from the key record, not the row)."""

    key_id: str
    request_id: str
    rpm: int | None
    tpm: int | None
    budget: float | None
    period_start: str | None  # the key's current budget period (ISO), None for a total budget
    tokens: int  # estimate, taken from the tokens-per-minute bucket
    cost: float  # worst case, reserved against the budget


@dataclass(frozen=True)
class Outcome:
    """The store's answer: granted, or why not (with what the caller needs for its message)."""

    granted: bool
    need_baseline: bool = False  # no row yet: read the key's spend from the ledger and ask again
    rpm_wait: float = 0.0
    tpm_wait: float = 0.0
    spent: float = 0.0
    reserved: float = 0.0


def _refill(level: float, cap: int, stamp: float, now: float) -> float:
    """A token bucket of `cap` a minute, refilled evenly (debt allowed, as gateway/limits.py)."""
    return min(float(cap), level + max(0.0, now - stamp) * cap / 60.0)


def _wait(level: float, amount: float, cap: int) -> float:
    need = min(amount, float(cap))
    return 0.0 if level >= need else (need - level) / (cap / 60.0)


class SharedLimits:
    """The shared rows of one database. Blocking: call from a worker thread, never the event loop."""

    def __init__(self, url: str, *, instance: str, hold_s: float) -> None:
        self.url = url
        self.instance = instance  # this process (host:pid:start): its reservations are found by it
        self.hold_s = hold_s  # a reservation unsettled this long is charged in full and dropped
        self.engine: Engine = open_store_engine(
            url, what="limits store", error=LimitsStoreError, busy_timeout_s=SQLITE_BUSY_TIMEOUT_S, make_parent=True
        )
        self._pg = self.engine.dialect.name == "postgresql"
        if not self._pg:
            # Every admission commits: with WAL, NORMAL skips the fsync per commit. Limit state lost
            # in a power cut (the last moments' buckets and reservations) only costs a refill.
            @sa.event.listens_for(self.engine, "connect")
            def _no_fsync_per_commit(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.execute("PRAGMA synchronous = NORMAL")

    def migrate(self) -> None:
        """Create or upgrade the tables (a second try covers two processes racing on a new file)."""
        try:
            upgrade_to_head(self.engine, MIGRATIONS_DIR)
        except sa.exc.DBAPIError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise LimitsStoreError(f"limits store {safe_url(self.url)}: {type(cause).__name__}: {cause}"[:500]) from None

    def close(self) -> None:
        self.engine.dispose()

    # -- admission ------------------------------------------------------------------------------

    def _row(self, conn: Connection, key_id: str) -> dict[str, Any] | None:
        query = sa.select(accounts).where(accounts.c.key_id == key_id)
        if self._pg:
            query = query.with_for_update()
        row = conn.execute(query).first()
        return dict(row._mapping) if row is not None else None

    def _insert_ignore(self, conn: Connection, values: dict[str, Any]) -> None:
        if self._pg:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(accounts).values(**values).on_conflict_do_nothing(index_elements=["key_id"]))

    def admit(self, want: Want, now: float, baseline: float | None) -> Outcome:
        """Check and take, in one transaction under the key's lock (see the module docstring)."""
        with write(self.engine) as conn:
            row = self._row(conn, want.key_id)
            if row is None:
                if want.budget is not None and baseline is None:
                    return Outcome(False, need_baseline=True)
                self._insert_ignore(conn, {
                    "key_id": want.key_id, "period_start": want.period_start, "spent": baseline or 0.0, "reserved": 0.0,
                    "rpm_cap": want.rpm, "rpm_level": float(want.rpm) if want.rpm else None,
                    "tpm_cap": want.tpm, "tpm_level": float(want.tpm) if want.tpm else None, "stamp": now,
                })
                row = self._row(conn, want.key_id)
                assert row is not None
            self._reap(conn, row, now)
            if row["period_start"] != want.period_start:  # a new month or day: spend starts again
                row["period_start"], row["spent"] = want.period_start, 0.0
            for kind, cap in (("rpm", want.rpm), ("tpm", want.tpm)):
                if row[f"{kind}_cap"] != cap:  # limit changed (or set) since: a full bucket of the new size
                    row[f"{kind}_cap"], row[f"{kind}_level"] = cap, float(cap) if cap else None
                elif cap:
                    row[f"{kind}_level"] = _refill(row[f"{kind}_level"], cap, row["stamp"], now)
            row["stamp"] = max(row["stamp"], now)
            rpm_wait = _wait(row["rpm_level"], 1, want.rpm) if want.rpm else 0.0
            tpm_wait = _wait(row["tpm_level"], want.tokens, want.tpm) if want.tpm else 0.0
            fits = want.budget is None or row["spent"] + row["reserved"] + want.cost <= want.budget
            granted = rpm_wait <= 0 and tpm_wait <= 0 and fits
            if granted:
                if want.rpm:
                    row["rpm_level"] -= 1
                if want.tpm:
                    row["tpm_level"] -= want.tokens
                if want.budget is not None:
                    row["reserved"] += want.cost
                    conn.execute(sa.insert(reservations).values(
                        request_id=want.request_id, key_id=want.key_id, period_start=want.period_start, cost=want.cost,
                        instance=self.instance, expires_at=now + self.hold_s,
                    ))
            conn.execute(sa.update(accounts).where(accounts.c.key_id == want.key_id).values(
                **{k: v for k, v in row.items() if k != "key_id"}))
            return Outcome(granted, rpm_wait=rpm_wait, tpm_wait=tpm_wait, spent=row["spent"], reserved=row["reserved"])

    def _reap(self, conn: Connection, row: dict[str, Any], now: float) -> None:
        """Charge and drop reservations nobody settled in time (their process died)."""
        gone = conn.execute(
            sa.delete(reservations)
            .where(reservations.c.key_id == row["key_id"], reservations.c.expires_at < now)
            .returning(reservations.c.cost, reservations.c.period_start)
        ).all()
        for cost, period in gone:
            row["reserved"] = max(0.0, row["reserved"] - cost)
            if period == row["period_start"]:
                row["spent"] += cost

    # -- settling -------------------------------------------------------------------------------

    def settle(self, key_id: str, request_id: str | None, tokens_back: float, actual_cost: float, now: float) -> None:
        """Replace a reservation by the actual cost (request_id None: no budget) and give back
        (or charge, negative) the tokens the estimate got wrong."""
        with write(self.engine) as conn:
            row = self._row(conn, key_id)
            if row is None:
                return
            values: dict[str, Any] = {}
            if request_id is not None:
                held = conn.execute(
                    sa.delete(reservations).where(reservations.c.request_id == request_id)
                    .returning(reservations.c.cost, reservations.c.period_start)
                ).first()
                if held is not None:  # else it was reaped and already charged at its worst case
                    values["reserved"] = max(0.0, row["reserved"] - held.cost)
                    if held.period_start == row["period_start"]:
                        values["spent"] = row["spent"] + actual_cost
            if tokens_back and row["tpm_cap"]:
                level = _refill(row["tpm_level"], row["tpm_cap"], row["stamp"], now)
                values.update(tpm_level=min(float(row["tpm_cap"]), level + tokens_back), stamp=max(row["stamp"], now))
                if row["rpm_cap"]:
                    values["rpm_level"] = _refill(row["rpm_level"], row["rpm_cap"], row["stamp"], now)
            if values:
                conn.execute(sa.update(accounts).where(accounts.c.key_id == key_id).values(**values))

    def expire_instance(self, instance: str) -> int:
        """A process is gone: its reservations expire now (charged in full at the next admission)."""
        with write(self.engine) as conn:
            return conn.execute(
                sa.update(reservations).where(reservations.c.instance == instance).values(expires_at=0.0)
            ).rowcount

    def usage(self, key_id: str) -> dict[str, Any] | None:
        """Spent and reserved of a key's current row (the admin listing)."""
        with self.engine.connect() as conn, conn.begin():
            row = conn.execute(sa.select(accounts).where(accounts.c.key_id == key_id)).first()
        if row is None:
            return None
        return {"spent_usd": row.spent, "reserved_usd": row.reserved, "period_start": row.period_start, "shared": True}
