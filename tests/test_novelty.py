"""The novelty index (specialists/novelty.py): built with the gateway's real embedder, saved in the
version, and refused at startup where a task asks for a gate its specialist cannot give."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rightmodel.specialists.novelty import NOVELTY_FILE, SHARES, NoveltyIndex, build_index, effect

TRAIN = [
    "my card has not arrived yet", "when will my new card be delivered", "I am still waiting for my card",
    "what exchange rate do you use", "how much is the euro to pound rate", "is the exchange rate fixed",
    "I lost my card yesterday", "someone stole my wallet with the card", "please block my stolen card",
    "my top up did not go through", "top up failed twice", "why was my top-up declined",
]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    from rightmodel.specialists.embedder import Embedder, ensure_embedder

    return Embedder(ensure_embedder(tmp_path_factory.mktemp("cache")), threads=1)


def test_a_training_text_is_its_own_nearest_and_an_off_task_one_is_far(embedder):
    index = build_index(embedder, TRAIN, TRAIN[:6])
    sims = index.nearest(embedder.embed([TRAIN[0], "my card still has not come", "Write a haiku about the JVM garbage collector"]))
    assert sims[0] == pytest.approx(1.0, abs=1e-3)
    assert sims[1] > 0.6 > sims[2]
    assert index.base_model == embedder.base_model


def test_calibration_texts_that_are_training_texts_do_not_match_themselves(embedder):
    """Cross-fitted calibration: the training texts are the calibration texts. Matched against
    themselves every gate would be 1.0 and every new request novel."""
    index = build_index(embedder, TRAIN, TRAIN)
    assert len(index.calibration) == len(TRAIN)
    assert index.calibration.max() < 0.999
    assert index.gate(0.05) < 0.9


def test_the_gate_is_the_calibration_quantile():
    calibration = np.sort(np.array([0.1, 0.2, 0.3, 0.4, 0.5] * 4, np.float32))
    index = NoveltyIndex(rows=np.eye(3, dtype=np.float32), calibration=calibration, base_model="m")
    assert index.gate(0.01) == pytest.approx(0.1)  # nothing falls below the least
    assert index.gate(0.2) == pytest.approx(0.2)  # 4 of 20 calibration texts (20%) fall below it
    assert index.gate(0.25) == pytest.approx(0.2)  # a share between ties does not round up
    gates = [index.gate(s) for s in (0.01, 0.1, 0.3, 0.45)]
    assert gates == sorted(gates)


def test_exclusion_skips_only_the_named_row():
    rows = np.eye(3, dtype=np.float32)
    index = NoveltyIndex(rows=rows, calibration=np.zeros(0, np.float32), base_model="m")
    q = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]], np.float32)
    assert index.nearest(q).tolist() == pytest.approx([1.0, 0.8])
    assert index.nearest(q, np.array([0, -1])).tolist() == pytest.approx([0.0, 0.8])


def test_save_and_load_round_trip(tmp_path, embedder):
    index = build_index(embedder, TRAIN, TRAIN[::2])
    index.save(tmp_path)
    again = NoveltyIndex.load(tmp_path)
    assert again is not None and again.base_model == index.base_model
    assert np.allclose(again.rows, index.rows, atol=1e-3)  # stored as float16
    assert np.array_equal(again.calibration, index.calibration)
    assert NoveltyIndex.load(tmp_path / "nowhere") is None


def test_effect_reports_what_each_setting_escalates():
    index = NoveltyIndex(rows=np.eye(2, dtype=np.float32), calibration=np.linspace(0.0, 0.99, 100).astype(np.float32), base_model="m")
    similarity = np.array([0.0, 0.5, 0.9, 0.95])
    confidence = np.array([0.99, 0.99, 0.99, 0.1])
    correct = np.array([False, True, True, True])
    out = effect(index, similarity, confidence, correct, threshold=0.9)
    assert out["without"] == {"coverage": 0.75, "accepted_accuracy": pytest.approx(0.6667, abs=1e-4)}
    tenth = out["with"]["0.1"]
    assert tenth["flagged"] == 0.25 and tenth["coverage"] == 0.5 and tenth["accepted_accuracy"] == 1.0
    assert set(out["with"]) == {str(s) for s in SHARES}


def test_the_trained_version_carries_its_index_and_card_section(built):
    from rightmodel.backends.specialist import SpecialistBackend
    from rightmodel.evaluate.card import read_card

    path = built["version"].path
    assert (path / NOVELTY_FILE).is_file()
    section = read_card(path)["novelty"]
    assert section["rows"] > 0 and section["calibration_texts"] > 0
    assert set(section["on_eval"]["with"]) == {str(s) for s in SHARES}
    shown = (path / "card.md").read_text()
    assert "Requests unlike the training texts" in shown and "| 0.05 (gate " in shown
    backend = SpecialistBackend("intent-v", built["registry"], built["version"].ref)
    assert backend.novelty is not None and backend.novelty.rows.shape[0] == section["rows"]


def test_a_ray_ingress_reads_the_index_of_the_version_its_replica_loaded(built, tmp_path):
    """serve --ray: the replica describes the version (VersionInfo, sent to the ingress), and the
    ingress, which runs the gate, loads the index from the version's directory."""
    from dataclasses import replace

    from rightmodel.backends.specialist import SpecialistBackend
    from rightmodel.cluster.remote_specialist import RemoteSpecialist, VersionInfo

    info = VersionInfo.of(SpecialistBackend("intent-v", built["registry"], built["version"].ref))
    assert info.path == str(built["version"].path)
    remote = RemoteSpecialist("intent-v", handle=None, info=info)
    assert remote.novelty is not None and len(remote.novelty.rows) > 0
    assert RemoteSpecialist("intent-v", handle=None, info=replace(info, path=str(tmp_path))).novelty is None


def test_startup_refuses_a_gate_the_specialist_cannot_give():
    from rightmodel.constellation.config import Constellation
    from rightmodel.errors import ConfigError
    from rightmodel.gateway.state import check_novelty

    constellation = Constellation.model_validate({
        "models": {"intent-v": {"kind": "specialist", "task": "intent"}},
        "tasks": {"intent": {"specialist": "intent-v", "novelty": 0.05}},
    })
    with pytest.raises(ConfigError, match=r"tasks\.intent\.novelty: intent@v3 has no novelty index"):
        check_novelty(constellation, {"intent-v": SimpleNamespace(novelty=None, ref="intent@v3")})
    check_novelty(constellation, {"intent-v": SimpleNamespace(novelty=object(), ref="intent@v4")})


@pytest.mark.parametrize("share", [0, 0.5, -0.1, 2])
def test_novelty_outside_its_range_is_a_config_error(share):
    from pydantic import ValidationError

    from rightmodel.constellation.config import Constellation

    with pytest.raises(ValidationError, match="novelty"):
        Constellation.model_validate({"models": {"intent-v": {"kind": "specialist", "task": "intent"}},
                                      "tasks": {"intent": {"specialist": "intent-v", "novelty": share}}})


def test_a_task_without_novelty_never_reads_the_index():
    """The index is read on first use; a task that does not ask for the gate must not be that use
    (it would load tens of MB on the event loop of an ordinary request)."""
    import asyncio

    from rightmodel.gateway import novelty_gate

    class Backend:
        @property
        def novelty(self):
            raise AssertionError("the index was read for a task without novelty")

    for task in (None, SimpleNamespace(novelty=None)):
        assert asyncio.run(novelty_gate.novel(None, None, Backend(), task, "hello", None)) is None
