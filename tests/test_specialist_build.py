"""A real specialist end to end: train → int8 ONNX → evaluate → calibrate → register → serve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli, write_csv

pytestmark = pytest.mark.slow

CARD_FIELDS = {
    "metrics": ("accuracy", "micro_f1", "macro_f1", "per_class", "most_confused"),
    "latency": ("single_p50_ms", "single_p99_ms", "batched_throughput_per_s"),
    "size": ("model_bytes", "parameters"),
    "training": ("seconds", "epochs", "history"),
    "calibration": ("threshold", "target_accuracy", "coverage", "accepted_accuracy", "method"),
    "int8_vs_fp32": ("accuracy_delta_points", "agreement"),
}


def test_version_directory_is_complete_and_verifiable(built):
    version = built["version"]
    assert version.ref == "intent@v1" and version.stage == "candidate"
    names = {p.name for p in version.path.iterdir()}
    assert {"model.onnx", "tokenizer.json", "specialist.json", "card.json", "card.md", "manifest.json", "SHA256SUMS"} <= names
    assert built["registry"].open("intent@v1").path == version.path


def test_card_has_every_field_and_honest_provenance(built):
    card = json.loads((built["version"].path / "card.json").read_text())
    for section, keys in CARD_FIELDS.items():
        for key in keys:
            assert key in card[section], f"card.{section}.{key} missing"
    assert card["data"]["train_hash"] and card["data"]["eval_hash"]
    assert card["base_model"].startswith("all-MiniLM-L6-v2")
    assert card["hyperparameters"]["epochs"] == 3
    assert card["data"]["n_eval"] == 40 and "eval.csv" in card["data"]["eval_source"]
    assert card["data"]["n_train"] + card["data"]["n_calibration"] == 120
    # 4 separable intents: a working trainer is far above chance (25%)
    assert card["metrics"]["accuracy"] >= 0.7
    assert abs(card["int8_vs_fp32"]["accuracy_delta_points"]) <= 10
    assert "## Calibration" in (built["version"].path / "card.md").read_text()


def test_card_scores_the_threshold_on_a_shifted_file_beside_the_calibration_split(built):
    """--shifted-eval: the card's numbers there are the served model's own, recomputed here."""
    from rightmodel.data import read_labelled
    from rightmodel.evaluate.card import shift_lines
    from rightmodel.specialists.runtime import SpecialistRuntime

    card = json.loads((built["version"].path / "card.json").read_text())
    [shifted] = card["shifted"]
    data = read_labelled(built["shifted"], min_per_class=1)
    runtime = SpecialistRuntime(built["version"].path)
    preds = runtime.predict(data.texts)
    correct = np.array([p.labels == gold for p, gold in zip(preds, data.labels)])
    accepted = np.array([p.confidence for p in preds]) >= card["calibration"]["threshold"]
    assert shifted["n"] == len(data.texts) == 43 and shifted["rows_with_unknown_labels"] == 3
    assert shifted["accuracy"] == pytest.approx(correct.mean(), abs=1e-3)
    at = shifted["at_threshold"]
    assert at["coverage"] == pytest.approx(accepted.mean(), abs=1e-6)
    if accepted.any():
        assert at["accepted_accuracy"] == pytest.approx(correct[accepted].mean(), abs=1e-6)
    assert set(shifted["calibration_methods"]) == set(card["calibration_methods"])
    lines = shift_lines(card)
    assert lines[1].startswith("calibration:") and lines[2].startswith("evaluation:") and "shifted.csv" in lines[3]
    assert "### Where the data moves" in (built["version"].path / "card.md").read_text()


def test_shift_lines_flag_a_shifted_set_under_the_target():
    from rightmodel.evaluate.card import shift_lines

    card = {"calibration": {"target_accuracy": 0.95, "method": "expected", "threshold": 0.9, "n_calibration": 100,
                            "coverage": 0.8, "accepted_accuracy": 0.96},
            "calibration_on_eval": {"coverage": 0.7, "accepted_accuracy": 0.95}, "data": {"n_eval": 50},
            "shifted": [{"file": "a.csv", "n": 10, "at_threshold": {"coverage": 0.5, "accepted_accuracy": 0.944}},
                        {"file": "b.csv", "n": 10, "at_threshold": {"coverage": 0.5, "accepted_accuracy": 0.946}},
                        {"file": "c.csv", "n": 10, "at_threshold": {"coverage": 0.0, "accepted_accuracy": None}}]}
    lines = shift_lines(card)
    assert "under the target" in lines[3] and "under the target" not in lines[4]
    assert "n/a accepted accuracy" in lines[5] and "under the target" not in lines[5]


def test_runtime_predicts_with_probabilities_and_top_k(built):
    from rightmodel.specialists.runtime import SpecialistRuntime

    runtime = SpecialistRuntime(built["version"].path)
    preds = runtime.predict(["my card has not arrived yet", "what is the exchange rate for euros"], top_k=2)
    assert preds[0].labels == ("card_arrival",)
    assert preds[1].labels == ("exchange_rate",)
    assert len(preds[0].top) == 2 and 0 < preds[0].confidence <= 1
    probs = runtime.predict_proba(["x" * 5000, ""])  # truncation and empty text are handled
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_eval_command_scores_and_compares(built, tmp_path):
    eval_file = built["eval"]
    lines = eval_file.read_text().splitlines()[1:]
    preds = tmp_path / "other.csv"
    # another "system" that always answers card_arrival, aligned by row order
    write_csv(preds, [("card_arrival",) for _ in lines], header=("prediction",))
    result = run_cli("eval", "intent@v1", "--data", str(eval_file), "--compare", str(preds), "--json", home=built["home"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["version"] == "intent@v1" and out["metrics"]["n"] == 40
    assert out["comparison"]["theirs_accuracy"] == pytest.approx(0.25)
    assert out["comparison"]["ours_accuracy"] == out["metrics"]["accuracy"]
    assert "coverage" in out["at_threshold"]


def test_classify_command(built):
    result = run_cli("classify", "intent", "where is my new card", home=built["home"])
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.splitlines()[0])
    assert row["labels"] == ["card_arrival"] and row["version"] == "intent@v1"
    assert row["decision"] in ("answer", "escalate")


def test_golden_set_recorded_from_first_build(built):
    golden = built["registry"].golden_path("intent")
    assert golden is not None and golden.exists()


def test_reproducible_training_same_seed_same_weights(tiny_files):
    from rightmodel.data import read_labelled
    from rightmodel.specialists.train import TrainConfig, predict_proba_torch, train_classifier

    data = read_labelled(tiny_files["train"])
    small = data.subset(range(0, len(data), 3))
    cfg = TrainConfig(epochs=1, batch_size=8, seed=5)
    a = train_classifier(small, config=cfg)
    b = train_classifier(small, config=cfg)
    texts = ["card still not here", "exchange rate please"]
    np.testing.assert_array_equal(predict_proba_torch(a, texts), predict_proba_torch(b, texts))
    c = train_classifier(small, config=TrainConfig(epochs=1, batch_size=8, seed=6))
    assert not np.array_equal(predict_proba_torch(a, texts), predict_proba_torch(c, texts))


def test_negative_sampling_prior_correction_restores_full_data_odds():
    import math

    import torch

    from rightmodel.data import LabelledSet
    from rightmodel.specialists.train import correct_negative_sampling_bias, epoch_rows

    # 6 label-less rows, 2 rows with "a", 2 with "b"
    labels = [()] * 6 + [("a",)] * 2 + [("b",)] * 2
    data = LabelledSet.from_pairs([f"t{i}" for i in range(10)], labels, multi_label=True)
    model = torch.nn.Module()
    model.head = torch.nn.Linear(4, 2)
    torch.nn.init.zeros_(model.head.bias)
    correct_negative_sampling_bias(model, data, ["a", "b"], 0.5)
    # negatives of "a": 6 empty (seen at rate .5) + 2 "b" rows (always seen) → (3 + 2) / 8
    assert model.head.bias[0].item() == pytest.approx(math.log(5 / 8))
    import random

    rows = epoch_rows(data, 0.5, random.Random(0))()
    assert sorted(rows)[-4:] == [6, 7, 8, 9] and len(rows) == 7


def test_micro_batcher_coalesces_concurrent_requests(built):
    import asyncio

    from rightmodel.specialists.batching import MicroBatcher
    from rightmodel.specialists.runtime import SpecialistRuntime

    runtime = SpecialistRuntime(built["version"].path)
    texts = [f"my card number {i} has not arrived" if i % 2 else f"exchange rate {i} for dollars" for i in range(60)]
    direct = runtime.predict_proba(texts)

    async def go():
        batcher = MicroBatcher(runtime, max_batch=16, max_wait_ms=20)
        try:
            rows = await asyncio.gather(*(batcher.predict_proba(t) for t in texts))
        finally:
            await batcher.close()
        return rows, batcher.stats

    rows, stats = asyncio.run(go())
    # int8 dynamic quantization scales activations per batch tensor, so a row's probabilities
    # shift slightly with its batch-mates; the decisions must not.
    batched = np.stack(rows)
    assert (batched.argmax(1) == direct.argmax(1)).mean() >= 0.95
    assert np.abs(batched - direct).max() < 0.15
    assert stats.items == 60 and stats.batches <= 8 and max(stats.sizes) == 16
