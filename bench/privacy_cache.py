"""Benchmark: what the detector's memo of findings (privacy.cache_entries) saves on task traffic.

Task traffic repeats a system prompt on every request and varies the user's message. Here: 5
tasks, each with a system prompt of ~1 KB built from the shipped instruction prompts
(bench/privacy/instructions.txt, PII-free), and user messages from the labelled synthetic texts
(bench/privacy_bench/dataset.py, with names, e-mails, cards...). 400 chat requests, tasks in turn.
Two gates in one process on one core, interleaved request by request: the memo on (the default,
4,096 entries) and off (`cache_entries: 0`); each starts with the tagger's word caches cleared
once, then both keep whatever they learn, as a gateway does. A second run sends 400 requests of
distinct ~1 KB texts only (nothing repeats): what the memo costs when it never hits.

Usage: python bench/privacy_cache.py  (about a minute)
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: privacy_bench

from privacy_bench.common import ROOT  # noqa: E402
from privacy_bench.dataset import build_dataset, kb_texts, load_reviews  # noqa: E402
from privacy_bench.unseen import instruction_prompts  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def task_requests(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    prompts = instruction_prompts()
    systems = []
    for _ in range(5):
        parts: list[str] = []
        while sum(len(p) for p in parts) < 1000:
            parts.append(rng.choice(prompts))
        systems.append("\n\n".join(parts))
    samples, _ = build_dataset(2 * n, 0.15, 17)
    users = [s.text for s in samples]
    return [{"model": "m", "messages": [{"role": "system", "content": systems[i % 5]}, {"role": "user", "content": users[i]}]}
            for i in range(n)]


def distinct_requests(n: int) -> list[dict]:
    samples, _ = build_dataset(600, 0.15, 41)
    return [{"model": "m", "messages": [{"role": "user", "content": kt.text}]} for kt in kb_texts(n, samples, load_reviews(), 43)][:n]


def run(bodies: list[dict]) -> dict:
    from rightmodel.privacy.config import PrivacyConfig
    from rightmodel.privacy.gate import PrivacyGate

    from privacy_bench.detectors import _cache_clearer

    gates = {"memo on": PrivacyGate(PrivacyConfig()), "memo off": PrivacyGate(PrivacyConfig(cache_entries=0))}
    for g in gates.values():
        _cache_clearer(g.detector)[0]()
    ms: dict[str, list[float]] = {k: [] for k in gates}
    same = True
    names = list(gates)
    for i, body in enumerate(bodies):
        results = {}
        for k in (names if i % 2 == 0 else names[::-1]):
            b = json.loads(json.dumps(body))
            t = time.perf_counter()
            results[k] = gates[k].inspect(b, "redact")
            ms[k].append((time.perf_counter() - t) * 1000)
        a, b2 = (results[k].fields for k in names)
        same &= [[(e.start, e.end, e.type) for e in f.entities] for f in a] == [[(e.start, e.end, e.type) for e in f.entities] for f in b2]
    cache = gates["memo on"].detector.cache
    out = {k: {"p50_ms": round(statistics.median(v), 3), "mean_ms": round(statistics.mean(v), 3),
               "p99_ms": round(sorted(v)[int(0.99 * len(v)) - 1], 3)} for k, v in ms.items()}
    out["on_over_off_p50"] = round(out["memo on"]["p50_ms"] / out["memo off"]["p50_ms"], 3)
    out["paired_median_saving_ms"] = round(statistics.median(b - a for a, b in zip(ms["memo on"], ms["memo off"])), 3)
    out["same_findings"] = bool(same)
    out["hits"], out["misses"] = cache.hits, cache.misses
    return out


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    started = time.time()
    result = {"measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": "python bench/privacy_cache.py", "task_traffic": run(task_requests(400)),
              "distinct_texts": run(distinct_requests(400))}
    result["seconds"] = round(time.time() - started, 1)
    out = RESULTS / "privacy-cache.json"
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(render(result))
    print(render(result))


def render(r: dict) -> str:
    def row(name: str, block: dict) -> str:
        on, off = block["memo on"], block["memo off"]
        return (f"| {name} | {off['p50_ms']} / {off['p99_ms']} | {on['p50_ms']} / {on['p99_ms']} | {block['on_over_off_p50']} | "
                f"{block['paired_median_saving_ms']} | {block['hits']} / {block['misses']} | {'yes' if block['same_findings'] else '**no**'} |")

    return f"""# The detector's memo of findings on task traffic (issue 16)

Measured {r['measured_at']} with `{r['command']}` ({r['seconds']} s), one core, `PrivacyGate.inspect` per
request (every text field of a chat body, as the gateway runs it), the two gates interleaved
request by request. *Task traffic*: 400 requests of 5 tasks in turn, each a ~1 KB PII-free system
prompt (instruction prompts joined) repeated on every request of its task plus a distinct user
message with personal data. *Distinct texts*: 400 requests of one ~1 KB text each, none repeated.

| traffic | memo off p50 / p99 ms | memo on p50 / p99 ms | on ÷ off (p50) | median paired saving ms | memo hits / misses | same findings |
|---|---|---|---|---|---|---|
{row("task traffic", r["task_traffic"])}
{row("distinct texts", r["distinct_texts"])}

The memo holds a 16-byte digest of each text and its findings (spans, types, scores), never the
text; a hit charges the second reader's budget what the read took (privacy/findings_cache.py).
"""


if __name__ == "__main__":
    main()
