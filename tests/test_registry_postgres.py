"""The registry's essential behaviours on a real PostgreSQL server (see pg_server.py).

Each test gets an empty database of its own on the session's throwaway server; the files still
live in tmp_path. Skipped without PostgreSQL on a developer machine, failing in CI.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_server import PgServer, pg_server, pg_url  # noqa: F401  (fixtures)
from test_registry import TASK, add, scorer_from

from rightmodel.errors import PromotionRefused, RegistryError
from rightmodel.registry import Registry, index


@pytest.fixture
def reg(tmp_path: Path, pg_url: str) -> Iterator[Registry]:
    registry = Registry(tmp_path / "home", database_url=pg_url)
    yield registry
    registry.close()


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    """A second, independent connection pool to the test's database, for raw SQL."""
    eng = sa.create_engine(pg_url)
    yield eng
    eng.dispose()


def test_migrations_create_the_schema(reg: Registry, engine: sa.Engine, tmp_path: Path) -> None:
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    inspector = sa.inspect(engine)
    assert {"registry_versions", "registry_events", index.ALEMBIC_VERSION_TABLE} <= set(
        inspector.get_table_names()
    )
    with engine.connect() as conn:
        heads = conn.execute(sa.text(f"SELECT version_num FROM {index.ALEMBIC_VERSION_TABLE}"))
        assert heads.scalars().all() == ["0001"]
        one_prod = conn.execute(sa.text(
            "SELECT indexdef FROM pg_indexes "
            "WHERE indexname = 'uq_registry_versions_one_production'"
        )).scalar_one()
        types = dict(conn.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'registry_versions'"
        )).all())
    # A partial unique index, as on SQLite: at most one production row per task.
    assert one_prod.startswith("CREATE UNIQUE INDEX") and "WHERE" in one_prod
    assert "'production'" in one_prod
    assert types["created_at"] == "timestamp with time zone" and types["metrics"] == "json"
    # A second registry on the same database (another home, even) finds the schema up to date.
    Registry(tmp_path / "other-home", database_url=reg.database_url).close()
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {index.ALEMBIC_VERSION_TABLE}"))
        assert count.scalar_one() == 1


def test_register_v1_and_v2(reg: Registry) -> None:
    v1 = add(reg, data_hash="abc123", base_model="minilm",
             metrics={"accuracy": 0.9, "per_class": {"refund": [0.5, 1]}})
    v2 = add(reg, payload=b"other")
    assert (v1.version, v2.version) == ("v1", "v2")
    assert v1.stage == v2.stage == "candidate"
    listed = reg.list(TASK)
    assert [v.version for v in listed] == ["v1", "v2"]
    assert listed[0].metrics == {"accuracy": 0.9, "per_class": {"refund": [0.5, 1]}}
    assert listed[0].data_hash == "abc123" and listed[0].base_model == "minilm"
    assert listed[0].created_at.tzinfo is not None  # timestamptz comes back aware
    assert listed[0].created_at == v1.created_at
    assert reg.open(v1.ref) == listed[0] and reg.open(v2.ref) == listed[1]
    assert reg.manifest(v2.ref)["version"] == "v2"
    assert [(e["action"], e["version"]) for e in reg.events(TASK)] == [
        ("register", "v1"), ("register", "v2")
    ]


def test_register_retries_after_a_unique_violation(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the violation aborts the transaction; the retry must start a fresh one."""
    add(reg)
    real = index.next_version_num
    calls: list[int] = []

    def stale_then_real(conn, task):
        calls.append(1)
        return 1 if len(calls) == 1 else real(conn, task)  # first guess collides with v1

    monkeypatch.setattr(index, "next_version_num", stale_then_real)
    assert add(reg).version == "v2" and len(calls) == 2
    assert [e["version"] for e in reg.events(TASK)] == ["v1", "v2"]


def _register_worker(home: str, url: str, start, results, count: int) -> None:
    reg = Registry(home, database_url=url)  # both workers also race to create the schema
    start.wait()
    versions = []
    for i in range(count):
        with reg.staging(TASK) as staged:
            (staged / "model.onnx").write_bytes(f"{os.getpid()}-{i}".encode())
            versions.append(reg.register(TASK, staged, {}).version)
    reg.close()
    results.put(versions)


def test_concurrent_register_from_two_processes(tmp_path: Path, pg_url: str) -> None:
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    home, count = str(tmp_path / "home"), 6
    workers = [ctx.Process(target=_register_worker, args=(home, pg_url, start, results, count))
               for _ in range(2)]
    for w in workers:
        w.start()
    start.set()
    got = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    allocated = got[0] + got[1]
    assert len(set(allocated)) == 2 * count
    with Registry(home, database_url=pg_url) as reg:
        listed = reg.list(TASK)
        assert sorted(int(v.version[1:]) for v in listed) == list(range(1, 2 * count + 1))
        for version in listed:
            reg.open(version.ref)
        assert len(reg.events(TASK)) == 2 * count


def test_get_resolves_refs(reg: Registry) -> None:
    with pytest.raises(RegistryError, match="no versions of task 'support-intent'"):
        reg.get(TASK)
    v1, v2, v3 = add(reg), add(reg), add(reg)
    assert reg.get(TASK).version == "v3"  # no production: newest candidate
    reg.promote(v2.ref)
    assert reg.get(TASK).version == "v2"
    assert reg.get(f"{TASK}@production").version == "v2"
    assert reg.get(f"{TASK}@candidate").version == "v3"
    assert reg.get(f"{TASK}@latest").version == "v3"
    assert reg.get(f"{TASK}@v1") == v1
    with pytest.raises(RegistryError, match="support-intent@v9 does not exist"):
        reg.get(f"{TASK}@v9")
    reg.promote(v3.ref)
    assert reg.get(f"{TASK}@candidate").version == "v1"
    assert [v.stage for v in reg.list(TASK)] == ["candidate", "archived", "production"]


def test_promote_refuses_worse_then_force_with_reason_is_recorded(reg: Registry) -> None:
    v1, v2 = add(reg), add(reg)
    reg.promote(v1.ref)
    scores = scorer_from({"v1": 0.8, "v2": 0.7})
    with pytest.raises(PromotionRefused, match=r"v2 scores 0\.7000.*v1 \(0\.8000\)"):
        reg.promote(v2.ref, scorer=scores)
    with pytest.raises(RegistryError, match="requires a reason"):
        reg.promote(v2.ref, scorer=scores, force=True)
    assert reg.get(f"{TASK}@production").version == "v1"
    assert reg.get(v2.ref).stage == "candidate"

    result = reg.promote(v2.ref, scorer=scores, force=True, reason="golden set is stale")
    assert result.forced and result.previous is not None and result.previous.ref == v1.ref
    assert reg.get(TASK).version == "v2" and reg.get(v1.ref).stage == "archived"
    archive, promote = reg.events(TASK)[-2:]
    assert (archive["action"], archive["version"], archive["to_stage"]) == (
        "archive", "v1", "archived")
    assert promote["action"] == "promote" and promote["ref"] == v2.ref
    assert promote["forced"] is True and promote["reason"] == "golden set is stale"
    assert (promote["candidate_score"], promote["production_score"]) == (0.7, 0.8)
    assert (promote["from_stage"], promote["to_stage"]) == ("candidate", "production")
    assert promote["time"].tzinfo is not None


def test_rollback_restores_previous_production(reg: Registry) -> None:
    v1, v2, v3 = add(reg), add(reg), add(reg)
    with pytest.raises(RegistryError, match="no production version to roll back"):
        reg.rollback(TASK)
    for v in (v1, v2, v3):
        reg.promote(v.ref)
    assert reg.rollback(TASK, reason="v3 misroutes refunds").ref == v2.ref
    assert reg.get(v3.ref).stage == "archived"
    assert reg.events(TASK)[-1]["reason"] == "v3 misroutes refunds"
    assert reg.rollback(TASK).ref == v1.ref  # walks back, does not flip-flop to v3
    with pytest.raises(RegistryError, match="no earlier production version"):
        reg.rollback(TASK)
    stages = {v.version: v.stage for v in reg.list(TASK)}
    assert stages == {"v1": "production", "v2": "archived", "v3": "archived"}


def test_at_most_one_production_per_task(reg: Registry, engine: sa.Engine) -> None:
    v1, v2 = add(reg), add(reg)
    other = add(reg, task="other-task")
    reg.promote(v1.ref)
    reg.promote(other.ref)  # another task has a production of its own
    update = sa.update(index.versions).where(index.versions.c.task == TASK,
                                             index.versions.c.version == "v2")
    with pytest.raises(sa.exc.IntegrityError, match="uq_registry_versions_one_production"):
        with engine.begin() as conn:
            conn.execute(update.values(stage="production"))
    with pytest.raises(sa.exc.IntegrityError, match="ck_registry_versions_stage"):
        with engine.begin() as conn:
            conn.execute(update.values(stage="shipped"))
    assert reg.get(f"{TASK}@production") == reg.get(v1.ref)
    assert reg.get(v2.ref).stage == "candidate"


def test_concurrent_promotion_cannot_make_two_productions(
    reg: Registry, engine: sa.Engine
) -> None:
    """Read committed lets promote's stale-read check pass while another writer has an
    uncommitted production; the partial unique index is what stops the second one."""
    v1, v2 = add(reg), add(reg)
    outcome: list[BaseException | None] = []

    def promote_v2() -> None:
        try:
            reg.promote(v2.ref)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    with engine.connect() as conn:
        conn.execute(sa.text("SET lock_timeout = '60s'"))
        conn.execute(
            sa.update(index.versions)
            .where(index.versions.c.task == TASK, index.versions.c.version == "v1")
            .values(stage="production")
        )  # uncommitted: promote(v2) sees no production yet
        racer = threading.Thread(target=promote_v2)
        racer.start()
        _wait_for_lock_wait(engine)  # promote(v2) blocks on the unique index entry
        conn.commit()
    racer.join(timeout=60)
    assert not racer.is_alive() and len(outcome) == 1
    assert isinstance(outcome[0], (sa.exc.IntegrityError, RegistryError)), outcome[0]
    productions = [v.version for v in reg.list(TASK) if v.stage == "production"]
    assert productions == ["v1"] and reg.get(v2.ref).stage == "candidate"
    assert [e["action"] for e in reg.events(TASK)] == ["register", "register"]  # rolled back


def _wait_for_lock_wait(engine: sa.Engine, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("promote never blocked on the uncommitted production row")


def test_registry_survives_a_server_restart(
    reg: Registry, pg_server: PgServer  # noqa: F811
) -> None:
    """The stop/start hooks work: data persists, and the registry reconnects afterwards."""
    v1 = add(reg)
    try:
        pg_server.stop()
        assert not pg_server.is_running()
        with pytest.raises(sa.exc.OperationalError):
            reg.list(TASK)
    finally:
        pg_server.start()
    assert pg_server.is_running()
    assert reg.get(v1.ref) == v1
    assert add(reg).version == "v2"
