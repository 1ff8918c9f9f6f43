"""Latency and throughput of a served specialist, measured the way the gateway will call it."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np


def measure_latency(
    predict: Callable[[Sequence[str]], object],
    texts: Sequence[str],
    singles: int = 200,
    batch_size: int = 64,
    max_batch_items: int = 2000,
) -> dict:
    """Single-request p50/p99 (ms) over `singles` calls and batched throughput (texts/s).

    `predict` takes a list of texts and batches it itself (batches of `batch_size`)."""
    if not texts:
        return {}
    sample = [texts[i % len(texts)] for i in range(singles)]
    predict(sample[:5])  # warm-up: first ORT runs allocate
    single_ms = []
    for text in sample:
        start = time.perf_counter()
        predict([text])
        single_ms.append((time.perf_counter() - start) * 1000)
    batch_texts = list(texts[:max_batch_items])
    start = time.perf_counter()
    predict(batch_texts)  # one call: the runtime sorts by length and batches internally
    elapsed = time.perf_counter() - start
    return {
        "single_p50_ms": round(float(np.percentile(single_ms, 50)), 3),
        "single_p99_ms": round(float(np.percentile(single_ms, 99)), 3),
        "batched_throughput_per_s": round(len(batch_texts) / elapsed, 1),
        "batch_size": batch_size,
        "singles_measured": singles,
        "batched_items": len(batch_texts),
    }
