"""Learned routers, the parts without an encoder: RouteLLM metrics on hand-computed examples,
outcome files, grouped folds, and the TF-IDF router on a synthetic outcome set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rightmodel.errors import DataError
from rightmodel.router.crossval import cross_validate, grouped_folds
from rightmodel.router.kinds import Features
from rightmodel.router.metrics import (
    binned_curve, oracle_scores, random_curve, random_scores, score_report, sweep_curve,
)
from rightmodel.router.outcomes import read_outcomes

# scores, strong, weak: gains +1, 0, -1, +1; the two 0.5 scores tie.
S, QS, QW = [0.9, 0.5, 0.1, 0.5], [1, 1, 0, 1], [0, 1, 1, 0]


def test_sweep_curve_by_hand() -> None:
    c = sweep_curve(S, QS, QW)
    # points: nobody strong; 0.9; both 0.5s together (a tie is never split); everybody
    assert c.strong_share.tolist() == [0.0, 0.25, 0.75, 1.0]
    assert c.quality.tolist() == [0.5, 0.75, 1.0, 0.75]
    assert c.pgr.tolist() == [0.0, 1.0, 2.0, 1.0]
    # trapezoids: .25*(0+1)/2 + .5*(1+2)/2 + .25*(2+1)/2
    assert c.apgr() == pytest.approx(1.25)
    assert c.cpt(0.5) == pytest.approx(0.125)
    assert c.cpt(0.8) == pytest.approx(0.2)
    assert c.thresholds[1:].tolist() == [0.9, 0.5, 0.1]


def test_binned_curve_follows_routellm_quantile_thresholds() -> None:
    c = binned_curve(S, QS, QW, bins=2)
    # thresholds 0.1 (min), 0.5 (median), 0.9 (max, strong iff score > 0.9: nobody)
    assert c.strong_share.tolist() == [0.0, 0.75, 1.0]
    assert c.pgr.tolist() == [0.0, 2.0, 1.0]
    assert c.apgr() == pytest.approx(0.75 * 1.0 + 0.25 * 1.5)


def test_all_ties_is_the_random_line() -> None:
    c = sweep_curve([0.3] * 4, QS, QW)
    assert c.strong_share.tolist() == [0.0, 1.0]
    assert c.apgr() == pytest.approx(0.5)


def test_random_router_is_about_half_and_oracle_is_best() -> None:
    rng = np.random.default_rng(3)
    qs = (rng.random(6000) < 0.8).astype(float)
    qw = (rng.random(6000) < 0.65).astype(float)
    r = sweep_curve(random_scores(6000, seed=1), qs, qw)
    assert abs(r.apgr() - 0.5) < 0.04
    assert abs(r.cpt(0.5) - 0.5) < 0.06
    assert random_curve(0.65, 0.8).apgr() == pytest.approx(0.5)
    o = sweep_curve(oracle_scores(qs, qw), qs, qw)
    assert o.apgr() > 1.0 > r.apgr()
    rep = score_report(random_scores(6000, seed=2), qs, qw)
    assert rep["oracle"]["apgr"] == pytest.approx(o.apgr())
    assert set(rep["bins10"]) == {"apgr", "cpt50", "cpt80"}


def test_metrics_refuse_meaningless_input() -> None:
    with pytest.raises(DataError, match="same mean quality"):
        sweep_curve([0.1, 0.2], [1, 0], [0, 1])
    with pytest.raises(DataError, match="one length"):
        sweep_curve([0.1, 0.2, 0.3], [1, 0], [0, 1])


def test_grouped_folds_keep_duplicates_together() -> None:
    keys = [f"p{i % 37}" for i in range(300)]  # every prompt repeated ~8 times
    folds = grouped_folds(keys, 5, seed=0)
    for key in set(keys):
        assert len({int(f) for f, k in zip(folds, keys) if k == key}) == 1
    sizes = np.bincount(folds, minlength=5)
    assert sizes.min() > 0 and sizes.max() - sizes.min() <= 16
    with pytest.raises(DataError, match="distinct group"):
        grouped_folds(["a", "b"], 5, seed=0)


TOPIC_HARD = ["integral", "derivative", "eigenvalue", "polynomial", "logarithm", "matrix", "theorem", "series"]
TOPIC_EASY = ["painter", "river", "capital", "novel", "composer", "mountain", "festival", "poet", "empire", "language"]


def synthetic_rows(n: int, seed: int, hard_share: float = 0.1) -> list[dict]:
    """Strong model always right; weak model wrong exactly on the maths topic (hard_share of rows)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hard = rng.random() < hard_share
        words = rng.sample(TOPIC_HARD if hard else TOPIC_EASY, 3)
        text = f"Question {i}: explain the {words[0]} and the {words[1]} of the {words[2]}."
        rows.append({"prompt": text, "big": True, "small": not hard})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tfidf_router_finds_the_topic_where_strong_wins(tmp_path: Path) -> None:
    data = read_outcomes(write_jsonl(tmp_path / "o.jsonl", synthetic_rows(400, 1)), strong="big", weak="small")
    cv = cross_validate(["tfidf"], Features(data.prompts), data.gain, data.prompts, 3, seed=0)
    apgr = sweep_curve(cv.scores["tfidf"], data.strong, data.weak).apgr()
    oracle = sweep_curve(oracle_scores(data.strong, data.weak), data.strong, data.weak).apgr()
    assert oracle > 0.9
    assert apgr > oracle - 0.03  # close to perfect
    # and a router fed shuffled outcomes (no signal) lands near random
    noise = data.gain[np.random.default_rng(0).permutation(len(data))]
    cv2 = cross_validate(["tfidf"], Features(data.prompts), noise, data.prompts, 3, seed=0)
    assert abs(sweep_curve(cv2.scores["tfidf"], noise, np.zeros_like(noise)).apgr() - 0.5) < 0.2


def test_outcome_directory_groups_scores_and_contaminated(tmp_path: Path) -> None:
    d = tmp_path / "outcomes"
    d.mkdir()
    (d / "mmlu_alpha.csv").write_text("prompt,weak,strong\nq1,False,True\nq2,True,True\nq3,False,False\n")
    (d / "mmlu_beta.csv").write_text("prompt,weak,strong\nq4,0.2,0.9\n\"q5, with comma\",0.5,0.4\nq6,0.1,0.3\n"
                                     "q7,1,1\nq8,0,1\nq9,0,1\nq10,1,0\nq11,,1\nq12,1,0\n")
    (d / "contaminated_prompts.jsonl").write_text(json.dumps({"eval_prompt": "q3"}) + "\n")
    o = read_outcomes(d, strong="strong", weak="weak")
    assert "q3" not in o.prompts and len(o) == 10
    assert sorted(set(o.groups)) == ["alpha", "beta"]
    assert o.skipped == {"excluded (contaminated)": 1, "missing outcome": 1}
    i = o.prompts.index("q5, with comma")
    assert (o.strong[i], o.weak[i]) == (0.4, 0.5)


@pytest.mark.parametrize("content, message", [
    ("prompt,weak,strong\nq1,maybe,True\n", "line 2: column 'weak' holds 'maybe'"),
    ("prompt,weak,strongest\nq1,True,True\n", "no strong model column 'strong'; columns present"),
    ("question_text,weak,strong\nq1,True,True\n", "which column holds the prompt"),
])
def test_bad_outcome_files_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_outcomes(path, strong="strong", weak="weak")


def test_same_outcome_everywhere_is_refused(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "big": 1, "small": 1} for i in range(20)]
    with pytest.raises(DataError, match="nothing to route on"):
        read_outcomes(write_jsonl(tmp_path / "same.jsonl", rows), strong="big", weak="small")


def test_hybrid_parts_are_chosen_by_inner_cv_and_old_hybrids_still_load(tmp_path: Path) -> None:
    """The hybrid combines two or three parts, chosen like hyperparameters (inner CV, never on the
    scored fold); a hybrid saved before that (no "parts") restores as classifier + TF-IDF."""
    from rightmodel.router.crossval import select_params
    from rightmodel.router.kinds import DEFAULT_HYBRID, HYBRID_PARTS, make_router

    data = read_outcomes(write_jsonl(tmp_path / "o.jsonl", synthetic_rows(300, 4)), strong="big", weak="small")
    rng = np.random.default_rng(0)
    # embeddings that know the topic (the gain) plus noise: every part has something to find
    emb = rng.normal(size=(len(data), 16)).astype(np.float32)
    emb[:, 0] += 3 * (data.gain > 0)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    feats = Features(list(data.prompts), emb)
    sel = select_params("hybrid", feats, data.gain, data.prompts, seed=0, cache={})
    parts = sel.params["parts"]
    assert 2 <= len(parts) <= 3 and set(parts) <= set(HYBRID_PARTS)
    subsets = [t for t in sel.tried if "parts" in t]
    assert len(subsets) == 4  # every subset of two or three parts was scored
    best = max(subsets, key=lambda t: t["inner_apgr"])
    assert best["parts"] == parts and all(p in sel.params for p in parts)
    model = make_router("hybrid", sel.params).fit(feats, data.gain)
    arrays = model.arrays(tmp_path)
    assert {f"ref_{p}" for p in parts} <= set(arrays)
    old = make_router("hybrid", {"classifier": {"C": 1.0}, "tfidf": {"C": 1.0}}).fit(feats, data.gain)
    restored = make_router("hybrid", {"classifier": {"C": 1.0}, "tfidf": {"C": 1.0}}).restore(tmp_path, old.arrays(tmp_path))
    assert [p.kind for p in restored.parts] == list(DEFAULT_HYBRID)
    np.testing.assert_allclose(restored.score(feats), old.score(feats))
