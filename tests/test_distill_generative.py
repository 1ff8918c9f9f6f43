"""Distillation of a generative task without a gateway: captures → prompt/answer conversations
(dedup, variants, unusable captures, the stable split), the task's kind, the verdict writer that
fills a generative shadow's ledger columns, cross-fitted acceptance numbers, config checks, and the
`distill` command's refusals (too few captures, captures that are not text)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from rightmodel.distill.dataset import fold, in_heldout
from rightmodel.distill.generative import build_pairs, prompt_key
from rightmodel.distill.store import Capture, CaptureStore

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def cap(i: int, text: str, answer: str, prompt=None, task: str = "summ") -> Capture:
    return Capture(task, f"req_{i}", "remote", "frontier", text, answer, False, NOW + timedelta(seconds=i), prompt)


def test_pairs_keep_free_text_dedup_on_the_prompt_and_keep_the_most_frequent_answer():
    caps = [
        cap(0, "Summarise: the cat sat on the mat.", "A cat sat on a mat."),
        cap(1, "summarise:  the CAT sat on the mat.", "A cat sat on a mat."),  # the same prompt, folded
        cap(2, "Summarise: the cat sat on the mat.", "The cat sat."),  # outvoted 2:1
        cap(3, "Summarise: rain fell all day.", "It rained."),
        cap(4, "Summarise: rain fell all day.", "Rain all day."),  # 1:1: the newest wins
        cap(5, "Summarise: nothing.", "   "),  # empty answer
        cap(6, "Summarise: binary.", "\x00\x01garbage"),  # not text
        cap(7, "", "An answer to nothing.", prompt=None),  # no user text
    ]
    d = build_pairs(caps, heldout_share=0.0)
    assert sorted(ex[-1]["content"] for ex in d.train) == ["A cat sat on a mat.", "Rain all day."]
    assert all(ex[-1]["role"] == "assistant" and ex[0] == {"role": "user", "content": ex[0]["content"]} for ex in d.train)
    assert (d.captured, d.duplicates, d.variants, d.unusable) == (8, 3, 2, 3)
    assert {why for why, _ in d.unusable_examples} == {"empty answer", "answer is not text (control characters)",
                                                       "no user text in the prompt (e.g. images or tool calls only)"}


def test_the_conversation_is_the_prompt_and_the_split_is_the_classifier_paths():
    system = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello"}]
    d = build_pairs([cap(0, "Hello", "Bonjour", prompt=system), cap(1, "Hello", "Hello!")], heldout_share=0.0)
    # The same user text under another system prompt is another prompt: both kept, each with its own turns.
    assert sorted(map(json.dumps, d.train)) == sorted(map(json.dumps, [
        [*system, {"role": "assistant", "content": "Bonjour"}],
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hello!"}]]))
    texts = [f"ticket {i}: please summarise this" for i in range(600)]
    d = build_pairs([cap(i, t, f"summary {i}") for i, t in enumerate(texts)], heldout_share=0.2)
    held = {ex[0]["content"] for ex in d.heldout}
    assert held == {t for t in texts if in_heldout(fold(t), 0.2)}  # exactly where the classifier path puts them
    assert 0.15 < len(held) / len(texts) < 0.25 and not held & {ex[0]["content"] for ex in d.train}
    assert prompt_key([{"role": "user", "content": "  Hi  THERE "}]) == fold("hi there")


def test_the_store_keeps_the_conversation(tmp_path):
    store = CaptureStore(f"sqlite:///{tmp_path / 'c.db'}")
    store.migrate()
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    store.add([cap(0, "Hi", "Hello.", prompt=turns), cap(1, "Yo", "Hey.")])
    got = store.fetch("summ")
    assert got[0].prompt == turns and got[0].conversation() == turns
    assert got[1].prompt is None and got[1].conversation() == [{"role": "user", "content": "Yo"}]
    store.close()


def test_capture_keeps_text_turns_only():
    from rightmodel.gateway.chat import conversation_of

    messages = [{"role": "developer", "content": "Rules."}, {"role": "user", "content": [{"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:"}}]}, {"role": "assistant", "content": None, "tool_calls": []},
                {"role": "tool", "content": "42", "tool_call_id": "x"}, {"role": "user", "content": "Now?"}]
    assert conversation_of(messages) == [{"role": "system", "content": "Rules."}, {"role": "user", "content": "Look:"},
                                         {"role": "user", "content": "Now?"}]


def test_the_task_kind_comes_from_config_then_models_then_the_registry(tmp_path):
    from rightmodel.constellation.config import parse_constellation
    from rightmodel.distill.cli import task_kind
    from rightmodel.registry import Registry

    remote = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}
    with Registry(tmp_path / "home") as reg:
        c = parse_constellation({"models": {"f": remote}, "tasks": {"a": {"escalate_to": "f"}, "b": {"escalate_to": "f", "kind": "generate"}}})
        assert task_kind("a", c, reg)[0] == "classify" and task_kind("b", c, reg) == ("generate", "tasks.b.kind")
        staged = tmp_path / "staged"
        staged.mkdir()
        (staged / "x.gguf").write_bytes(b"GGUF")
        reg.register("a", staged, {"kind": "generate", "model_file": "x.gguf"})
        assert task_kind("a", c, reg) == ("generate", "a@v1 is generative")
        c = parse_constellation({"models": {"f": remote, "g": {"kind": "generate", "task": "c", "stage": "candidate"}},
                                 "tasks": {"c": {"escalate_to": "f", "shadow": "g"}}})
        assert task_kind("c", c, reg)[0] == "generate"


def test_config_accepts_a_generative_shadow_and_refuses_what_cannot_be_compared():
    from rightmodel.constellation.config import parse_constellation
    from rightmodel.errors import ConfigError

    models = {"f": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}, "cand": {"kind": "generate", "task": "t", "stage": "candidate"},
              "prod": {"kind": "generate", "task": "t"}, "cls": {"kind": "specialist", "task": "t"},
              "file": {"kind": "generate", "path": "/nowhere/model.gguf"}}
    parse_constellation({"models": models, "tasks": {"t": {"escalate_to": "f", "shadow": "cand", "quality": "chrf>=0.5"}}})
    parse_constellation({"models": models, "tasks": {"t": {"specialist": "prod", "escalate_to": "f", "shadow": "cand"}}})
    for task, match in [({"specialist": "prod", "escalate_to": "f", "shadow": "cls"}, "tasks.t.shadow: 'cls' is a classifier"),
                        ({"escalate_to": "f", "shadow": "cand", "kind": "classify"}, "tasks.t.kind: classify"),
                        ({"escalate_to": "f", "quality": "bleu"}, "tasks.t.quality"),
                        ({"escalate_to": "f", "shadow": "f"}, "tasks.t.shadow: 'f' is not a specialist or generate model"),
                        ({"escalate_to": "f", "shadow": "file", "promote": {"auto": True}}, "tasks.t.promote.auto: the shadow 'file'")]:
        with pytest.raises(ConfigError, match=match):
            parse_constellation({"models": models, "tasks": {"t": task}})


def test_crossfit_numbers_are_out_of_sample():
    import numpy as np

    from rightmodel.generative.calibrate import Judged, crossfit_outcome
    from rightmodel.routing.calibration import calibrate_threshold

    rng = np.random.default_rng(0)
    judged = [Judged("a", "a", float(s), 1.0 if s > 0.5 else 0.0, bool(s > 0.5)) for s in rng.uniform(0.3, 1.0, 60)]
    chosen = calibrate_threshold(np.array([j.score for j in judged]), np.array([j.right for j in judged]), 0.9)
    test, cross = crossfit_outcome(judged, chosen)
    assert test["n"] == 60 and test["crossfit"] and cross["n_calibration"] == 60
    assert 0.0 < test["coverage"] <= 1.0 and test["accepted_pass_rate"] >= 0.9
    assert test["all_pass_rate"] == pytest.approx(sum(j.right for j in judged) / 60)


def ledger_engine(tmp_path):
    from rightmodel.ledger.store import create_engine, migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    return engine


def insert_row(engine, request_id: str, shadow_model: str | None = "summ@v1") -> None:
    from rightmodel.ledger.store import requests

    with engine.begin() as conn:
        conn.execute(sa.insert(requests).values(
            request_id=request_id, created_at=NOW, endpoint="/v1/chat/completions", route="remote", reason="r", tokens_in=1,
            tokens_out=1, cached_tokens=0, escalated=False, stream=False, status=200, extra={}, shadow_model=shadow_model))


def test_verdicts_fill_the_row_once_it_is_there_and_are_dropped_after_the_deadline(tmp_path):
    from rightmodel.generative.acceptance import QualityBar
    from rightmodel.ledger.shadow_outcomes import Pending, ShadowOutcomes

    engine = ledger_engine(tmp_path)
    writer = ShadowOutcomes(engine)
    bar = QualityBar.parse("chrf>=0.5")
    insert_row(engine, "req_a")
    writer.offer(Pending("req_a", "The cat sat on the mat.", "The cat sat on the mat", 0.8, 0.5, bar, time.monotonic() + 30))
    writer.offer(Pending("req_b", "Open a socket.", "The cat sat on the mat.", 0.3, 0.5, bar, time.monotonic() + 30))  # row not shipped yet
    writer.offer(Pending("req_c", "x", "y", 0.9, 0.5, bar, time.monotonic() + 0.2))  # never shipped: dropped
    time.sleep(0.8)
    insert_row(engine, "req_b")
    assert writer.flush(10)
    with engine.connect() as conn:
        rows = {r.request_id: r for r in conn.execute(sa.text("SELECT * FROM ledger_requests"))}
    assert (rows["req_a"].shadow_confidence, bool(rows["req_a"].shadow_accepted), bool(rows["req_a"].shadow_agree)) == (0.8, True, True)
    assert (rows["req_b"].shadow_confidence, bool(rows["req_b"].shadow_accepted), bool(rows["req_b"].shadow_agree)) == (0.3, False, False)
    assert writer.counts["written"] == 2 and writer.counts["dropped"] == 1
    from rightmodel.report.versions import shadow_rows

    with engine.connect() as conn:
        (stats,) = shadow_rows(conn, None, None, task=None, candidate="summ@v1")
    assert stats["shadowed"] == 2 and stats["compared"] == 2 and stats["accepted"] == 1 and stats["accepted_agreement"] == 1.0
    writer.close()
    engine.dispose()


def test_distill_refuses_too_few_or_non_text_captures_clearly(tmp_path):
    from conftest import run_cli

    url = f"sqlite:///{tmp_path / 'captures.db'}"
    store = CaptureStore(url)
    store.migrate()
    store.add([cap(i, f"Summarise item {i}", f"Item {i} in brief.") for i in range(6)]
              + [cap(10 + i, f"Binary {i}", "\x00\x02\x03") for i in range(20)])
    store.close()
    r = run_cli("distill", "summ", "--kind", "generate", "--captures-url", url, "--base", str(tmp_path), home=tmp_path / "home")
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
    said = " ".join((r.stdout + r.stderr).split())
    assert "too little to distill task 'summ' as a generative task" in said and "20 unusable" in said
    assert "answer is not text (control characters)" in said
    assert "6 distinct prompts" in said
    bad = run_cli("distill", "summ", "--kind", "generate", "--captures-url", url, "--quality", "bleu", home=tmp_path / "home")
    assert bad.returncode == 2 and "quality bar 'bleu'" in " ".join(bad.stderr.split()) and "Traceback" not in bad.stderr
    labels = run_cli("distill", "summ", "--kind", "generate", "--captures-url", url, "--labels", "a,b", home=tmp_path / "home")
    assert labels.returncode == 2 and "--labels is for classifier tasks" in " ".join(labels.stderr.split())
    free = run_cli("distill", "summ", "--captures-url", url, home=tmp_path / "home")  # as a classifier: a hint, not labels forced
    assert free.returncode == 2 and "tasks.summ.kind: generate" in " ".join((free.stdout + free.stderr).split())
