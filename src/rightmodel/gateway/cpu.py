"""CPU work off the event loop, bounded: a fixed pool of threads, per-tenant shares, deadlines.

Why not `run_in_executor(None, ...)`: the loop's default executor is shared by everything (ledger,
key store, feedback lookups), so seven slow requests filled it and every other request waited
behind them (issue 17); its threads are joined at exit, so abandoned work held shutdown for
minutes; and a thread nobody waits for any more kept computing. Here:

- `workers` daemon threads (default: cores + 1) run units of work handed out by the event loop:
  first the tenant with the fewest units running, then the smallest request (`weight`: a one-text
  request overtakes the chunks of a 2,000-text one), then the oldest;
- a tenant never has more than `per_tenant` units of big requests in threads (default:
  workers - 1), so one tenant cannot fill the pool: another tenant's work, or a small request
  (weight <= 1: one short unit) of any tenant, starts on the thread left free, or on the next one
  to free up (an open gateway's callers are all one tenant, `None`);
- a unit past its `deadline` (a `time.monotonic()` value) is not started; the caller's wait ends
  with `DeadlineExceeded` at the deadline, or `CancelledError` if the caller is cancelled;
- work that is already running is abandoned, not interrupted: a function that accepts a
  `cancelled` keyword gets a `() -> bool` to check between chunks (true once its caller gave up,
  its deadline passed or `cancel()` says so) and should stop by raising `WorkCancelled` (a caller
  still waiting then gets `DeadlineExceeded`); the tenant's share is given back only when the
  thread is really free;
- threads are daemons: nothing at exit waits for abandoned work (gateway/server.py).

Interface: `await pool.run(fn, *args, tenant=..., deadline=..., cancel=..., weight=...)`. Big jobs
call it once per chunk (gateway/batches.py), so other requests get threads between chunks.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from rightmodel.bounds import DeadlineExceeded, WorkCancelled

log = logging.getLogger("rightmodel.gateway")
T = TypeVar("T")
Cancelled = Callable[[], bool]
SMALL = 1.0  # weight of a unit that may use any free thread, its tenant's share used up or not
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
    weight: float
    seq: int
    abandoned: bool = False

    def cancelled(self) -> bool:
        """Whether the unit should stop: callable from its worker thread, at any time."""
        if self.abandoned:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        return self.cancel is not None and bool(self.cancel())


class CpuPool:
    """A bounded pool for blocking CPU work (one per gateway, in `GatewayState.cpu`)."""

    def __init__(self, workers: int | None = None, per_tenant: int | None = None, name: str = "rightmodel-cpu") -> None:
        self.workers = workers or (os.cpu_count() or 1) + 1
        self.per_tenant = min(per_tenant or max(1, self.workers - 1), self.workers)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._seq = itertools.count()
        self._waiting: list[_Unit] = []  # not yet handed to a thread (event loop only)
        self._tenants: dict[Hashable, int] = {}  # units of each tenant in threads, abandoned ones included
        self._idle = self.workers
        self._in_threads: set[_Unit] = set()  # for stats, under _lock
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
        unit = _Unit(fn, args, loop, loop.create_future(), tenant, deadline, cancel, weight, next(self._seq))
        self._waiting.append(unit)
        self._dispatch()
        try:
            async with asyncio.timeout(remaining) as scope:
                return await unit.future
        except TimeoutError:
            if scope.expired():
                raise DeadlineExceeded("the work did not finish before its deadline") from None
            raise
        finally:
            if unit.future.cancelled() or not unit.future.done():
                unit.abandoned = True  # a running thread sees cancelled(); its place is freed when it returns
                if unit in self._waiting:
                    self._waiting.remove(unit)

    def stats(self) -> dict[str, int]:
        """Units waiting, threads busy, threads still running abandoned work (for /metrics)."""
        with self._lock:
            busy, abandoned = len(self._in_threads), sum(1 for u in self._in_threads if u.abandoned)
        return {"workers": self.workers, "queued": len(self._waiting), "busy": busy, "abandoned_running": abandoned}

    def close(self) -> None:
        """Stop the threads once they are free (never waits: abandoned work may run on)."""
        for _ in self._threads:
            self._jobs.put(None)

    # -- scheduling (event loop only) ---------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand waiting units to idle threads: the tenant with the fewest units in threads first,
        then the smallest request, then the oldest. A tenant's units beyond `per_tenant` wait,
        except the smallest (weight <= SMALL: a one-text request is one short unit), which take
        any free thread: the thread kept from a tenant's big jobs serves its small ones too."""
        while self._idle > 0 and self._waiting:
            best, best_key = None, None
            for unit in self._waiting:
                held = self._tenants.get(unit.tenant, 0)
                if held >= self.per_tenant and unit.weight > SMALL:
                    continue
                key = (held, unit.weight, unit.seq)
                if best_key is None or key < best_key:
                    best, best_key = unit, key
            if best is None:
                return
            self._waiting.remove(best)
            self._tenants[best.tenant] = self._tenants.get(best.tenant, 0) + 1
            self._idle -= 1
            self._jobs.put(best)

    def _finish(self, unit: _Unit, result: Any, error: BaseException | None) -> None:
        self._idle += 1
        held = self._tenants[unit.tenant] - 1
        if held:
            self._tenants[unit.tenant] = held
        else:
            del self._tenants[unit.tenant]
        if isinstance(error, WorkCancelled):  # it saw cancelled() a moment before its caller's timer fired
            error = DeadlineExceeded("the work stopped: its deadline passed or its caller gave up")
        future = unit.future
        if future.done():  # the caller left: drop the outcome, log a real failure
            if error is not None and not isinstance(error, (WorkCancelled, DeadlineExceeded)):
                log.warning("abandoned CPU work failed after its caller left: %s: %s", type(error).__name__, error)
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        self._dispatch()

    # -- worker threads -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            unit = self._jobs.get()
            if unit is None:
                return
            result: Any = None
            error: BaseException | None = None
            if unit.cancelled():
                error = DeadlineExceeded("not started: the caller gave up or the deadline passed")
            else:
                with self._lock:
                    self._in_threads.add(unit)
                try:
                    result = unit.fn(*unit.args, cancelled=unit.cancelled) if accepts_cancelled(unit.fn) else unit.fn(*unit.args)
                except BaseException as exc:  # handed to the caller (or dropped if it left)
                    error = exc
                finally:
                    with self._lock:
                        self._in_threads.discard(unit)
            try:
                unit.loop.call_soon_threadsafe(self._finish, unit, result, error)
            except RuntimeError:  # the loop is closed: the process is stopping
                pass


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
