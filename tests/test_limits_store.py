"""The shared limits store (cluster/limits_store.py) on real SQLite and PostgreSQL: budget
reservations, settling, a dead process's reservations charged in full, token buckets, period
renewal, and two stores (as two processes would) racing on one budget."""

from __future__ import annotations

import threading

import pytest

from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)

from rightmodel.cluster.limits_store import SharedLimits, Want

T0 = 1_800_000_000.0  # wall-clock seconds; the store is told the time, so nothing here sleeps


def want(request_id: str, *, cost: float = 0.4, budget: float | None = 1.0, rpm: int | None = None, tpm: int | None = None,
         tokens: int = 10, period: str | None = None, key: str = "k1") -> Want:
    return Want(key, request_id, rpm, tpm, budget, period, tokens, cost)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'limits.db'}"
    return request.getfixturevalue("pg_url")


def store(url: str, instance: str = "a", hold_s: float = 60.0) -> SharedLimits:
    s = SharedLimits(url, instance=instance, hold_s=hold_s)
    s.migrate()
    return s


def test_reserve_refuse_settle_then_fit(url):
    s = store(url)
    try:
        assert s.admit(want("r1"), T0, None).need_baseline  # first sight of a budgeted key: ask the ledger
        assert s.admit(want("r1"), T0, 0.05).granted  # spent 0.05 before, per the ledger
        assert s.admit(want("r2"), T0, None).granted
        refused = s.admit(want("r3"), T0, None)
        assert not refused.granted and refused.spent == pytest.approx(0.05) and refused.reserved == pytest.approx(0.8)
        s.settle("k1", "r1", 0, 0.1, T0 + 1)  # r1 actually cost 0.1
        assert s.usage("k1")["spent_usd"] == pytest.approx(0.15) and s.usage("k1")["reserved_usd"] == pytest.approx(0.4)
        assert s.admit(want("r3"), T0 + 1, None).granted  # 0.15 + 0.4 + 0.4 <= 1
        assert not s.admit(want("r4", cost=0.1), T0 + 1, None).granted  # 0.15 + 0.8 + 0.1 > 1
    finally:
        s.close()


def test_a_dead_process_reservations_are_charged_in_full_not_forgotten(url):
    a, b = store(url, "a"), store(url, "b")
    try:
        assert a.admit(want("r1", cost=0.5), T0, 0.0).granted
        assert a.expire_instance("a") == 1  # the supervisor saw process "a" die
        after = b.admit(want("r2", cost=0.5), T0 + 1, None)  # the next admission reaps it
        assert after.granted and after.spent == pytest.approx(0.5) and after.reserved == pytest.approx(0.5)
        a.settle("k1", "r1", 0, 0.01, T0 + 2)  # too late: already charged at its worst case
        assert b.usage("k1")["spent_usd"] == pytest.approx(0.5)
        assert not b.admit(want("r3", cost=0.5), T0 + 2, None).granted
    finally:
        a.close()
        b.close()


def test_an_unsettled_reservation_expires_after_hold_s(url):
    s = store(url, hold_s=10.0)
    try:
        assert s.admit(want("r1", cost=0.6), T0, 0.0).granted
        assert not s.admit(want("r2", cost=0.6), T0 + 9, None).granted
        late = s.admit(want("r3", cost=0.3), T0 + 11, None)
        assert late.granted and late.spent == pytest.approx(0.6)
    finally:
        s.close()


def test_token_buckets_refill_by_wall_clock_and_refund_unused_tokens(url):
    s = store(url)
    try:
        for i in range(3):
            assert s.admit(want(f"r{i}", budget=None, rpm=3), T0, None).granted
        refused = s.admit(want("r3", budget=None, rpm=3), T0, None)
        assert not refused.granted and refused.rpm_wait == pytest.approx(20.0)  # one request per 20 s
        assert s.admit(want("r4", budget=None, rpm=3), T0 + 20, None).granted
        assert s.admit(want("t1", budget=None, tpm=100, tokens=80, key="k2"), T0, None).granted
        assert not s.admit(want("t2", budget=None, tpm=100, tokens=80, key="k2"), T0, None).granted
        s.settle("k2", None, 70, 0.0, T0)  # it used 10 of the 80 estimated
        assert s.admit(want("t3", budget=None, tpm=100, tokens=80, key="k2"), T0, None).granted
    finally:
        s.close()


def test_a_new_period_starts_from_zero(url):
    s = store(url)
    try:
        assert s.admit(want("r1", cost=0.9, period="2026-11-01T00:00:00+00:00"), T0, 0.0).granted
        s.settle("k1", "r1", 0, 0.9, T0)
        assert not s.admit(want("r2", cost=0.9, period="2026-11-01T00:00:00+00:00"), T0, None).granted
        assert s.admit(want("r3", cost=0.9, period="2026-12-01T00:00:00+00:00"), T0, None).granted
    finally:
        s.close()


def test_two_stores_racing_fifty_admissions_grant_exactly_what_fits(url):
    """Two engines (as two processes would have), 25 threads each, one budget that fits 10."""
    stores = [store(url, "a"), store(url, "b")]
    granted: list[str] = []
    lock = threading.Lock()
    stores[0].admit(want("seed", cost=0.0, budget=10.5), T0, 0.0)  # the row exists (baseline 0)

    def one(i: int) -> None:
        if stores[i % 2].admit(want(f"r{i}", cost=1.0, budget=10.5), T0, None).granted:
            with lock:
                granted.append(f"r{i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(granted) == 10
        assert stores[1].usage("k1")["reserved_usd"] == pytest.approx(10.0)
    finally:
        for s in stores:
            s.close()
