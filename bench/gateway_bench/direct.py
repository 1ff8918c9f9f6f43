"""The in-process baseline of bench/gateway.py, run as its child (`--_direct`): the same
specialist called without HTTP, one text at a time (c=1) and through the gateway's MicroBatcher
with c asyncio callers. Split out of gateway.py unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import time
from pathlib import Path

from benchlib import CLK_TCK, Window, cpu_ticks, mib, pct, status_kib
from gateway_bench.harness import TASK


def direct_main(a: argparse.Namespace) -> None:
    """c=1: SpecialistRuntime.predict_proba([text]) in a loop; c>1: MicroBatcher with c asyncio callers."""
    from rightmodel.constellation.config import DefaultsConfig
    from rightmodel.data.shipped import banking77
    from rightmodel.registry import Registry
    from rightmodel.specialists.batching import MicroBatcher
    from rightmodel.specialists.runtime import SpecialistRuntime

    with Registry(Path(a._direct)) as registry:
        path = registry.open(f"{TASK}@production").path
    runtime = SpecialistRuntime(path, threads=a._threads or None)
    texts = banking77("test").texts
    n = len(texts)
    defaults = DefaultsConfig()  # the gateway's batching settings when the constellation does not set them
    out = open(a._out, "w")
    pid = os.getpid()

    def emit(mode: str, conc: int, lat: list[float], secs: float, c0: int, s0: Window, extra: dict) -> None:
        machine, c1 = s0.close(), cpu_ticks(pid)
        lat.sort()
        row = {"mode": mode, "conc": conc, "requests": len(lat), "duration_s": round(secs, 3), "rps": round(len(lat) / secs, 2),
               "p50_ms": round(pct(lat, 50) * 1000, 3), "p90_ms": round(pct(lat, 90) * 1000, 3),
               "p99_ms": round(pct(lat, 99) * 1000, 3), "max_ms": round(lat[-1] * 1000, 3) if lat else 0.0,
               "mean_ms": round(sum(lat) / len(lat) * 1000, 3) if lat else 0.0, "errors": 0,
               "cpu_ms_per_req": round((c1 - c0) * 1000.0 / CLK_TCK / max(1, len(lat)), 3),
               "rss_mib": mib(status_kib(pid, "VmRSS")), "onnx_threads": a._threads or "default", **machine, **extra}
        out.write(json.dumps(row) + "\n")
        out.flush()

    def loop_sync(seconds: float, record: bool):
        lat, i = [], random.randrange(n)
        start = time.perf_counter()
        end = start + seconds
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            runtime.predict_proba([texts[i % n]])
            i += 1
            if record:
                lat.append(time.perf_counter() - t0)
        return lat, time.perf_counter() - start

    async def loop_async(batcher: MicroBatcher, conc: int, seconds: float):
        counter = itertools.count(random.randrange(n))
        lat: list[float] = []
        start = time.perf_counter()
        end = start + seconds

        async def caller():
            while time.perf_counter() < end:
                text = texts[next(counter) % n]
                t0 = time.perf_counter()
                await batcher.predict_proba(text)
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(caller() for _ in range(conc)))
        return lat, time.perf_counter() - start

    async def batched(concs: list[int]):
        batcher = MicroBatcher(runtime, max_batch=defaults.batch_max_size, max_wait_ms=defaults.batch_max_wait_ms)
        try:
            if a.warmup > 0:
                await loop_async(batcher, 16, a.warmup)
            for conc in concs:
                b0, i0 = batcher.stats.batches, batcher.stats.items
                c0, s0 = cpu_ticks(pid), Window(a._root or pid)
                lat, secs = await loop_async(batcher, conc, a.duration)
                nb = batcher.stats.batches - b0
                emit("micro-batcher", conc, lat, secs, c0, s0,
                     {"mean_batch": round((batcher.stats.items - i0) / max(1, nb), 2),
                      "batching": f"max_batch {defaults.batch_max_size}, max_wait_ms {defaults.batch_max_wait_ms}"})
        finally:
            await batcher.close()

    concs = [int(c) for c in a.concurrency.split()]
    if 1 in concs:
        loop_sync(a.warmup, False)
        c0, s0 = cpu_ticks(pid), Window(a._root or pid)
        lat, secs = loop_sync(a.duration, True)
        emit("predict_proba", 1, lat, secs, c0, s0, {})
    rest = concs  # the micro-batcher at c=1 too: what batching alone costs a lone request
    if rest:
        try:
            import uvloop  # the gateway's event loop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(batched(rest))
    out.close()
