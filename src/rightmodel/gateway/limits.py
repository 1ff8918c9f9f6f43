"""Per-key rate limits and budgets, and what a request is assumed to cost before it runs.

Rate limits (requests and tokens per minute) are token buckets held in memory, so they are
**per gateway process**: N independent processes behind a balancer let a key through at up to N
times its rate. `serve --workers N` (or `--limits-url`) keeps them, and the budgets, in SQL
instead: cluster/limits_store.py, used by the guard in place of the two classes here.

Budgets are per key, per period (total, calendar month or day, UTC): the worst-case cost of a request is *reserved* at admission against budget − spent − reserved, and replaced by its
actual cost when its ledger row is written, so concurrent requests cannot overspend together.
What a key spent before this process started is read from the ledger (rows carry the key id in
`extra.key_id`), so a restart does not reset a budget; spending by *other* processes after that
is not seen until they restart, so a budget shared by N independent live processes can be
overspent by up to N − 1 times what they spend in the meantime (the shared store fixes that).

Hand-written rather than taken from a rate-limit library on purpose: `limits` and
`pyrate-limiter` cannot give back the unused part of a weight once a request's real token count
is known, and pyrate-limiter stores one entry per unit of weight (thousands per request for a
tokens-per-minute limit); `aiolimiter` waits instead of refusing with a Retry-After.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from rightmodel.auth.keys import KeyRecord, period_start
from rightmodel.constellation.config import Constellation, SpecialistModelConfig
from rightmodel.constellation.costs import MESSAGE_OVERHEAD_TOKENS, CostModel, estimate_prompt_tokens, estimate_tokens
from rightmodel.gateway.errors import APIError, invalid
from rightmodel.messages import message_text
from rightmodel.usage import Price, Usage

# Endpoints whose bodies are chat-shaped by the time they are admitted (/v1/completions and
# /v1/responses translate theirs first): estimated, capped and priced like chat requests.
CHAT_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/responses"})

# -- token buckets -----------------------------------------------------------------------------


class TokenBucket:
    """`capacity` units refilled evenly over a minute. A request may take more than is left as
    long as what it needs (capped at the capacity) is there: the bucket then goes into debt,
    repaid by the refill, so one large request is not refused forever and the average holds."""

    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait(self, amount: float, now: float) -> float:
        """Seconds until `amount` may be taken (0: now)."""
        self._refill(now)
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= amount

    def give(self, amount: float, now: float) -> None:
        """Return units (or, negative, charge more) once the real amount is known."""
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)


@dataclass
class KeyRates:
    rpm: TokenBucket | None
    tpm: TokenBucket | None
    limits: tuple[int | None, int | None]


class RateLimits:
    """Requests- and tokens-per-minute buckets of each key (made on a key's first request)."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyRates] = {}

    def _of(self, key: KeyRecord, now: float) -> KeyRates:
        rates = self._keys.get(key.key_id)
        if rates is None or rates.limits != (key.rpm, key.tpm):
            rates = KeyRates(
                TokenBucket(key.rpm, now) if key.rpm else None, TokenBucket(key.tpm, now) if key.tpm else None, (key.rpm, key.tpm)
            )
            self._keys[key.key_id] = rates
        return rates

    def refusal(self, key: KeyRecord, tokens: int, now: float) -> APIError | None:
        """The 429 this request gets, or None if both buckets have room (nothing is taken)."""
        rates = self._of(key, now)
        waits = rate_waits(key, rates.rpm.wait(1, now) if rates.rpm is not None else None,
                           rates.tpm.wait(tokens, now) if rates.tpm is not None else None, tokens)
        return rate_refusal(key, waits)

    def take(self, key: KeyRecord, tokens: int, now: float) -> None:
        rates = self._of(key, now)
        if rates.rpm is not None:
            rates.rpm.take(1, now)
        if rates.tpm is not None:
            rates.tpm.take(tokens, now)

    def correct(self, key_id: str, reserved_tokens: int, actual_tokens: int, now: float) -> None:
        """Give back (or charge) the difference between the estimate and the real token count."""
        rates = self._keys.get(key_id)
        if rates is not None and rates.tpm is not None:
            rates.tpm.give(reserved_tokens - actual_tokens, now)


def rate_waits(key: KeyRecord, rpm_wait: float | None, tpm_wait: float | None, tokens: int) -> list[tuple[float, str]]:
    """(seconds to wait, which limit) of each limit the key has, for `rate_refusal`."""
    waits = []
    if rpm_wait is not None:
        waits.append((rpm_wait, f"{key.rpm} requests per minute"))
    if tpm_wait is not None:
        waits.append((tpm_wait, f"{key.tpm} tokens per minute (this request: about {tokens})"))
    return waits


def rate_refusal(key: KeyRecord, waits: list[tuple[float, str]]) -> APIError | None:
    """The 429 for the longest wait, or None when nothing has to wait (in-memory and shared limits alike)."""
    wait, what = max(waits, default=(0.0, ""), key=lambda w: w[0])
    if wait <= 0:
        return None
    return APIError(
        429,
        f"rate limit of key {key.key_id} reached: {what}; retry in {wait:.1f} s",
        code="rate_limit_exceeded",
        headers={"Retry-After": retry_after(wait)},
    )


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


# -- budgets -----------------------------------------------------------------------------------


def period_end(period: str, start: datetime | None) -> datetime | None:
    if start is None:
        return None
    if period == "daily":
        return start + timedelta(days=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)  # first of the next month


@dataclass
class Account:
    """One key's budget in this process: spent (ledger at startup + settled since) and reserved."""

    budget: float
    period: str
    start: datetime | None
    spent: float
    reserved: float = 0.0


@dataclass(frozen=True)
class Reservation:
    key_id: str
    tokens: int
    cost: float
    period_start: datetime | None


class Budgets:
    """Reservations against each key's budget. Not thread-safe: it is used from the event loop
    only, and admission checks and reserves with no await in between, which makes it atomic."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def ready(self, key: KeyRecord, now: datetime) -> bool:
        """Whether the key's account exists (else its spend so far must be read from the ledger);
        an account whose month or day has ended starts again from zero."""
        account = self.accounts.get(key.key_id)
        if account is None or account.period != key.budget_period:
            return False
        start = period_start(key.budget_period, now)
        if account.start != start:
            account.start, account.spent = start, 0.0
        account.budget = key.budget_usd or 0.0
        return True

    def set_baseline(self, key: KeyRecord, start: datetime | None, spent: float) -> None:
        account = self.accounts.get(key.key_id)
        if account is None or account.period != key.budget_period:
            self.accounts[key.key_id] = Account(key.budget_usd or 0.0, key.budget_period, start, spent)

    def refusal(self, key: KeyRecord, cost: float, now: datetime) -> APIError | None:
        """The 429 this request gets, or None when its worst-case cost fits what is left."""
        return budget_refusal(key, self.accounts[key.key_id], cost, now)

    def reserve(self, key: KeyRecord, tokens: int, cost: float) -> Reservation:
        a = self.accounts[key.key_id]
        a.reserved += cost
        return Reservation(key.key_id, tokens, cost, a.start)

    def settle(self, r: Reservation, actual: float) -> None:
        a = self.accounts.get(r.key_id)
        if a is None:
            return
        a.reserved = max(0.0, a.reserved - r.cost)
        if a.start == r.period_start:  # a request that straddled a period change counts in its own
            a.spent += actual

    def usage(self, key_id: str) -> dict[str, Any] | None:
        a = self.accounts.get(key_id)
        if a is None:
            return None
        return {"spent_usd": a.spent, "reserved_usd": a.reserved, "period_start": a.start.isoformat() if a.start else None}


def budget_refusal(key: KeyRecord, a: Account, cost: float, now: datetime) -> APIError | None:
    """The 429 a request gets from account `a` (this process's, or the shared row's), or None
    when its worst-case cost fits what is left."""
    if a.spent + a.reserved + cost <= a.budget:
        return None
    where = f"key {key.key_id}'s {a.period} budget of ${a.budget:.6g}"
    state = f"spent ${a.spent:.6g}, ${a.reserved:.6g} reserved by requests in flight, this request may cost up to ${cost:.6g}"
    end = period_end(a.period, a.start)
    if cost > a.budget:
        message, headers = f"this request's worst case exceeds {where} on its own ({state}): lower max_tokens", {"x-should-retry": "false"}
    elif a.spent + cost <= a.budget:  # room will come back as requests in flight settle
        message, headers = f"{where} is fully reserved ({state})", {"Retry-After": "1"}
    elif end is not None:
        message, headers = f"{where} is used up ({state}); it renews at {end.isoformat()}", {"Retry-After": retry_after((end - now).total_seconds())}
    else:
        message, headers = f"{where} is used up ({state})", {"x-should-retry": "false"}
    return APIError(429, message, code="budget_exceeded", type="insufficient_quota", headers=headers)


def ledger_spend(ledger_url: str, tenant: str, key_id: str, since: datetime | None) -> float:
    """What `key_id` spent since `since` (all time if None), summed by the ledger's database."""
    from rightmodel.ledger import store

    engine = store.create_engine(ledger_url)
    try:
        return store.key_spend(engine, tenant, key_id, since)
    finally:
        engine.dispose()


# -- what a request is assumed to cost before it runs ------------------------------------------


@dataclass(frozen=True)
class Estimate:
    tokens: int  # typical prompt + completion tokens (rate limits; corrected at settle)
    cost: float  # worst-case USD (budgets; replaced by the actual cost at settle)


def prompt_token_bound(body: Mapping[str, Any]) -> int:
    """An upper bound of the prompt's tokens: a byte-level BPE token covers at least one byte of
    UTF-8, so text bytes (plus each message's framing and the tool definitions) bound the count.
    Images are not counted."""
    import orjson

    messages = body.get("messages") or []
    total = sum(len(message_text(m).encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS for m in messages if isinstance(m, dict))
    if body.get("tools"):
        total += len(orjson.dumps(body["tools"]))
    return total


@dataclass
class Estimator:
    """Prices each model name a request may give could end up paying for (its fallbacks, a task's
    escalation target, anything for `auto`), built once from the constellation."""

    constellation: Constellation
    costs: CostModel
    reach: dict[str, tuple[list[Price], bool]] = field(default_factory=dict)  # name -> (remote prices, local?)

    def __post_init__(self) -> None:
        c = self.constellation
        remotes = c.remote_models()

        def chain(name: str | None) -> list[Price]:
            if name is None or name not in remotes:
                return []
            return [self.costs.prices[m] for m in (name, *remotes[name].fallbacks) if m in self.costs.prices]

        for name, cfg in c.models.items():
            self.reach[name] = ([], True) if isinstance(cfg, SpecialistModelConfig) else (chain(name), False)
        for name, task in c.tasks.items():  # a learned router may send a task's request to either of its models
            targets = (task.router.strong, task.router.weak) if task.router else (task.escalate_to or c.defaults.generalist,)
            self.reach[name] = ([p for m in targets for p in chain(m)], True)
        self.reach["auto"] = ([p for m in remotes for p in chain(m)], bool(c.tasks))

    def completion_tokens(self, body: Mapping[str, Any]) -> int:
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        if not isinstance(asked, int) or isinstance(asked, bool):
            asked = self.constellation.defaults.max_tokens or self.constellation.limits.completion_tokens
        n = body.get("n")
        return asked * (n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1)

    def estimate(self, endpoint: str, body: Mapping[str, Any] | None) -> Estimate:
        body = body or {}
        local_s = self.constellation.limits.local_seconds
        if endpoint not in CHAT_ENDPOINTS:
            value = body.get("input")
            texts = [value] if isinstance(value, str) else [t for t in value or () if isinstance(t, str)]
            return Estimate(sum(estimate_tokens(t) for t in texts), self.costs.local(local_s * max(1, len(texts))))
        completion = self.completion_tokens(body)
        prices, local = self.reach.get(body.get("model"), ([], False))
        bound = Usage(prompt_token_bound(body), completion)
        remote = max((p.cost(bound) for p in prices), default=0.0)
        cost = remote + (self.costs.local(local_s) if local else 0.0)
        return Estimate(estimate_prompt_tokens(body.get("messages") or []) + completion, cost)


# -- max tokens --------------------------------------------------------------------------------


def check_max_tokens(body: Mapping[str, Any] | None, cap: int | None) -> None:
    """400 naming the field when a request asks for more completion tokens than `defaults.max_tokens`."""
    if cap is None or not body:
        return
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            raise invalid(key, f"'{key}' is {value}; this gateway allows at most {cap} (defaults.max_tokens)", "max_tokens_exceeded")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
