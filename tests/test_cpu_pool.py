"""The gateway's CPU pool (gateway/cpu.py) and the shared bounds (rightmodel/bounds.py), in process.

The pool is what privacy detection, embeddings and classify batches run in: results and errors
come back, a deadline ends the wait and tells the running work to stop, a tenant cannot take
every thread, small requests go before big ones, and nothing is left unretrieved or joined.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rightmodel.bounds import MAX_JSON_DEPTH, DeadlineExceeded, JsonTooDeep, WorkCancelled, dumps, too_deep
from rightmodel.gateway.cpu import CpuPool, accepts_cancelled


def run(coro):
    return asyncio.run(coro)


def test_results_and_errors_come_back():
    async def main():
        pool = CpuPool(workers=2)
        try:
            assert await pool.run(sum, [1, 2, 3]) == 6
            with pytest.raises(ZeroDivisionError):
                await pool.run(lambda: 1 / 0)
        finally:
            pool.close()

    run(main())


def test_a_deadline_ends_the_wait_and_the_work_sees_it():
    saw = threading.Event()

    def work(cancelled):
        while not cancelled():
            time.sleep(0.01)
        saw.set()
        raise WorkCancelled()

    async def main():
        pool = CpuPool(workers=1)
        try:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await pool.run(work, deadline=time.monotonic() + 0.2)
            assert 0.15 < time.monotonic() - started < 1.0
            assert await asyncio.to_thread(saw.wait, 2)
            await asyncio.sleep(0.05)
            assert pool.stats()["busy"] == 0  # the thread is free again, and its outcome was dropped quietly
        finally:
            pool.close()

    run(main())


def test_work_that_stops_itself_is_a_deadline_for_its_caller():
    def work(cancelled):
        raise WorkCancelled()  # e.g. it saw cancelled() just before the caller's own timer fired

    async def main():
        pool = CpuPool(workers=1)
        try:
            with pytest.raises(DeadlineExceeded):
                await pool.run(work)
        finally:
            pool.close()

    run(main())


def test_a_cancelled_caller_abandons_its_work():
    saw = threading.Event()

    def work(cancelled):
        while not cancelled():
            time.sleep(0.01)
        saw.set()

    async def main():
        pool = CpuPool(workers=1)
        try:
            task = asyncio.ensure_future(pool.run(work))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(saw.wait, 2)
        finally:
            pool.close()

    run(main())


def test_one_tenant_cannot_take_every_thread():
    release = threading.Event()

    def hold():
        release.wait(5)
        return "held"

    async def main():
        pool = CpuPool(workers=2, per_tenant=1)
        try:
            hogs = [asyncio.ensure_future(pool.run(hold, tenant="a", weight=100)) for _ in range(3)]
            await asyncio.sleep(0.1)
            assert pool.stats()["busy"] == 1  # tenant a's big units: one at a time
            started = time.monotonic()
            assert await pool.run(lambda: "b", tenant="b", weight=100) == "b"  # the other thread is there for b
            assert await pool.run(lambda: "small", tenant="a", weight=1) == "small"  # and for a's one-text requests
            assert time.monotonic() - started < 0.5
            release.set()
            assert await asyncio.gather(*hogs) == ["held"] * 3
        finally:
            release.set()
            pool.close()

    run(main())


def test_small_requests_go_before_big_ones_and_late_units_never_start():
    order: list[str] = []
    release = threading.Event()

    async def main():
        pool = CpuPool(workers=1)
        try:
            blocker = asyncio.ensure_future(pool.run(release.wait, 5))
            await asyncio.sleep(0.05)
            big = asyncio.ensure_future(pool.run(order.append, "big", weight=500))
            small = asyncio.ensure_future(pool.run(order.append, "small", weight=1))
            late = asyncio.ensure_future(pool.run(order.append, "late", deadline=time.monotonic() + 0.1))
            await asyncio.sleep(0.3)
            release.set()
            await asyncio.gather(blocker, big, small)
            with pytest.raises(DeadlineExceeded):
                await late
            assert order == ["small", "big"]
        finally:
            release.set()
            pool.close()

    run(main())


def test_functions_opt_in_to_the_cancelled_check():
    def plain(x):
        return x

    def polite(x, cancelled):
        return x

    assert not accepts_cancelled(plain) and accepts_cancelled(polite)
    assert not accepts_cancelled(len)  # builtins without a signature: never given it


def test_depth_is_found_iteratively_with_the_path():
    deep: dict = {}
    for _ in range(100_000):  # far past Python's recursion limit
        deep = {"a": deep}
    assert too_deep({"model": "m", "metadata": deep}).startswith("metadata.a.a")
    assert too_deep({"x": [[[]]]}, limit=4) is None and too_deep({"x": [[[[]]]]}, limit=4) == "x.0.0.0"
    ok: dict = {}
    for _ in range(MAX_JSON_DEPTH - 1):
        ok = {"a": ok}
    assert too_deep(ok) is None and too_deep({"b": ok}) is not None


def test_dumps_names_the_field_orjson_cannot_write():
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(JsonTooDeep) as err:
        dumps({"messages": [], "metadata": {"x": deep}})
    assert err.value.path.startswith("metadata.x.0.0")
    assert dumps({"a": [1]}) == b'{"a":[1]}'
