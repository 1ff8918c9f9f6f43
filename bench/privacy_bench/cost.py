"""Detection cost by text length, for several kinds of text: what a client can make the gateway pay.

Each kind is built at each size from distinct material where the corpus allows (PII-dense support
texts are drawn fresh until the size is reached; the review corpus is repeated only past its own
length; the numeric table and the repeated sentence are what they say). Time is the best of
`repeats` calls on a pinned core (spread over the run; the median is shown too), the tagger's per-word cache cleared before each (a warm cache
would flatter repeated material). Linear means ms per KB at the largest size within 2x of the smallest.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from privacy_bench.dataset import Sample, kb_from_labelled

SIZES_KB = (10, 100, 1000)
SENTENCE = "John Smith met Anna. "  # issue 17's quadratic case: a name every 10 characters


def pii_dense(samples: list[Sample], seed: int) -> Callable[[int], str]:
    """Support texts with e-mails, cards, IBANs, phones, names: ~1 KB pieces drawn until n bytes."""
    pool = [s for s in samples if not s.negative]

    def make(n: int) -> str:
        rng, parts, size = random.Random(seed + n), [], 0
        while size < n:
            parts.append(kb_from_labelled(pool, rng).text)
            size += len(parts[-1]) + 2
        return "\n\n".join(parts)[:n]
    return make


def prose(reviews: list[str], seed: int) -> Callable[[int], str]:
    """Review sentences in a seeded order (repeated once the corpus runs out)."""
    def make(n: int) -> str:
        rng, parts, size, order = random.Random(seed + n), [], 0, []
        while size < n:
            if not order:
                order = list(reviews)
                rng.shuffle(order)
            parts.append(order.pop())
            size += len(parts[-1]) + 1
        return " ".join(parts)[:n]
    return make


def numeric_table(seed: int) -> Callable[[int], str]:
    """A CSV export: ids, amounts, 7-10 digit numbers and order numbers (every row a phone candidate or three)."""
    def make(n: int) -> str:
        rng, rows, size = random.Random(seed + n), [], 0
        while size < n:
            rows.append(f"{rng.randint(10**8, 10**10)},{rng.randint(1, 999)}.{rng.randint(0, 99):02d},"
                        f"{rng.randint(10**6, 10**9)},order {rng.randint(10**5, 10**7)}\n")
            size += len(rows[-1])
        return "".join(rows)[:n]
    return make


def repeated_sentence(n: int) -> str:
    return (SENTENCE * (n // len(SENTENCE) + 1))[:n]


def kinds(samples: list[Sample], reviews: list[str], seed: int) -> dict[str, Callable[[int], str]]:
    return {
        "PII-dense support texts": pii_dense(samples, seed),
        "review prose": prose(reviews, seed),
        "numeric table (CSV)": numeric_table(seed),
        f"'{SENTENCE.strip()}' repeated": repeated_sentence,
    }


def scaling(det: Any, makers: dict[str, Callable[[int], str]], sizes: tuple[int, ...] = SIZES_KB,
            repeats: int = 3) -> dict[str, Any]:
    """Per kind and size: best (and median) wall and CPU seconds of one detect() call, ms per KB,
    findings. The repeats are spread over the run (round robin over every kind and size), so a
    slow spell of a shared machine weighs on one call of each cell, not on all of one cell's."""
    texts = {(kind, kb): make(kb * 1024) for kind, make in makers.items() for kb in sizes}
    walls: dict[tuple[str, int], list[float]] = {key: [] for key in texts}
    cpus: dict[tuple[str, int], list[float]] = {key: [] for key in texts}
    found: dict[tuple[str, int], int] = {}
    for _ in range(repeats):
        for key, text in texts.items():
            det.clear_cache()
            w0, c0 = time.perf_counter(), time.process_time()
            found[key] = len(det.detect(text))
            walls[key].append(time.perf_counter() - w0)
            cpus[key].append(time.process_time() - c0)
    out: dict[str, Any] = {}
    for kind in makers:
        rows: dict[str, Any] = {}
        for kb in sizes:
            w, c = walls[(kind, kb)], cpus[(kind, kb)]
            rows[f"{kb}KB"] = {"seconds": round(min(w), 4), "cpu_seconds": round(min(c), 4),
                               "median_seconds": round(statistics.median(w), 4),
                               "ms_per_kb": round(min(w) * 1000 / kb, 3), "findings": found[(kind, kb)]}
        first, last = rows[f"{sizes[0]}KB"]["ms_per_kb"], rows[f"{sizes[-1]}KB"]["ms_per_kb"]
        rows["per_kb_ratio_largest_to_smallest"] = round(last / first, 2) if first else None
        out[kind] = rows
    return out


def render(sc: dict[str, Any], sizes: tuple[int, ...] = SIZES_KB) -> list[str]:
    """The 'cost by text length' table: one row per kind."""
    head = " | ".join(f"{kb} KB: s (ms/KB)" for kb in sizes)
    last = f"{sizes[-1]}KB"
    lines = ["| text | " + head + " | median s at the largest | CPU s at the largest | findings at the largest | ms/KB at the largest ÷ at the smallest |",
             "|---|" + "---|" * (len(sizes) + 4)]
    for kind, rows in sc.items():
        cells = " | ".join(f"{rows[f'{kb}KB']['seconds']:.3f} ({rows[f'{kb}KB']['ms_per_kb']:.2f})" for kb in sizes)
        lines.append(f"| {kind} | {cells} | {rows[last].get('median_seconds', float('nan')):.3f} | {rows[last]['cpu_seconds']:.3f} | {rows[last]['findings']:,} | "
                     f"{rows['per_kb_ratio_largest_to_smallest']} |")
    return lines
