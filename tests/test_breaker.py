"""The circuit breaker's state machine (backends/breaker.py) on a hand-driven clock: no network,
no waiting. The same machine runs in real gateways in test_gateway_faults.py."""

from __future__ import annotations

import pytest

from rightmodel.backends.breaker import CLOSED, HALF_OPEN, OPEN, UNGUARDED, CircuitBreaker, seconds_until_probe
from rightmodel.gateway.fallback import carries_content


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def fail_turns(breaker: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        permit = breaker.acquire()
        assert permit is not None
        permit.fail()


def test_opens_after_n_consecutive_failures_and_skips_for_the_cooldown(clock):
    b = CircuitBreaker("primary", failures=3, cooldown_s=30, clock=clock)
    fail_turns(b, 2)
    assert b.state == CLOSED and b.consecutive == 2
    fail_turns(b, 1)
    assert b.state == OPEN
    assert b.acquire() is None  # skipped
    clock.now += 10
    assert b.acquire() is None
    assert b.retry_after() == pytest.approx(20)


def test_a_success_resets_the_count(clock):
    b = CircuitBreaker("primary", failures=3, cooldown_s=30, clock=clock)
    fail_turns(b, 2)
    b.acquire().succeed()
    fail_turns(b, 2)
    assert b.state == CLOSED and b.consecutive == 2


def test_released_turns_count_neither_way(clock):
    """A relayed 4xx or a cancelled request says nothing about the upstream."""
    b = CircuitBreaker("primary", failures=2, cooldown_s=30, clock=clock)
    fail_turns(b, 1)
    b.acquire().release()
    assert b.consecutive == 1
    fail_turns(b, 1)
    assert b.state == OPEN


def test_half_open_lets_one_probe_through_and_its_success_closes(clock):
    b = CircuitBreaker("primary", failures=1, cooldown_s=5, clock=clock)
    fail_turns(b, 1)
    clock.now += 5
    assert b.state == HALF_OPEN and b.retry_after() == 0
    probe = b.acquire()
    assert probe is not None and probe.probe
    assert b.acquire() is None and b.acquire() is None  # concurrent requests still skip it
    probe.succeed()
    assert b.state == CLOSED and b.consecutive == 0
    assert b.acquire() is not None


def test_a_failed_probe_opens_for_a_fresh_cooldown(clock):
    b = CircuitBreaker("primary", failures=1, cooldown_s=5, clock=clock)
    fail_turns(b, 1)
    clock.now += 6
    b.acquire().fail()
    assert b.state == OPEN and b.retry_after() == pytest.approx(5)
    assert b.acquire() is None


def test_a_released_probe_frees_the_slot_for_the_next_request(clock):
    b = CircuitBreaker("primary", failures=1, cooldown_s=5, clock=clock)
    fail_turns(b, 1)
    clock.now += 5
    b.acquire().release()  # e.g. the probing client went away
    assert b.state == HALF_OPEN
    assert b.acquire() is not None


def test_outcomes_of_turns_begun_before_a_state_change_are_ignored(clock):
    b = CircuitBreaker("primary", failures=2, cooldown_s=5, clock=clock)
    slow_ok, slow_bad = b.acquire(), b.acquire()  # two turns in flight while others fail
    fail_turns(b, 2)
    assert b.state == OPEN and not slow_ok.current
    slow_ok.succeed()  # a success from before the circuit opened does not close it
    assert b.state == OPEN
    clock.now += 5
    probe = b.acquire()
    slow_bad.fail()  # nor does an old failure re-open it or spend the probe
    assert b.state == HALF_OPEN and b.acquire() is None
    probe.succeed()
    assert b.state == CLOSED


def test_each_permit_reports_once(clock):
    b = CircuitBreaker("primary", failures=2, cooldown_s=5, clock=clock)
    permit = b.acquire()
    permit.fail()
    permit.fail()
    assert b.consecutive == 1


def test_zero_failures_disables_the_breaker(clock):
    b = CircuitBreaker("primary", failures=0, cooldown_s=5, clock=clock)
    fail_turns(b, 50)
    assert b.state == CLOSED and b.acquire() is not None


def test_retry_after_is_the_time_to_the_first_probe(clock):
    a = CircuitBreaker("a", failures=1, cooldown_s=30, clock=clock)
    b = CircuitBreaker("b", failures=1, cooldown_s=30, clock=clock)
    fail_turns(a, 1)
    clock.now += 20.2
    fail_turns(b, 1)
    assert seconds_until_probe([a, b]) == 10  # a probes first, in 9.8 s
    clock.now += 9.9
    assert seconds_until_probe([a, b]) == 1  # never less than a second


def test_unguarded_permit_is_inert():
    UNGUARDED.fail()
    UNGUARDED.succeed()
    assert UNGUARDED.current


@pytest.mark.parametrize(
    "frame, content",
    [
        (b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n', False),
        (b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n', True),
        (b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1"}]}}]}\n\n', True),
        (b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}\n\n', True),
        (b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n', False),
        (b'data: {"choices":[],"usage":{"prompt_tokens":3}}\n\n', False),
        (b"data: [DONE]\n\n", False),
    ],
)
def test_what_counts_as_the_first_content(frame, content):
    assert carries_content(frame) is content
