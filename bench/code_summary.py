"""Code summarization with SmolLM2-135M on this box: Python function → its docstring's first sentence.

Data (bench/generative_bench/code_summary.py): every function and method with a usable docstring in
the running interpreter's standard library (no download; test suites skipped), the docstring
removed from the input, the first sentence of the docstring the answer. **Split by top-level
module** (a stable hash of its name: 70% train / 15% calibration / 15% test of the modules), so no
test function's module, nor any submodule of its package, was trained on. Each split is sampled
round-robin over its modules so that a few large packages do not dominate.

Steps, all in this run:
1. `rightmodel train code-summary --kind generate` (the real CLI; 1 torch thread, nice 10): LoRA on
   the bundled SmolLM2-135M-Instruct over the training sample, merge, GGUF f16/q8_0/q4_k_m, acceptance
   threshold calibrated on the calibration modules against the quality bar `chrf>=TAU`. Wall time
   measured around the command.
2. While it trains (one more thread, nice 15): the baselines on the test modules — the function's
   name split into words, and the bundled base model zero-shot with an instruction.
3. The fine-tuned q4_k_m on the test modules, and (with the base zero-shot and the name baseline) on
   functions of third-party packages never used for training or tuning (`--other`).
Scores: smoothed BLEU-4 as CodeXGLUE's code-to-text evaluator computes it (summary_metrics.py), mean
with a 95% bootstrap interval over modules, and corpus chrF; coverage and quality of the answers the
calibrated threshold accepts.

    python bench/code_summary.py [--work /tmp/rm-codesum] [--n-train 480] [--reuse]

Writes bench/results/code_summary.{json,md}. The machine's load during each step is recorded
(benchlib.Window); /tmp/bench.lock is not taken: this bench reports quality and one wall time, not
speed ratios, and must share the box with other work to finish in time (the load is in the report).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Window, log  # noqa: E402
from generative_bench import code_summary as cs  # noqa: E402
from generative_bench import summary_metrics as sm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TASK = "code-summary"
# The short instruction the specialist is trained and served with.
SYSTEM = "Summarize the Python function in one sentence, as the first line of its docstring."
# The zero-shot base gets a fuller instruction: what to write, in which form, and nothing else.
ZERO_SHOT_SYSTEM = "You are an expert Python programmer who writes clear, concise docstrings."
ZERO_SHOT_USER = ("```python\n{code}```\n\nDescribe in one short sentence what this function does, the way the first line of "
                  "its docstring would (for example \"Return ...\" or \"Create ...\"). Do not write code.")
OTHER_PACKAGES = ("click", "jinja2", "networkx")


def balanced(pairs: list[cs.Pair], n: int, seed: int) -> list[cs.Pair]:
    """Up to n pairs taken round-robin over modules (each module's pairs in a seeded random order)."""
    by_group: dict[str, list[cs.Pair]] = {}
    for p in pairs:
        by_group.setdefault(p.group, []).append(p)
    rng = random.Random(seed)
    queues = []
    for g in sorted(by_group):
        q = by_group[g][:]
        rng.shuffle(q)
        queues.append(q)
    out: list[cs.Pair] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop())
    rng.shuffle(out)
    return out


def token_counter():
    """Token count in the bundled base's own tokenizer (llama.cpp, vocabulary only: no weights loaded)."""
    from llama_cpp import Llama

    from rightmodel.generative.base_model import bundled_gguf

    llm = Llama(str(bundled_gguf()), vocab_only=True, verbose=False)
    return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False))


def conversation(p: cs.Pair, zero_shot: bool = False) -> list[dict[str, str]]:
    if zero_shot:
        return [{"role": "system", "content": ZERO_SHOT_SYSTEM}, {"role": "user", "content": ZERO_SHOT_USER.format(code=p.code)},
                {"role": "assistant", "content": p.summary}]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p.code}, {"role": "assistant", "content": p.summary}]


def write_jsonl(path: Path, pairs: list[cs.Pair]) -> Path:
    with path.open("w") as f:
        for p in pairs:
            f.write(json.dumps({"system": SYSTEM, "prompt": p.code, "answer": p.summary, "module": p.module, "function": p.qualname}) + "\n")
    return path


def clusters(pairs: list[cs.Pair]) -> list[str]:
    """Bootstrap units: the split unit (top-level module) on the standard library; a package mined as
    one group (another code base) is resampled by its modules instead."""
    return [q.module if q.module.startswith(q.group + ".") else q.group for q in pairs]


def score(answers: list[str], pairs: list[cs.Pair]) -> dict:
    """BLEU (mean, bootstrap CI over modules) and chrF of answers (first sentence kept) against the references."""
    hyps = [cs.first_sentence(a) for a in answers]
    refs = [p.summary for p in pairs]
    bleu = [sm.smoothed_bleu4(h, r) for h, r in zip(hyps, refs)]
    low, high = sm.cluster_bootstrap(bleu, clusters(pairs))
    return {"n": len(pairs), "modules": len(set(clusters(pairs))), "bleu4": sum(bleu) / len(bleu), "bleu4_ci95": [low, high],
            "chrf": sm.chrf(hyps, refs), "per_item_bleu4": [round(b, 2) for b in bleu],
            "examples": [{"function": f"{p.module}.{p.qualname}", "reference": p.summary, "answer": h} for p, h in list(zip(pairs, hyps))[:10]]}


def generate(gguf: Path, pairs: list[cs.Pair], zero_shot: bool, tau: float, name: str) -> dict:
    """Greedy answers of a GGUF model (1 thread), scored; each with its acceptance score."""
    from rightmodel.generative.acceptance import QualityBar
    from rightmodel.generative.calibrate import answer_all

    started = time.perf_counter()
    judged = answer_all(gguf, [conversation(p, zero_shot) for p in pairs], QualityBar("chrf", tau), max_tokens=64, threads=1,
                        progress=lambda i, n: log(f"  {name}: {i}/{n}") if i % 50 == 0 else None)
    res = score([j.answer for j in judged], pairs)
    res.update(seconds=round(time.perf_counter() - started, 1), model=gguf.name, scores=[round(j.score, 5) for j in judged],
               raw_answers=[j.answer for j in judged])
    return res


def cached(work: Path, name: str, reuse: bool, make) -> dict:
    path = work / f"{name}.json"
    if reuse and path.is_file():
        log(f"reusing {path}")
        return json.loads(path.read_text())
    window = Window(os.getpid())
    result = make()
    result["machine"] = window.close()  # kept with the result, so a --reuse run still reports the load it ran under
    path.write_text(json.dumps(result))
    return result


def paired_gain(a: dict, b: dict, pairs: list[cs.Pair]) -> dict:
    """Mean BLEU of a minus b on the same functions, with a bootstrap interval over modules."""
    diff = [x - y for x, y in zip(a["per_item_bleu4"], b["per_item_bleu4"])]
    low, high = sm.cluster_bootstrap(diff, clusters(pairs))
    return {"mean": sum(diff) / len(diff), "ci95": [low, high]}


def at_threshold(res: dict, pairs: list[cs.Pair], threshold: float, tau: float) -> dict:
    """Coverage and quality (chrF bar pass rate, BLEU) of the answers whose acceptance score clears the threshold."""
    hyps = [cs.first_sentence(a) for a in res["raw_answers"]]
    passes = [sm.sentence_chrf(h, p.summary) / 100 >= tau - 1e-12 for h, p in zip(hyps, pairs)]
    keep = [i for i, s in enumerate(res["scores"]) if s >= threshold]
    n = len(pairs)
    return {"n": n, "accepted": len(keep), "coverage": len(keep) / n, "pass_rate_all": sum(passes) / n,
            "pass_rate_accepted": sum(passes[i] for i in keep) / len(keep) if keep else None,
            "bleu4_accepted": sum(res["per_item_bleu4"][i] for i in keep) / len(keep) if keep else None}


def spearman(res: dict, pairs: list[cs.Pair]) -> float:
    """Rank correlation of the acceptance score with the answer's sentence chrF: how much the score knows."""
    from scipy.stats import spearmanr

    quality = [sm.sentence_chrf(cs.first_sentence(a), q.summary) for a, q in zip(res["raw_answers"], pairs)]
    return float(spearmanr(res["scores"], quality).statistic)


def bar_sweep(cal: dict, cal_pairs: list[cs.Pair], evals: dict[str, tuple[dict, list[cs.Pair]]], taus: list[float],
              target: float) -> list[dict]:
    """The same calibration rule at several quality bars (chrF ≥ tau): the threshold each gives on the
    calibration answers, and coverage and quality at it on each evaluated set."""
    import numpy as np

    from rightmodel.routing.calibration import calibrate_threshold

    rows = []
    for tau in taus:
        right = [sm.sentence_chrf(cs.first_sentence(a), q.summary) / 100 >= tau - 1e-12 for a, q in zip(cal["raw_answers"], cal_pairs)]
        chosen = calibrate_threshold(np.array(cal["scores"]), np.array(right), target, method="expected")
        accepted = [r for r, s in zip(right, cal["scores"]) if s >= chosen.threshold]
        rows.append({"tau": tau, "threshold": chosen.threshold, "calibration": {
            "n": len(right), "pass_rate_all": sum(right) / len(right), "coverage": len(accepted) / len(right),
            "pass_rate_accepted": sum(accepted) / len(accepted) if accepted else None},
            **{name: at_threshold(r, qs, chosen.threshold, tau) for name, (r, qs) in evals.items()}})
    return rows


def train(work: Path, paths: dict[str, Path], args) -> tuple[subprocess.Popen, Callable[[], float]]:
    argv = ["nice", "-n", "10", sys.executable, "-m", "rightmodel.cli", "train", TASK, "--kind", "generate", "--data", str(paths["train"]),
            "--calibration-data", str(paths["calibration"]), "--quality", f"chrf>={args.tau}", "--target-accuracy", str(args.target),
            "--epochs", str(args.epochs), "--lr", str(args.lr), "--seed", "0", "--out", str(work / TASK), "--home", str(work / "home")]
    log("training: " + " ".join(argv[5:]))
    logf = (work / "train.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env)
    ended: list[float] = []  # the command's own end, while the baselines still run
    waiter = threading.Thread(target=lambda: (proc.wait(), ended.append(time.perf_counter())), daemon=True)
    waiter.start()
    return proc, lambda: (waiter.join(), ended[0] - started)[1]


def other_roots(names: list[str]) -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    return [site / n for n in names if (site / n).is_dir()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/rm-codesum"))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--source", type=Path, default=None, help="source tree to mine (default: this interpreter's standard library)")
    p.add_argument("--other", nargs="*", default=list(OTHER_PACKAGES), help="installed packages scored as unseen code bases")
    p.add_argument("--max-tokens", type=int, default=192, help="longest function source kept, in the base model's tokens")
    p.add_argument("--n-train", type=int, default=480)
    p.add_argument("--n-cal", type=int, default=200)
    p.add_argument("--n-test", type=int, default=250)
    p.add_argument("--n-other", type=int, default=150)
    p.add_argument("--tau", type=float, default=0.5, help="quality bar: an answer is right when its sentence chrF ≥ tau (0..1)")
    p.add_argument("--sweep", type=float, nargs="*", default=[0.3, 0.4], help="more quality bars (tau) to calibrate at, from the same answers")
    p.add_argument("--target", type=float, default=0.8, help="share of accepted answers that must pass the bar (calibration target)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--reuse", action="store_true", help="keep a finished training run in --work and cached evaluations")
    p.add_argument("--training-load", default=None, help="with --reuse: how loaded the box was during the reused training run")
    p.add_argument("--note", default=None, help="with --reuse: how the reused steps were made (printed under the command)")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    from rightmodel.generative.base_model import bundled_gguf

    res: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "argv": sys.argv[1:], "cpus": os.cpu_count(),
                 "python": sys.version.split()[0], "tau": args.tau, "target": args.target, "note": args.note}
    count = token_counter()
    source = args.source or cs.stdlib_root()
    mined = cs.mine(source, count=count, max_tokens=args.max_tokens)
    splits = cs.split_pairs(mined)
    sample = {"train": balanced(splits["train"], args.n_train, 1), "calibration": balanced(splits["calibration"], args.n_cal, 2),
              "test": balanced(splits["test"], args.n_test, 3)}
    assert not ({q.group for q in sample["train"]} & {q.group for q in sample["test"]}), "a module in two splits"
    res["data"] = {"source": str(source), "max_tokens": args.max_tokens, "mined": len(mined),
                   "splits": {k: {"pairs": len(v), "modules": len({q.group for q in v}), "sampled": len(sample[k]),
                                  "sampled_modules": len({q.group for q in sample[k]})} for k, v in splits.items()},
                   "test_modules": sorted({q.group for q in sample["test"]})}
    others = [q for root in other_roots(args.other) for q in cs.mine(root, count=count, max_tokens=args.max_tokens, prefix=root.name)]
    other = balanced(others, args.n_other, 4)
    res["data"]["other"] = {"packages": args.other, "mined": len(others), "sampled": len(other),
                            "per_package": {g: sum(q.group == g for q in other) for g in sorted({q.group for q in other})}}
    log(f"mined {len(mined)} pairs: " + ", ".join(f"{k} {v['pairs']} ({v['modules']} modules)" for k, v in res["data"]["splits"].items())
        + f"; other code bases {len(others)}")
    paths = {k: write_jsonl(args.work / f"{k}.jsonl", v) for k, v in sample.items()}
    write_jsonl(args.work / "other.jsonl", other)

    out = args.work / TASK
    proc = None
    if args.reuse and (out / "card.json").is_file() and (out / "wall.json").is_file():
        res["training_reused"], res["training_load_note"] = True, args.training_load
    else:
        proc, wall_s = train(args.work, paths, args)
    os.nice(15)  # the baselines below yield to training (nice 10) and to everyone else
    res["baselines_beside_training"] = proc is not None and not (args.reuse and (args.work / "zero-shot-test.json").is_file())
    window = Window(os.getpid())
    res["name_split"] = {"test": score([cs.name_words(q.name) for q in sample["test"]], sample["test"]),
                         "other": score([cs.name_words(q.name) for q in other], other)}
    log(f"name-split baseline: test BLEU {res['name_split']['test']['bleu4']:.2f}")
    base = bundled_gguf()
    res["zero_shot"] = {"test": cached(args.work, "zero-shot-test", args.reuse, lambda: generate(base, sample["test"], True, args.tau, "zero-shot test")),
                        "other": cached(args.work, "zero-shot-other", args.reuse, lambda: generate(base, other, True, args.tau, "zero-shot other"))}
    log(f"zero-shot base: test BLEU {res['zero_shot']['test']['bleu4']:.2f}")
    if proc is not None:
        log("baselines done; waiting for training")
        rc = proc.wait()
        wall = wall_s()
        if rc != 0:
            raise SystemExit(f"training failed ({rc}): {(args.work / 'train.log').read_text()[-3000:]}")
        # the baselines ran beside it: counted as this bench's own load, not as others'
        (out / "wall.json").write_text(json.dumps({"train_command_wall_s": wall, "machine": window.close()}))
    card = json.loads((out / "card.json").read_text())
    wall = json.loads((out / "wall.json").read_text())
    res["training_machine"] = wall.pop("machine", None)
    res["training"] = {**card["training"], **wall, "lora": card["lora"], "data": card["data"]}
    res["acceptance"] = card["acceptance"]
    res["files"] = card["files"]

    gguf = out / f"{TASK}.q4_k_m.gguf"
    res["fine_tuned"] = {"test": cached(args.work, "fine-tuned-test", args.reuse, lambda: generate(gguf, sample["test"], False, args.tau, "fine-tuned test")),
                         "other": cached(args.work, "fine-tuned-other", args.reuse, lambda: generate(gguf, other, False, args.tau, "fine-tuned other"))}
    res["fine_tuned"]["calibration"] = cached(args.work, "fine-tuned-calibration", args.reuse,
                                              lambda: generate(gguf, sample["calibration"], False, args.tau, "fine-tuned calibration"))
    res["eval_machine"] = res["fine_tuned"]["test"].get("machine")
    res["bar_sweep"] = bar_sweep(res["fine_tuned"]["calibration"], sample["calibration"],
                                 {"test": (res["fine_tuned"]["test"], sample["test"]), "other": (res["fine_tuned"]["other"], other)},
                                 sorted({*args.sweep, args.tau}), args.target)
    threshold = card["acceptance"]["threshold"]
    res["at_threshold"] = {"test": at_threshold(res["fine_tuned"]["test"], sample["test"], threshold, args.tau),
                           "other": at_threshold(res["fine_tuned"]["other"], other, threshold, args.tau)}
    res["at_threshold"]["name_split_pass_rate"] = sum(
        sm.sentence_chrf(cs.name_words(q.name), q.summary) / 100 >= args.tau - 1e-12 for q in sample["test"]) / len(sample["test"])
    res["score_vs_quality"] = {k: spearman(res["fine_tuned"][k], qs) for k, qs in
                               (("calibration", sample["calibration"]), ("test", sample["test"]), ("other", other))}
    res["gain"] = {"test_vs_zero_shot": paired_gain(res["fine_tuned"]["test"], res["zero_shot"]["test"], sample["test"]),
                   "test_vs_name_split": paired_gain(res["fine_tuned"]["test"], res["name_split"]["test"], sample["test"]),
                   "other_vs_zero_shot": paired_gain(res["fine_tuned"]["other"], res["zero_shot"]["other"], other),
                   "other_vs_name_split": paired_gain(res["fine_tuned"]["other"], res["name_split"]["other"], other)}
    res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "code_summary.json").write_text(json.dumps(res, indent=1) + "\n")
    from generative_bench.summary_report import markdown

    (args.out / "code_summary.md").write_text(markdown(res))
    log(f"wrote {args.out / 'code_summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
