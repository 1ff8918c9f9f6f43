"""The gateway's side of capture: hand a pair over in microseconds, write it in the background.

A request never waits on the capture store: ``offer`` puts the pair on a bounded queue and a
daemon thread writes batches (and prunes each task past its retention every ``PRUNE_EVERY_S``).
Captures are training material, not records: when the queue is full or the store is down,
pairs are dropped and counted (``stats``), never retried forever and never a request failure.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from rightmodel.distill.store import Capture, CaptureStore
from rightmodel.errors import ConfigError

log = logging.getLogger("rightmodel.distill")

QUEUE_MAX = 10_000
BATCH_MAX = 500
PRUNE_EVERY_S = 300.0


class Capturer:
    """Background writer of captures for the tasks in ``policies`` (task -> capture config)."""

    def __init__(self, store: CaptureStore, policies: Mapping[str, Any]) -> None:
        self.store = store
        self.policies = dict(policies)
        self._queue: queue.Queue[Capture | None] = queue.Queue(QUEUE_MAX)
        self._thread = threading.Thread(target=self._run, name="rightmodel-capture", daemon=True)
        self._written = self._dropped = self._pruned = 0
        self._last_prune = 0.0
        self._closed = threading.Event()

    def start(self) -> None:
        self.store.migrate()
        self._thread.start()

    def wants(self, task: str | None) -> bool:
        return task is not None and task in self.policies

    def offer(self, capture: Capture) -> None:
        try:
            self._queue.put_nowait(capture)
        except queue.Full:
            self._dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every pair offered so far is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def stats(self) -> dict[str, int]:
        return {"written": self._written, "dropped": self._dropped, "pruned": self._pruned, "queued": self._queue.qsize()}

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self.flush(timeout)
            self._queue.put(None)
            self._thread.join(timeout)
        self.store.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            batch = [item]
            while len(batch) < BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    self._queue.task_done()
                    break
                batch.append(nxt)
            try:
                self._written += self.store.add(batch)
            except ConfigError as exc:
                self._dropped += len(batch)
                log.warning("captures: %d pairs dropped: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
                self.prune()

    def prune(self) -> None:
        self._last_prune = time.monotonic()
        for task, policy in self.policies.items():
            try:
                self._pruned += self.store.prune(task, policy.retention_days, policy.max_rows)
            except ConfigError as exc:
                log.warning("captures: pruning %s failed: %s", task, exc)
