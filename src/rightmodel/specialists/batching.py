"""Micro-batching: concurrent single-text requests share one ONNX Runtime call.

A batch of 32 short texts costs little more than one on CPU. The worker never idles waiting for
company by default: it takes everything queued the moment it is free, so a lone request runs at
once and, under load, requests that arrive during one batch form the next. `max_wait_ms` > 0
adds an explicit wait for company (higher throughput at the cost of latency). Inference runs on
one worker thread, keeping the event loop free and ONNX Runtime's own thread pool as the only
source of parallelism.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rightmodel.specialists.runtime import SpecialistRuntime

log = logging.getLogger("rightmodel.specialists")

BatchObserver = Callable[[int], None]  # called with each batch's size, on the event loop


@dataclass
class BatchStats:
    """Counters the gateway exports as metrics (batch sizes, queue depth)."""

    batches: int = 0
    items: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, size: int) -> None:
        self.batches += 1
        self.items += size
        if len(self.sizes) < 10_000:
            self.sizes.append(size)


class MicroBatcher:
    """Async front of a SpecialistRuntime; create and use it inside one event loop.

    `observer` (optional, settable after construction) is called with the size of every batch
    before it runs, e.g. the gateway's metrics histogram; it must be cheap and is never allowed
    to stop the worker. The queue depth is `queue_depth`, read whenever wanted.
    """

    def __init__(self, runtime: SpecialistRuntime, max_batch: int = 64, max_wait_ms: float = 0.0, observer: BatchObserver | None = None) -> None:
        self.runtime = runtime
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self.observer = observer
        self._queue: asyncio.Queue[tuple[str, asyncio.Future]] = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="specialist")
        self._worker: asyncio.Task | None = None
        self.pending = 0  # texts asked for and not yet answered (a version being replaced drains to 0)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def predict_proba(self, text: str) -> np.ndarray:
        """Probabilities for one text, computed in whatever batch it lands in."""
        probs, _ = await self.predict_proba_timed(text)
        return probs

    async def predict_proba_timed(self, text: str) -> tuple[np.ndarray, float]:
        """Probabilities plus this text's share of its batch's compute seconds (for local cost)."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((text, future))
        self.pending += 1
        try:
            return await future
        finally:
            self.pending -= 1

    def _compute(self, texts: list[str]) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        probs = self.runtime.predict_proba(texts)
        return probs, time.perf_counter() - start

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            deadline = loop.time() + self.max_wait
            while self.max_wait > 0 and len(batch) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            live = [(text, fut) for text, fut in batch if not fut.cancelled()]
            if not live:
                continue
            self.stats.record(len(live))
            if self.observer is not None:
                try:
                    self.observer(len(live))
                except Exception:  # an observer's bug must not stop every specialist request
                    log.exception("micro-batcher observer failed; removing it")
                    self.observer = None
            try:
                probs, seconds = await loop.run_in_executor(self._executor, self._compute, [text for text, _ in live])
            except Exception as exc:  # one bad batch fails its callers, not the worker
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            share = seconds / len(live)
            for row, (_, fut) in zip(probs, live):
                if not fut.done():
                    fut.set_result((row, share))

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)
