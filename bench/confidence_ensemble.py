"""Benchmark: does a small ensemble of fine-tuned specialists certify more Banking77 answers at 99%?

Issue 22 asks for 85% of test answers accepted at >= 99.0% accuracy. bench/confidence.py showed
that no score of one model gets there, and that even a threshold picked on the test set itself
accepts at most ~75% at 99% (the "oracle coverage"): the ranking of one model's answers is the
limit, not the threshold rule. Deep ensembles (the same recipe trained from different seeds,
probabilities averaged) are the standard way to rank answers better; this measures how far they go.

Members: bench/confidence_cache.py --variant full (seed 13, the project's default recipe) and
--seed 14, --seed 15 (same splits, same recipe, other initialisation and batch order), their
fp32 logits on the Banking77 calibration split (1,000 rows of the official train set) and the
official test set (3,080 rows, never used to fit anything). Every threshold comes from
`calibrate_threshold` on calibration rows only (rule `expected`, delta 0.1); `resplits` pools
calibration and test and re-splits 100 times to show the spread.

Usage: python bench/confidence_ensemble.py [--members 13,14,15] [--resplits 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CACHE = ROOT / "bench" / "results" / "cache"
RESULTS = ROOT / "bench" / "results"
DEFAULT_SEED = 13
DELTA = 0.1
TARGET = 0.99


def member_arrays(seed: int, cache: Path, variant: str = "full") -> dict:
    """A member's labels (-1: an intent it was not trained on) and fp32 logits, calibration rows first."""
    directory = cache / (variant if seed == DEFAULT_SEED else f"{variant}-seed{seed}")
    meta = json.loads((directory / "meta.json").read_text())
    arrays = dict(np.load(directory / "fp32.npz"))
    index = {name: i for i, name in enumerate(meta["known"])}
    y = np.array([index.get(str(s), -1) for s in np.concatenate([arrays["calibration_labels"], arrays["test_labels"]])])
    logits = np.concatenate([arrays["calibration_fp32_logits"], arrays["test_fp32_logits"]]).astype(np.float64)
    return {"y": y, "logits": logits, "n_calibration": len(arrays["calibration_labels"]), "epochs": meta["epochs"],
            "train_seconds": meta["train_seconds"], "known": meta["known"]}


def scores(members: list[dict], cal: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(score, prediction) per acceptance score; temperatures are fitted on `cal` rows only."""
    from rightmodel.routing.acceptance import fit_temperature, softmax

    y = members[0]["y"]
    known = cal[y[cal] >= 0]
    probs = [softmax(m["logits"], fit_temperature(m["logits"][known], y[known])) for m in members]
    mean = np.mean(probs, axis=0)
    pred = mean.argmax(axis=1)
    rows = np.arange(len(pred))
    votes = np.mean([p.argmax(axis=1) == pred for p in probs], axis=0)
    # the least confident member's probability of the ensemble's answer: all must be sure
    least = np.min([p[rows, pred] for p in probs], axis=0)
    out = {"mean probability": (mean[rows, pred], pred), "least member probability": (least, pred),
           "mean probability x agreement": (mean[rows, pred] * votes, pred)}
    return out


def evaluate(score: np.ndarray, correct: np.ndarray, cal: np.ndarray, new: np.ndarray) -> dict:
    from rightmodel.routing.acceptance import aurc, coverage_at_risk
    from rightmodel.routing.calibration import calibrate_threshold

    t = calibrate_threshold(score[cal], correct[cal], TARGET, DELTA, "expected").threshold
    accepted = score[new] >= t
    n = int(accepted.sum())
    return {"accuracy": float(correct[new].mean()), "aurc": aurc(score[new], correct[new]),
            "oracle_coverage_at_99": coverage_at_risk(score[new], correct[new], TARGET),
            "threshold": float(t), "coverage": n / len(new),
            "accepted_accuracy": float(correct[new][accepted].mean()) if n else None}


def ensembles(all_members: dict[int, dict], cal: np.ndarray):
    """(row key, labels, score, prediction) for every member alone and every combination of
    members under each ensemble score (one model: the three scores are the same, shown once)."""
    seeds = sorted(all_members)
    for k in range(1, len(seeds) + 1):
        for combo in combinations(seeds, k):
            members = [all_members[s] for s in combo]
            for name, (score, pred) in scores(members, cal).items():
                if k == 1 and name != "mean probability":
                    continue
                key = f"{'+'.join(map(str, combo))} | {name if k > 1 else 'temperature-scaled max probability'}"
                yield key, members[0]["y"], score, pred


def table(all_members: dict[int, dict], cal: np.ndarray, new: np.ndarray) -> dict:
    return {key: evaluate(score, pred == y, cal, new) for key, y, score, pred in ensembles(all_members, cal)}


def resplits(all_members: dict[int, dict], n: int, seed: int = 2026) -> dict:
    first = next(iter(all_members.values()))
    total, n_cal = len(first["y"]), first["n_calibration"]
    rng = np.random.default_rng(seed)
    runs: dict[str, list[dict]] = {}
    for _ in range(n):
        order = rng.permutation(total)
        for key, r in table(all_members, np.sort(order[:n_cal]), np.sort(order[n_cal:])).items():
            runs.setdefault(key, []).append(r)
    out = {}
    for key, rs in runs.items():
        cov = np.array([r["coverage"] for r in rs])
        acc = np.array([r["accepted_accuracy"] if r["accepted_accuracy"] is not None else np.nan for r in rs])
        out[key] = {"coverage_mean": float(cov.mean()), "coverage_p10": float(np.quantile(cov, 0.1)),
                    "accepted_accuracy_mean": float(np.nanmean(acc)),
                    "share_below_0.99": float(np.mean(np.nan_to_num(acc, nan=1.0) < 0.99)),
                    "oracle_coverage_mean": float(np.mean([r["oracle_coverage_at_99"] for r in rs])),
                    "aurc_mean": float(np.mean([r["aurc"] for r in rs]))}
    return {"splits": n, "seed": seed, "rows": out}


def confident_errors(all_members: dict[int, dict], cal: np.ndarray, new: np.ndarray, share: float = 0.85,
                     n: int = 25, seed: int = 0) -> dict:
    """A seeded sample of the test errors among the `share` of answers the full ensemble is surest
    of: what stands between the ensemble and 99% at 85% coverage, for reading by hand."""
    from rightmodel.data.shipped import banking77

    members = [all_members[s] for s in sorted(all_members)]
    score, pred = scores(members, cal)["mean probability"]
    y, known = members[0]["y"], members[0]["known"]
    texts = banking77("test").texts
    s, p, t = score[new], pred[new], y[new]
    top = np.argsort(-s, kind="stable")[: int(share * len(s))]
    errors = [int(i) for i in top if p[i] != t[i]]
    picked = sorted(np.random.default_rng(seed).choice(errors, size=min(n, len(errors)), replace=False).tolist())
    return {"share": share, "accepted": len(top), "errors": len(errors),
            "sample": [{"score": round(float(s[i]), 3), "gold": known[t[i]], "predicted": known[p[i]], "text": texts[i]}
                       for i in picked]}


NOVELTY_SHARES = (0.05, 0.1)


def with_novelty(rows, nearest: np.ndarray | None, cal: np.ndarray):
    """Each (key, labels, score, prediction), then for single members and the whole ensemble the
    same score behind the served novelty gate (specialists/novelty.py) at each share: 0 when the
    row's base embedding is less like its nearest training text than that share of calibration rows."""
    from rightmodel.specialists.novelty import NoveltyIndex

    rows = list(rows)
    yield from rows
    if nearest is None:
        return
    index = NoveltyIndex(rows=np.zeros((0, 1), np.float32), calibration=np.sort(nearest[cal]).astype(np.float32), base_model="bench")
    widest = max(key.split(" | ")[0].count("+") for key, *_ in rows)
    for key, y, score, pred in rows:
        members, name = key.split(" | ")
        if members.count("+") not in (0, widest) or (members.count("+") and name != "mean probability"):
            continue
        for share in NOVELTY_SHARES:
            yield f"{key}, novelty gate {share}", y, np.where(nearest >= index.gate(share), score, 0.0), pred


def unknown_table(all_members: dict[int, dict], cal: np.ndarray, new: np.ndarray, nearest: np.ndarray | None = None) -> dict:
    """Specialists trained on 60 of 77 intents: known requests answered vs unknown ones escalated."""
    from confidence import hindsight_cut
    from sklearn.metrics import roc_auc_score

    from rightmodel.routing.calibration import calibrate_threshold

    out: dict = {}
    for key, y, score, pred in with_novelty(ensembles(all_members, cal), nearest, cal):
        is_known = y[new] >= 0
        correct = pred == y
        t = calibrate_threshold(score[cal], correct[cal], TARGET, DELTA, "expected").threshold
        accepted = score[new] >= t
        cut = hindsight_cut(score[new], is_known, 0.9)
        out[key] = {
            "auroc": float(roc_auc_score(is_known, score[new])),
            "known_coverage": float((accepted & is_known).sum() / is_known.sum()),
            "known_accepted_accuracy": float(correct[new][accepted & is_known].mean()) if (accepted & is_known).any() else None,
            "unknown_escalated": float(1 - (accepted & ~is_known).sum() / (~is_known).sum()),
            "hindsight_known_coverage_at_90pct_unknown_escalated": float((score[new][is_known] > cut).mean()),
        }
    return out


def novelty_similarity(cache: Path) -> np.ndarray | None:
    """Each unknown-variant calibration and test row's similarity to its nearest fit row in the
    base encoder's space (bench/confidence_cache.py --variant base), calibration rows first."""
    from confidence import load, nearest_training_text

    if not (cache / "base" / "base.npz").exists():
        return None
    data = load("unknown", "fp32", cache)
    rows = np.concatenate([data["calibration"]["base"], data["test"]["base"]])
    return nearest_training_text(data["fit"]["base"], rows)


def render(result: dict) -> str:
    def pct(x: float | None, d: int = 1) -> str:
        return "n/a" if x is None else f"{100 * x:.{d}f}%"

    def rows(block: dict, cells) -> list[str]:
        """One table row per "members | score" key: the key's two parts, then `cells(result)`."""
        return [f"| {key} | {cells(r)} |" for key, r in block.items()]

    lines = ["# Ensembles of fine-tuned specialists for the 99% threshold (issue 22)", "",
             f"Measured {result['measured_at']} with `{result['command']}` ({result['seconds']} s). "
             "Members: the Banking77 specialist of bench/confidence_cache.py trained with seeds "
             f"{', '.join(map(str, result['members']))} (same recipe, same fit/calibration split; "
             + "; ".join(f"seed {s}: {m['epochs']} epochs, {m['train_seconds']:.0f} s" for s, m in result["member_meta"].items())
             + "), fp32 logits. Threshold: `calibrate_threshold`, rule `expected`, target 99%, delta 0.1, "
             "fitted on the calibration split (1,000 rows); scored on the official test split (3,080 rows). "
             "Each member's probabilities are temperature-scaled (temperature fitted on calibration) before averaging.", "",
             "## Calibration split → official test", "",
             "| members | score | test accuracy | AURC | oracle coverage @99% | **coverage @99% / accepted accuracy** |",
             "|---|---|---|---|---|---|"]
    lines += rows(result["official"], lambda r: f"{pct(r['accuracy'], 2)} | {r['aurc']:.4f} | {pct(r['oracle_coverage_at_99'])} | "
                                                f"**{pct(r['coverage'])} / {pct(r['accepted_accuracy'], 2)}**")
    rs = result.get("resplits")
    if rs:
        lines += ["", f"## Re-splits: calibration + test pooled, re-split {rs['splits']} times (1,000 / 3,080)", "",
                  "| members | score | mean coverage @99% | 10th pct | mean accepted accuracy | splits below 99.0% | mean oracle coverage | mean AURC |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += rows(rs["rows"], lambda r: f"{pct(r['coverage_mean'])} | {pct(r['coverage_p10'])} | "
                                            f"{pct(r['accepted_accuracy_mean'], 2)} | {pct(r['share_below_0.99'], 0)} | "
                                            f"{pct(r['oracle_coverage_mean'])} | {r['aurc_mean']:.4f}")
    uk = result.get("unknown")
    if uk:
        lines += ["", "## Unknown intents: members trained on 60 of the 77 intents, scored on all 77", "",
                  "Same seeds, `confidence_cache.py --variant unknown [--seed N]` (the 17 held-out intents are in no member's "
                  "fit or calibration rows). Issue 22's bar: ≥ 90% of unknown requests escalated while ≥ 80% of known ones "
                  "are answered. The last column picks the threshold *on test* (a ceiling for the score, not a rule).", "",
                  "| members | score | AUROC known vs unknown | known answered @99% | their accuracy | **unknown escalated** | known answered at 90% unknown escalated (hindsight) |",
                  "|---|---|---|---|---|---|---|"]
        lines += rows(uk, lambda r: f"{r['auroc']:.3f} | {pct(r['known_coverage'])} | {pct(r['known_accepted_accuracy'], 2)} | "
                                    f"**{pct(r['unknown_escalated'])}** | {pct(r['hindsight_known_coverage_at_90pct_unknown_escalated'])}")
    ce = result.get("confident_errors")
    if ce:
        lines += ["", f"## Errors among the {pct(ce['share'], 0)} of test answers the 3-model ensemble is surest of", "",
                  f"{ce['errors']} errors in {ce['accepted']:,} answers ({pct(ce['errors'] / ce['accepted'], 2)} wrong). "
                  f"A seeded sample of {len(ce['sample'])} (hand judgements in bench/results/banking77_confident_errors.md):", "",
                  "| score | gold label | predicted | text |", "|---|---|---|---|"]
        lines += [f"| {r['score']:.3f} | {r['gold']} | {r['predicted']} | {r['text']} |" for r in ce["sample"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", default="13,14,15", help="training seeds of the members (default 13,14,15)")
    parser.add_argument("--resplits", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS / "confidence-ensemble.json")
    args = parser.parse_args()
    started = time.time()
    seeds = [int(s) for s in args.members.split(",")]
    members = {s: member_arrays(s, args.cache) for s in seeds}
    first = members[seeds[0]]
    for s in seeds[1:]:
        if not np.array_equal(members[s]["y"], first["y"]):
            raise ValueError(f"member {s} was scored on other rows than member {seeds[0]}")
    n_cal = first["n_calibration"]
    cal, new = np.arange(n_cal), np.arange(n_cal, len(first["y"]))
    result = {"command": "python bench/confidence_ensemble.py " + " ".join(sys.argv[1:]), "members": seeds,
              "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "member_meta": {s: {"epochs": m["epochs"], "train_seconds": m["train_seconds"]} for s, m in members.items()},
              "official": table(members, cal, new)}
    if len(seeds) >= 2:
        result["confident_errors"] = confident_errors(members, cal, new)
    unknown_dirs = [args.cache / ("unknown" if s == DEFAULT_SEED else f"unknown-seed{s}") for s in seeds]
    if all((d / "fp32.npz").exists() for d in unknown_dirs):
        unknown = {s: member_arrays(s, args.cache, "unknown") for s in seeds}
        u_first = unknown[seeds[0]]
        u_cal, u_new = np.arange(u_first["n_calibration"]), np.arange(u_first["n_calibration"], len(u_first["y"]))
        result["unknown"] = unknown_table(unknown, u_cal, u_new, novelty_similarity(args.cache))
    if args.resplits:
        result["resplits"] = resplits(members, args.resplits)
    result["seconds"] = round(time.time() - started, 1)
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text(render(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')} in {result['seconds']} s")


if __name__ == "__main__":
    main()
