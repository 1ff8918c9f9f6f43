"""Benchmark: what the novelty gate (tasks.X.novelty) adds to a request the specialist answers.

Side by side in one process, on one core, interleaved text by text: the specialist's own
classification of a request (int8 ONNX, what every task request pays) and the gate's work for it
(one embedding with the gateway's fp32 embedder, then the nearest training text). The specialist
is trained here on the shipped Banking77 training split (every intent, 1 epoch: its accuracy does
not matter, only its size and its index); the requests are 300 texts of the official test split.
The nearest-neighbour step is also timed on indexes of 10,000 and 50,000 (the cap) random unit
rows, since its cost grows with the training set.

Usage: python bench/novelty_cost.py [--texts 300]  (about 5 minutes on 2 cores, most of it training)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "bench" / "results"


def train_version(work: Path):
    from rightmodel.data.shipped import banking77
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.train import TrainConfig

    data = banking77("train")
    path = work / "train.jsonl"
    with path.open("w") as f:
        for text, labels in zip(data.texts, data.labels):
            f.write(json.dumps({"text": text, "label": labels[0]}) + "\n")
    registry = Registry(work / "home")
    started = time.time()
    version = build_specialist(BuildRequest(task="banking77", train_path=path, calibration_mode="split",
                                            config=TrainConfig(epochs=1, batch_size=32)), registry, log=lambda m: None)
    return registry, version, time.time() - started


def p50(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS / "novelty-cost.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rightmodel.data.shipped import banking77
    from rightmodel.specialists.embedder import Embedder, ensure_embedder
    from rightmodel.specialists.novelty import NoveltyIndex
    from rightmodel.specialists.runtime import SpecialistRuntime

    work = Path(tempfile.mkdtemp(prefix="novelty-cost-"))
    registry, version, train_s = train_version(work)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # one core for the timings
    runtime = SpecialistRuntime(version.path, threads=1)
    index = NoveltyIndex.load(version.path)
    embedder = Embedder(ensure_embedder(registry.home / "cache"), threads=1)
    texts = banking77("test").texts[: args.texts]
    for t in texts[:20]:  # warm-up
        runtime.predict_proba([t])
        index.nearest(embedder.embed([t]))
    classify, embed, nearest = [], [], []
    for t in texts:
        a = time.perf_counter()
        runtime.predict_proba([t])
        b = time.perf_counter()
        v = embedder.embed([t])
        c = time.perf_counter()
        index.nearest(v)
        d = time.perf_counter()
        classify.append((b - a) * 1000)
        embed.append((c - b) * 1000)
        nearest.append((d - c) * 1000)
    gate = [e + n for e, n in zip(embed, nearest)]
    synthetic = {}
    rng = np.random.default_rng(0)
    queries = embedder.embed(texts[:100])
    for n in (10_000, 50_000):
        rows = rng.normal(size=(n, queries.shape[1])).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        big = NoveltyIndex(rows=rows, calibration=np.zeros(0, np.float32), base_model="bench")
        ms = []
        for q in queries:
            a = time.perf_counter()
            big.nearest(q[None, :])
            ms.append((time.perf_counter() - a) * 1000)
        synthetic[n] = {"nearest_p50_ms": p50(ms), "index_mb": round(rows.nbytes / 2**20, 1)}
    result = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python bench/novelty_cost.py " + " ".join(sys.argv[1:]),
        "train_seconds": round(train_s, 1), "index_rows": int(len(index.rows)),
        "index_mb": round(index.rows.nbytes / 2**20, 1), "texts": len(texts),
        "classify_p50_ms": p50(classify), "embed_p50_ms": p50(embed), "nearest_p50_ms": p50(nearest),
        "gate_p50_ms": p50(gate), "gate_over_classify": round(statistics.median(gate) / statistics.median(classify), 2),
        "synthetic": synthetic,
    }
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))


def render(r: dict) -> str:
    rows = "\n".join(f"| {n:,} random rows | {s['index_mb']} MB | {s['nearest_p50_ms']} ms |" for n, s in r["synthetic"].items())
    return f"""# What the novelty gate adds to a request (issue 22)

Measured {r['measured_at']} with `{r['command']}`, one core, {r['texts']} Banking77 test texts, the
specialist's classification and the gate's work timed for the same text one after the other.
Specialist: Banking77 (all 77 intents, 1 epoch, trained here in {r['train_seconds']} s); its novelty
index holds {r['index_rows']:,} training texts ({r['index_mb']} MB as float32 in memory).

| per request, p50 | ms |
|---|---|
| the specialist's classification (int8 ONNX): every task request pays it | {r['classify_p50_ms']} |
| novelty gate: embedding (fp32 embedder) | {r['embed_p50_ms']} |
| novelty gate: nearest training text | {r['nearest_p50_ms']} |
| **novelty gate, total** | **{r['gate_p50_ms']}** ({r['gate_over_classify']}× the classification) |

The nearest-neighbour step grows with the index (timed alone here, with warm caches; right after
the embedding, as above, the same work takes longer):

| index | memory | nearest p50 |
|---|---|---|
{rows}

The gate runs only for requests the confidence threshold accepts (an unsure one escalates
anyway), and only on tasks that set `novelty`.
"""


if __name__ == "__main__":
    main()
