"""A circuit breaker per remote backend: stop sending requests to an upstream that keeps failing.

Retries and fallbacks already hide a failing upstream from the client, but each request still
pays for it (a timeout, the retries' backoff) and the upstream gets hammered while it recovers.
A breaker remembers: after `failures` consecutive failed turns the circuit opens and requests
skip the backend (straight to the next fallback) for `cooldown_s`; then it is half-open and lets
exactly one request through as a probe while every other request still skips it; the probe's
success closes the circuit, its failure opens it for another cooldown.

What is counted: a *turn*, i.e. one request's go at a backend (its first attempt and retries), so
a blip that a retry absorbs is not a failure and one request never counts more than once.
Consecutive failures rather than a failure rate over a window: a gateway sees anything from one
request a minute to thousands a second, and a rate needs a minimum volume that is either never
reached at low traffic or too slow to react at high; N failed requests in a row (with no success
between them) is unambiguous at every volume, and is what Envoy's `consecutive_5xx` does. Only
retryable failures count (timeouts, connection failures, 408/409/429/5xx, broken streams); a 4xx
the client caused, or a client that went away, says nothing about the upstream.

Why not a library: purgatory 3.0.1 (asyncio) lets every request through while half-open, counts
a cancelled request as a failure and times with the wall clock; pybreaker 1.4.1 does async only
through Tornado and holds a threading lock over the call; circuitbreaker 2.1.3 and aiobreaker
1.2.0 (unreleased since 2021) also let all half-open calls through, and circuitbreaker keeps a
module-global registry. None has the single-probe half-open this gateway needs, and what is
left is the small state machine below. It runs on the event loop only, so it needs no lock.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

log = logging.getLogger("rightmodel.gateway")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class Permit:
    """Leave for one turn at a backend; report how it ended once (later reports are ignored).

    `succeed()`: the backend answered. `fail()`: it failed in a way that may be its fault
    (retryable). `release()`: the turn ended without saying anything about the upstream (a 4xx
    the client caused, a cancelled request); a probe's slot is freed for the next request.
    """

    __slots__ = ("breaker", "generation", "probe", "done")

    def __init__(self, breaker: CircuitBreaker | None, generation: int, probe: bool) -> None:
        self.breaker = breaker
        self.generation = generation
        self.probe = probe
        self.done = False

    @property
    def current(self) -> bool:
        """False once the circuit changed state since this permit was given (e.g. other requests
        opened it meanwhile): a turn then stops retrying a backend the breaker has given up on."""
        return self.breaker is None or self.breaker.generation == self.generation

    def succeed(self) -> None:
        self._report("success")

    def fail(self) -> None:
        self._report("failure")

    def release(self) -> None:
        self._report("release")

    def _report(self, outcome: str) -> None:
        if self.done:
            return
        self.done = True
        if self.breaker is not None:
            self.breaker._settle(self, outcome)


UNGUARDED = Permit(None, 0, False)  # for callers without breakers; reporting on it does nothing


class CircuitBreaker:
    """closed → open after `failures` consecutive failed turns → half-open after `cooldown_s`
    (one probe) → closed on the probe's success, open again on its failure.

    `failures=0` disables the breaker (every turn is allowed). `clock` is injectable so that the
    state machine can be tested without waiting.
    """

    def __init__(self, name: str, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.generation = 0  # bumped at every state change: outcomes of older permits are stale
        self.consecutive = 0
        self._state = CLOSED
        self._opened_at = 0.0
        self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, {self.state}, consecutive={self.consecutive})"

    @property
    def state(self) -> str:
        """closed, open, or half-open (an open circuit whose cooldown is over reads half-open)."""
        if self._state == OPEN and self.clock() >= self._opened_at + self.cooldown_s:
            return HALF_OPEN
        return self._state

    def retry_after(self) -> float:
        """Seconds until this circuit lets a probe through (0 when it is not open)."""
        if self._state != OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - self.clock())

    def acquire(self) -> Permit | None:
        """A permit for one turn, or None: skip this backend (open, or half-open with its one
        probe already under way)."""
        if self._state == CLOSED:
            return Permit(self, self.generation, False)
        if self._state == OPEN:
            if self.clock() < self._opened_at + self.cooldown_s:
                return None
            self._enter(HALF_OPEN)
            log.info("circuit for %s is half-open: one probe goes through", self.name)
        if self._probing:
            return None
        self._probing = True
        return Permit(self, self.generation, True)

    def _enter(self, state: str) -> None:
        self._state = state
        self.generation += 1
        self._probing = False
        if state == OPEN:
            self._opened_at = self.clock()
        elif state == CLOSED:
            self.consecutive = 0

    def _settle(self, permit: Permit, outcome: str) -> None:
        if permit.generation != self.generation:
            return  # a turn that began before the circuit last changed state: its news is old
        if permit.probe:
            self._probing = False
            if outcome == "success":
                self._enter(CLOSED)
                log.warning("circuit for %s closed: the probe succeeded", self.name)
            elif outcome == "failure":
                self._enter(OPEN)
                log.warning("circuit for %s re-opened for %g s: the probe failed", self.name, self.cooldown_s)
            return
        if outcome == "success":
            self.consecutive = 0
        elif outcome == "failure":
            self.consecutive += 1
            if self.threshold and self.consecutive >= self.threshold:
                self._enter(OPEN)
                log.warning(
                    "circuit for %s opened for %g s after %d consecutive failed requests",
                    self.name, self.cooldown_s, self.threshold,
                )


def seconds_until_probe(breakers: list[CircuitBreaker]) -> int:
    """Whole seconds (at least 1) until the first of these circuits lets a probe through: the
    Retry-After of a request that found all of them open."""
    if not breakers:
        return 1
    return max(1, math.ceil(min(b.retry_after() for b in breakers)))
