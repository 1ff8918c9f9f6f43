"""The multi-label path end to end: BCE training, per-label decisions, exact-match calibration."""

from __future__ import annotations

import json
import random

import pytest

from conftest import banking_rows

pytestmark = pytest.mark.slow


def test_multilabel_specialist(tmp_path):
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.runtime import SpecialistRuntime
    from rightmodel.specialists.train import TrainConfig

    rows = banking_rows("train", 40)
    rng = random.Random(0)
    records = [{"text": t, "labels": [l]} for t, l in rows]
    for _ in range(80):  # two requests in one message carry both intents
        (t1, l1), (t2, l2) = rng.sample(rows, 2)
        records.append({"text": f"{t1} Also, {t2}", "labels": sorted({l1, l2})})
    records.append({"text": "thank you, that is all", "labels": []})
    rng.shuffle(records)
    path = tmp_path / "multi.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    version = build_specialist(
        BuildRequest(task="multi", train_path=path, multi_label=True, calibration_mode="split",
                     config=TrainConfig(epochs=4, batch_size=16)),
        Registry(tmp_path / "home"),
        log=lambda m: None,
    )
    card = json.loads((version.path / "card.json").read_text())
    assert card["data"]["multi_label"] is True
    assert card["metrics"]["micro_f1"] >= 0.6, card["metrics"]
    runtime = SpecialistRuntime(version.path)
    assert runtime.multi_label
    pred = runtime.predict(["my card has not arrived. Also, what is the exchange rate?"])[0]
    assert 0 < pred.confidence <= 1 and len(pred.top) == 3
