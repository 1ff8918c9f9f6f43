"""Outcome rows from the gateway's records (router/ledger_outcomes.py) on real SQLite stores: which
quality each feedback row gives which model, merging by prompt text, and what is left out.
The end-to-end path (gateway → capture → feedback → `router train --from-ledger`) is in
test_feedback.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from rightmodel.distill.store import Capture, CaptureStore
from rightmodel.errors import DataError
from rightmodel.ledger import store as ledger
from rightmodel.router.ledger_outcomes import collect
from rightmodel.router.outcomes import read_outcomes

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)


def test_collect_joins_feedback_with_captured_prompts(tmp_path) -> None:
    engine = ledger.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate(engine)
    captures = CaptureStore(f"sqlite:///{tmp_path / 'captures.db'}")
    captures.migrate()
    judged = [  # request id, route, model, score, correct, specialist_correct, prompt (None: not captured)
        ("r1", "escalated", "big", None, True, False, "hard question"),
        ("r2", "remote", "small", None, False, None, "hard question"),  # same prompt, other model: merged
        ("r3", "escalated", "big", 0.4, True, True, "graded question"),  # a score beats the verdict
        ("r4", "escalated", "big", None, True, None, "uncaptured"),
        ("r5", "remote", "small", None, None, None, "no verdict"),
        ("r6", "remote", "big", None, True, None, "easy question"),
        ("r7", "remote", "big", None, False, None, "easy question"),  # mean over its judged requests
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(ledger.feedback), [
            {"request_id": rid, "created_at": NOW, "request_created_at": NOW - timedelta(minutes=i), "task": "t",
             "route": route, "model": model, "specialist": "t@v1", "score": score, "correct": correct, "specialist_correct": spec}
            for i, (rid, route, model, score, correct, spec, _) in enumerate(judged)])
        conn.execute(sa.insert(ledger.feedback), [{"request_id": "other", "created_at": NOW, "request_created_at": NOW,
                                                    "task": "u", "route": "remote", "model": "big", "correct": True}])
    captures.add(Capture("t", rid, route, model, text, "answer", False, NOW)
                 for rid, route, model, _, _, _, text in judged if text != "uncaptured")
    found = collect(engine, captures, "t")
    rows = {r["prompt"]: {k: v for k, v in r.items() if k != "prompt"} for r in found.rows}
    assert rows == {"hard question": {"big": 1.0, "specialist": 0.0, "small": 0.0},
                    "graded question": {"big": 0.4, "specialist": 1.0},
                    "easy question": {"big": 0.5}}
    assert (found.feedback_rows, found.without_capture, found.without_verdict) == (7, 1, 1)
    assert found.columns == {"big": 3, "specialist": 2, "small": 1} and found.both("big", "specialist") == 2
    assert "7 feedback rows, 1 without a captured prompt, 1 without a verdict → 3 judged prompts" in found.describe()
    # the rows are an outcome file like any other: prompts missing a column are skipped and counted
    path = found.write_jsonl(tmp_path / "o.jsonl")
    assert json.loads(path.read_text().splitlines()[0])["prompt"] in rows
    with pytest.raises(DataError, match=r"2 usable rows.*missing outcome"):  # a router needs 10 rows
        read_outcomes(path, strong="big", weak="specialist")
    # --since: only requests from then on
    assert len(collect(engine, captures, "t", since=NOW - timedelta(minutes=1)).rows) == 1
    captures.close()
    engine.dispose()
