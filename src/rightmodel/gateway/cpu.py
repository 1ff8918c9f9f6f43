"""CPU work off the event loop, bounded: a fixed pool of threads, per-tenant shares, deadlines.

Why not `run_in_executor(None, ...)`: the loop's default executor is shared by everything (ledger,
key store, feedback lookups), so seven slow requests filled it and every other request waited
behind them (issue 17); its threads are joined at exit, so abandoned work held shutdown for
minutes; and a thread nobody waits for any more kept computing. Here:

- `workers` daemon threads take units of work from one queue, smallest `weight` first (a request's
  size: a one-text request overtakes the chunks of a 2,000-text one), FIFO among equals;
- a tenant holds at most `per_tenant` units queued or running at once (an open gateway's callers
  are all one tenant, `None`), so one tenant cannot fill the pool; the others queue by weight;
- a unit past its `deadline` (a `time.monotonic()` value) is not started; the caller's wait ends
  with `DeadlineExceeded` at the deadline, or `CancelledError` if the caller is cancelled;
- work that is already running is abandoned, not interrupted: a function that accepts a
  `cancelled` keyword gets a `() -> bool` to check between chunks (true once its caller gave up,
  its deadline passed or `cancel()` says so) and should stop (raise `WorkCancelled`, or return);
  the tenant's share is given back only when the thread is really free;
- threads are daemons: nothing at exit waits for abandoned work (gateway/server.py).

Interface: `await pool.run(fn, *args, tenant=..., deadline=..., cancel=..., weight=...)`. Big jobs
call it once per chunk (gateway/batches.py), so other requests get threads between chunks.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rightmodel.bounds import DeadlineExceeded, WorkCancelled

log = logging.getLogger("rightmodel.gateway")
T = TypeVar("T")
Cancelled = Callable[[], bool]
_SIGNATURES: dict[Any, bool] = {}


def accepts_cancelled(fn: Callable[..., Any]) -> bool:
    """Whether `fn` takes a `cancelled` keyword (cached per function)."""
    key = getattr(fn, "__func__", fn)
    known = _SIGNATURES.get(key)
    if known is None:
        try:
            known = "cancelled" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            known = False
        if len(_SIGNATURES) < 4096:
            _SIGNATURES[key] = known
    return known


@dataclass(eq=False)
class _Unit:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    tenant: Hashable
    deadline: float | None
    cancel: Cancelled | None
    abandoned: bool = False

    def cancelled(self) -> bool:
        """Whether the unit should stop: callable from its worker thread, at any time."""
        if self.abandoned:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        return self.cancel is not None and bool(self.cancel())


@dataclass
class _Share:
    """One tenant's units in the pool, and the ones waiting for a place."""

    active: int = 0
    waiting: list[tuple[float, int, asyncio.Future]] = field(default_factory=list)


class CpuPool:
    """A bounded pool for blocking CPU work (one per gateway, in `GatewayState.cpu`)."""

    def __init__(self, workers: int | None = None, per_tenant: int | None = None, name: str = "rightmodel-cpu") -> None:
        self.workers = workers or os.cpu_count() or 1
        self.per_tenant = per_tenant or max(1, self.workers // 2)
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self._shares: dict[Hashable, _Share] = {}
        self._running: set[_Unit] = set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    # -- the interface ------------------------------------------------------------------------

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        tenant: Hashable = None,
        deadline: float | None = None,
        cancel: Cancelled | None = None,
        weight: float = 1.0,
    ) -> T:
        """`fn(*args)` (plus `cancelled=` if it takes it) in a worker thread; its result.

        Raises `DeadlineExceeded` when `deadline` (time.monotonic()) passes first, whatever `fn`
        was doing (it is abandoned and told through `cancelled`), and whatever `fn` raised.
        """
        loop = asyncio.get_running_loop()
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the deadline passed before the work could start")
        unit: _Unit | None = None
        try:
            async with asyncio.timeout(remaining) as scope:
                await self._enter(tenant, weight)
                unit = _Unit(fn, args, loop, loop.create_future(), tenant, deadline, cancel)
                self._queue.put((weight, next(self._seq), unit))
                return await unit.future
        except TimeoutError:
            if scope.expired():
                raise DeadlineExceeded("the work did not finish before its deadline") from None
            raise
        finally:
            if unit is not None and (unit.future.cancelled() or not unit.future.done()):
                unit.abandoned = True  # its thread (if it started) sees cancelled() and gives the share back when done

    def stats(self) -> dict[str, int]:
        """Queue depth, busy threads and threads still running abandoned work (for /metrics)."""
        with self._lock:
            busy, abandoned = len(self._running), sum(1 for u in self._running if u.abandoned)
        return {"workers": self.workers, "queued": self._queue.qsize(), "busy": busy, "abandoned_running": abandoned}

    def close(self) -> None:
        """Stop the threads once they are free (never waits: abandoned work may run on)."""
        for _ in self._threads:
            self._queue.put((float("inf"), next(self._seq), None))

    # -- tenant shares (event loop only) ------------------------------------------------------

    async def _enter(self, tenant: Hashable, weight: float) -> None:
        share = self._shares.get(tenant)
        if share is None:
            share = self._shares[tenant] = _Share()
        if share.active < self.per_tenant and not share.waiting:
            share.active += 1
            return
        ticket: asyncio.Future = asyncio.get_running_loop().create_future()
        heapq.heappush(share.waiting, (weight, next(self._seq), ticket))
        try:
            await ticket  # granted by _leave, which passes its place on
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._leave(tenant)  # granted as we were cancelled: hand it on
            raise

    def _leave(self, tenant: Hashable) -> None:
        share = self._shares[tenant]
        while share.waiting:
            _, _, ticket = heapq.heappop(share.waiting)
            if not ticket.done():
                ticket.set_result(None)  # the place goes straight to the next waiter
                return
        share.active -= 1
        if share.active == 0:
            del self._shares[tenant]

    # -- worker threads -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            _, _, unit = self._queue.get()
            if unit is None:
                return
            result: Any = None
            error: BaseException | None = None
            if unit.cancelled():
                error = DeadlineExceeded("not started: the caller gave up or the deadline passed")
            else:
                with self._lock:
                    self._running.add(unit)
                try:
                    result = unit.fn(*unit.args, cancelled=unit.cancelled) if accepts_cancelled(unit.fn) else unit.fn(*unit.args)
                except BaseException as exc:  # handed to the caller (or dropped if it left)
                    error = exc
                finally:
                    with self._lock:
                        self._running.discard(unit)
            try:
                unit.loop.call_soon_threadsafe(self._finish, unit, result, error)
            except RuntimeError:  # the loop is closed: the process is stopping
                pass

    def _finish(self, unit: _Unit, result: Any, error: BaseException | None) -> None:
        self._leave(unit.tenant)
        future = unit.future
        if future.done():  # the caller left: drop the outcome, log a real failure once
            if error is not None and not isinstance(error, (WorkCancelled, DeadlineExceeded)):
                log.warning("abandoned CPU work failed after its caller left: %s: %s", type(error).__name__, error)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


async def in_own_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a new daemon thread: for shutdown steps, which must not queue behind work
    that holds the default executor's threads (or this pool's)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def deliver(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # delivered to the awaiting coroutine
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(deliver, result, error)
        except RuntimeError:  # the loop is gone
            pass

    threading.Thread(target=target, name=f"rightmodel-{getattr(fn, '__name__', 'step')}", daemon=True).start()
    return await future
