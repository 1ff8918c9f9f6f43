"""Distillation parts without a gateway: the capture store (retention, SQLite), the background
capturer, and captures → dataset (label normalisation, dedup, conflicts, a stable held-out split)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from rightmodel.distill.capturer import Capturer
from rightmodel.distill.dataset import build_dataset, in_heldout, infer_labels, normalise
from rightmodel.distill.store import Capture, CaptureStore
from rightmodel.errors import ConfigError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
LABELS = ["card_arrival", "lost_or_stolen_card", "card", "exchange_rate"]


def cap(i: int, text: str, answer: str, task: str = "intent", at: datetime = NOW) -> Capture:
    return Capture(task, f"req_{i}", "escalated", "frontier", text, answer, False, at)


@pytest.mark.parametrize("answer, label", [
    ("card_arrival", "card_arrival"), ("Card arrival.", "card_arrival"), ('"card-arrival"', "card_arrival"),
    ('{"label": "exchange_rate"}', "exchange_rate"), ("The intent is: lost or stolen card.", "lost_or_stolen_card"),
    ("It is about the card", "card"),  # "card" alone: no longer label names it
    ("exchange rate or card arrival", None), ("no idea", None), ("", None),
])
def test_free_text_answers_are_normalised_to_one_label_or_none(answer, label):
    assert normalise(answer, LABELS) == label


def test_labels_are_inferred_from_short_frequent_answers():
    answers = ["Positive", "positive.", "Negative", "negative", "Neutral", "I think this one is a long answer, not a label at all"]
    assert infer_labels(answers) == ["Negative", "Positive"]  # Neutral once: below min_count


def test_dataset_dedups_drops_conflicts_and_reports_unparseable():
    caps = [cap(0, "Where is my card?", "card_arrival"), cap(1, "where is  my CARD?", "Card arrival."),  # duplicate input
            cap(2, "where is my card?", "lost_or_stolen_card"),  # outvoted 2:1
            cap(3, "rate for euros", "exchange_rate"), cap(4, "Rate for EUROS", "card"),  # a 1:1 tie: conflict
            cap(5, "stolen!", "I cannot help with that"), cap(6, "gone", "I cannot help with that")]
    d = build_dataset(caps, LABELS, heldout_share=0.0)
    assert d.train == [("Where is my card?", "card_arrival")]
    assert (d.captured, d.duplicates, d.conflicts, d.unparseable) == (7, 3, 1, 2)
    assert d.unparseable_answers == [("I cannot help with that", 2)]


def test_the_heldout_split_is_stable_and_keeps_duplicates_together():
    texts = [f"message number {i}" for i in range(2000)]
    share = sum(in_heldout(t, 0.2) for t in texts) / len(texts)
    assert 0.17 < share < 0.23
    assert all(in_heldout(t, 0.2) == in_heldout(t.upper() + "  ", 0.2) for t in texts[:200])
    d = build_dataset([cap(i, texts[i % 300], ["yes", "no"][i % 300 % 2]) for i in range(900)], ["yes", "no"], 0.2)
    held, train = {t for t, _ in d.heldout}, {t for t, _ in d.train}
    assert not held & train and len(held) + len(train) == 300


def test_store_keeps_pairs_and_prunes_by_age_and_count(tmp_path):
    store = CaptureStore(f"sqlite:///{tmp_path / 'captures.db'}")
    store.migrate()
    store.migrate()  # idempotent
    old = [cap(i, f"old {i}", "card", at=NOW - timedelta(days=40)) for i in range(5)]
    new = [cap(10 + i, f"new {i}", "card", at=NOW - timedelta(minutes=i)) for i in range(10)]
    other = [cap(100, "other task", "x", task="sentiment", at=NOW - timedelta(days=90))]
    assert store.add(old + new + other) == 16
    assert store.counts() == {"intent": 15, "sentiment": 1}
    assert store.prune("intent", retention_days=30, max_rows=None, now=NOW) == 5
    assert store.prune("intent", retention_days=None, max_rows=4, now=NOW) == 6
    kept = store.fetch("intent")
    assert [c.input for c in kept] == ["new 3", "new 2", "new 1", "new 0"]  # the newest 4, oldest first
    assert kept[0].created_at.tzinfo is not None
    assert store.counts()["sentiment"] == 1  # other tasks untouched
    store.close()


def test_capturer_writes_in_the_background_and_drops_rather_than_fails(tmp_path):
    store = CaptureStore(f"sqlite:///{tmp_path / 'c.db'}")
    capturer = Capturer(store, {"intent": SimpleNamespace(retention_days=30, max_rows=1000)})
    capturer.start()
    assert capturer.wants("intent") and not capturer.wants("other") and not capturer.wants(None)
    for i in range(50):
        capturer.offer(cap(i, f"text {i}", "card"))
    assert capturer.flush()
    assert capturer.stats()["written"] == 50 and len(CaptureStore(store.url).fetch("intent")) == 50
    capturer.close()


def test_a_bad_store_url_is_one_clear_error():
    with pytest.raises(ConfigError, match="capture store"):
        CaptureStore("mysql://nope/x")


def test_known_labels_prefer_production_over_a_newer_candidate(tmp_path):
    """A candidate distilled from partial traffic must not shrink the label set of the next run."""
    import json

    from rightmodel.distill.cli import known_labels
    from rightmodel.registry import Registry
    from rightmodel.specialists.export import SPEC_FILE

    with Registry(tmp_path / "home") as reg:
        assert known_labels(reg, "intent") is None
        for labels in (["a", "b", "c"], ["a", "b"]):
            staged = tmp_path / f"staged-{len(labels)}"
            staged.mkdir()
            (staged / SPEC_FILE).write_text(json.dumps({"labels": labels}))
            reg.register("intent", staged, {"kind": "specialist"})
        assert known_labels(reg, "intent") == ["a", "b"]  # no production: the newest version
        reg.promote("intent@v1")
        assert known_labels(reg, "intent") == ["a", "b", "c"]


@pytest.mark.parametrize("cross, warns", [
    ({"coverage": 0.72, "accepted_accuracy": 0.985}, False),  # holds up out of sample
    ({"coverage": 0.27, "accepted_accuracy": 0.99}, True),    # coverage collapses: luck of a small set
    ({"coverage": 0.70, "accepted_accuracy": 0.96}, True),    # agreement misses the target
])
def test_distill_warns_when_the_threshold_does_not_hold_out_of_sample(tmp_path, cross, warns):
    import json

    from rightmodel.distill.cli import threshold_warning
    from rightmodel.evaluate.card import CARD_JSON

    chosen = {"coverage": 0.75, "accepted_accuracy": 0.983, "target_accuracy": 0.98, "n_calibration": 600}
    (tmp_path / CARD_JSON).write_text(json.dumps({"calibration": chosen, "calibration_on_eval": {**cross, "crossfit": "2-fold"}}))
    warning = threshold_warning(tmp_path, "intent")
    assert bool(warning) == warns
    if warns:
        assert "600 held-out captures" in warning and "tasks.intent.shadow" in warning
