"""The generative-distillation storage on a real PostgreSQL server (pg_server.py) as on SQLite: the
capture store's migration 0002 over a store an older gateway wrote (its rows read back without a
conversation, new ones with one), and a generative shadow's verdict written into its ledger row."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)

from rightmodel.distill.store import MIGRATIONS_DIR, Capture, CaptureStore, captures
from rightmodel.sqlite_engine import alembic_config, write

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def store_at_0001(url: str) -> None:
    """A capture store as a gateway before migration 0002 left it, holding one row."""
    from alembic import command

    engine = sa.create_engine(url)
    cfg = alembic_config(MIGRATIONS_DIR)
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(sa.text("INSERT INTO distill_captures (created_at, task, request_id, route, model, input, answer, redacted) "
                             "VALUES (:at, 'summ', 'req_old', 'remote', 'f', 'Old input', 'Old answer', false)"), {"at": NOW})
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_older_capture_store_is_migrated_and_keeps_conversations(backend: str, tmp_path: Path, request) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store_at_0001(url)
    store = CaptureStore(url)
    old = store.fetch("summ")  # reading migrates first
    assert [(c.input, c.prompt) for c in old] == [("Old input", None)]
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "New input"}]
    store.add([Capture("summ", "req_new", "remote", "f", "New input", "New answer", False, NOW, turns)])
    assert [c.conversation() for c in store.fetch("summ")] == [[{"role": "user", "content": "Old input"}], turns]
    assert "prompt" in {c.name for c in captures.c}
    store.close()


def test_a_shadow_verdict_fills_its_row_on_postgresql(pg_url: str) -> None:
    from rightmodel.ledger.shadow_outcomes import record_shadow_outcome
    from rightmodel.ledger.store import create_engine, migrate, requests

    engine = create_engine(pg_url)
    migrate(engine)
    assert not record_shadow_outcome(engine, "req_1", confidence=0.7, accepted=True, agree=False)  # not shipped yet
    with engine.begin() as conn:
        for rid, shadow in (("req_1", "summ@v1"), ("req_2", None)):
            conn.execute(sa.insert(requests).values(
                request_id=rid, created_at=NOW, endpoint="/v1/chat/completions", route="remote", reason="r", tokens_in=1,
                tokens_out=1, cached_tokens=0, escalated=False, stream=False, status=200, extra={}, shadow_model=shadow))
    assert record_shadow_outcome(engine, "req_1", confidence=0.7, accepted=True, agree=False)
    assert not record_shadow_outcome(engine, "req_2", confidence=0.7, accepted=True, agree=True)  # names no shadow: untouched
    with engine.connect() as conn:
        rows = {r.request_id: r for r in conn.execute(sa.select(requests))}
    assert (rows["req_1"].shadow_confidence, rows["req_1"].shadow_accepted, rows["req_1"].shadow_agree) == (0.7, True, False)
    assert rows["req_2"].shadow_agree is None and rows["req_2"].route == "remote"
    engine.dispose()
