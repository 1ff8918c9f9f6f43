"""The request ledger on a real PostgreSQL server (see pg_server.py), including a server stop.

Each test gets an empty database of its own on the session's throwaway server. Skipped without
PostgreSQL on a developer machine, failing in CI (the ``pg_server`` fixture decides).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_server import PgServer, pg_server, pg_url  # noqa: F401  (fixtures)
from test_ledger import FAST, LATER_FIELDS, Recorder, as_row, old_journal_line, sample, wait_until

from rightmodel.ledger import Ledger
from rightmodel.ledger.journal import REJECTED_NAME
from rightmodel.ledger import store
from rightmodel.ledger.store import ALEMBIC_VERSION_TABLE
from rightmodel.sqlite_engine import alembic_config, write


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    """An independent connection pool to the test's database, for raw SQL."""
    eng = sa.create_engine(pg_url)
    yield eng
    eng.dispose()


def ids_in(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT request_id FROM ledger_requests")).scalars().all()


def test_schema_and_round_trip(pg_url: str, engine: sa.Engine, tmp_path: Path) -> None:
    records = [sample(i) for i in range(1000)]
    with Ledger(pg_url, tmp_path / "journal", **FAST) as ledger:
        for rec in records:
            ledger.record(rec)
        assert ledger.flush(timeout=30)
        rows = ledger.rows()
    assert rows == [as_row(r) for r in records]
    inspector = sa.inspect(engine)
    assert {"ledger_requests", ALEMBIC_VERSION_TABLE} <= set(inspector.get_table_names())
    assert {ix["name"] for ix in inspector.get_indexes("ledger_requests")} == {
        "ix_ledger_requests_created_at", "ix_ledger_requests_task_created_at",
        "ix_ledger_requests_tenant_created_at", "ix_ledger_requests_shadow"}
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")
                            ).scalars().all() == ["0004"]
        types = dict(conn.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'ledger_requests'")).all())
    assert types["created_at"] == "timestamp with time zone" and types["extra"] == "json"
    assert types["tokens_in"] == "bigint"
    assert (types["privacy_policy"], types["privacy_action"], types["pii_entities"]) == (
        "character varying", "character varying", "json")
    # A second ledger (another process's journal) on the same database: schema already current.
    with Ledger(pg_url, tmp_path / "journal-2", **FAST) as other:
        other.record(sample(1000))
        assert other.flush()
    assert len(ids_in(engine)) == 1001


def test_server_stopped_mid_load_loses_and_duplicates_nothing(
    pg_url: str, pg_server: PgServer, engine: sa.Engine, tmp_path: Path  # noqa: F811
) -> None:
    ledger = Ledger(pg_url, tmp_path / "journal", **FAST)
    ledger.start()
    recorder = Recorder(ledger)
    recorder.start()
    try:
        wait_until(lambda: ledger.stats()["shipped"] > 200, what="first rows shipped")
        try:
            pg_server.stop()
            wait_until(lambda: ledger.stats()["db_up"] is False, what="db_up False")
            time.sleep(0.5)  # keep recording into the journal while the server is down
        finally:
            pg_server.start()
        wait_until(lambda: ledger.stats()["db_up"] is True, timeout=30, what="reconnect")
        time.sleep(0.2)
    finally:
        ids = recorder.finish()
    assert ledger.flush(timeout=30)
    stats = ledger.stats()
    ledger.close()
    stored = ids_in(engine)
    print(f"\nrecorded {len(ids)} rows across a PostgreSQL stop/start")
    assert len(stored) == len(ids) == stats["recorded"] == stats["shipped"]
    assert set(stored) == set(ids)


def test_refused_and_odd_rows(pg_url: str, engine: sa.Engine, tmp_path: Path) -> None:
    """NUL in text is stripped (PostgreSQL refuses it); a row breaking a constraint is
    quarantined while the rest of its batch is stored."""
    with Ledger(pg_url, tmp_path / "journal", **FAST) as ledger:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE ledger_requests "
                                 "ADD CONSTRAINT ck_test_status CHECK (status < 600)"))
        for i in range(20):
            ledger.record(sample(i, status=999 if i == 7 else 200,
                                 error="bad\x00byte" if i == 8 else None))
        assert ledger.flush(timeout=30)
        stats = ledger.stats()
        rows = {r["request_id"]: r for r in ledger.rows()}
    assert set(rows) == {sample(i).request_id for i in range(20) if i != 7}
    assert rows[sample(8).request_id]["error"] == "badbyte"
    assert stats["rejected"] == 1
    assert sample(7).request_id in (tmp_path / "journal" / REJECTED_NAME).read_text()


def migrate_pg(url: str, revision: str, downgrade: bool = False) -> None:
    from alembic import command

    eng = store.create_engine(url)
    try:
        cfg = alembic_config(store.MIGRATIONS_DIR)
        with write(eng) as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if downgrade else command.upgrade)(cfg, revision)
    finally:
        eng.dispose()


def test_privacy_columns_upgrade_a_0001_database_with_rows_and_downgrade(
    pg_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    import orjson

    migrate_pg(pg_url, "0001")
    old = [sample(i) for i in range(10)]
    rows = [store.to_row(orjson.loads(old_journal_line(r))) for r in old]
    with engine.begin() as conn:
        conn.execute(sa.insert(store.requests),
                     [{k: v for k, v in row.items() if k not in LATER_FIELDS} for row in rows])
    new = sample(10, privacy_policy="local-only", privacy_action="kept_local",
                 pii_entities={"CREDIT_CARD": 1.0, "PERSON": "2", "BAD": "x"})
    with Ledger(pg_url, tmp_path / "journal", **FAST) as ledger:  # start() upgrades in place
        ledger.record(new)
        assert ledger.flush(timeout=30)
        got = ledger.rows()
    assert got[:10] == [{**as_row(r), **dict.fromkeys(LATER_FIELDS)} for r in old]
    assert got[10] == {**as_row(new), "pii_entities": {"CREDIT_CARD": 1, "PERSON": 2}}
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")
                            ).scalars().all() == ["0004"]
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_requests "
                                    "WHERE pii_entities IS NULL")).scalar() == 10
    migrate_pg(pg_url, "0001", downgrade=True)
    assert sorted(ids_in(engine)) == [r.request_id for r in [*old, new]]
    columns = {c["name"] for c in sa.inspect(engine).get_columns("ledger_requests")}
    assert not set(LATER_FIELDS) & columns
