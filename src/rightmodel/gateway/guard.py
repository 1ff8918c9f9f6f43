"""Admission control: who may call, what, how often, and for how much.

`Guard.admit` runs once per request after the body is read and validated, before routing; it
raises `APIError` (401/403/400/429/503) to refuse and attaches a `Reservation` to the ticket
when the key has limits. `Guard.settle` runs exactly once per request, when its ledger row is
written, with the request's actual cost and tokens on the ticket.

Keys come from the key store (`rightmodel keys`, `/admin/keys`). The guard keeps them in memory
and a thread re-reads the store every `auth.refresh_s`, so a key made or revoked anywhere takes
effect on every running gateway within that time, without a restart. With `auth.mode: auto` the
gateway is open (a warning at startup) while the store has never held a key, and needs a key
from the first one on — revoking every key does not open it again.

Secrets: a presented key is hashed and looked up, never logged, echoed in an error, or stored;
the ledger gets the key's tenant (`tenant`) and its non-secret id (`extra.key_id`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from rightmodel.auth.keys import KeyRecord, hash_key
from rightmodel.auth.store import KeyStore, KeyStoreError, resolve_keys_url, safe_url
from rightmodel.constellation.config import Constellation
from rightmodel.constellation.costs import CostModel
from rightmodel.gateway.errors import APIError
from rightmodel.gateway.limits import (
    CHAT_ENDPOINTS,
    Account,
    Budgets,
    Estimator,
    RateLimits,
    budget_refusal,
    check_max_tokens,
    ledger_spend,
    period_start,
    rate_refusal,
    rate_waits,
    utcnow,
)

if TYPE_CHECKING:
    from rightmodel.constellation.settings import GatewaySettings
    from rightmodel.gateway.ticket import Ticket

log = logging.getLogger("rightmodel.gateway.auth")

EMBEDDINGS = "embeddings"  # the name a key's model list must hold for /v1/embeddings


@dataclass(frozen=True)
class KeyRing:
    """One consistent read of the key store (replaced whole by the refresh thread)."""

    loaded: bool = False  # False until the store has been read once
    required: bool = False  # a key is needed (auth.mode required, or the store has held a key)
    by_hash: Mapping[str, KeyRecord] = field(default_factory=dict)  # active keys
    by_id: Mapping[str, KeyRecord] = field(default_factory=dict)  # all keys, revoked too


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: `Authorization: Bearer <key>` (OpenAI SDKs) or `x-api-key` (Anthropic's)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def unauthorized(message: str) -> APIError:
    return APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


class Guard:
    """Keys, rate limits and budgets of one gateway process (state in `app.state.gateway.guard`)."""

    def __init__(self, constellation: Constellation, store: KeyStore, shared: Any = None) -> None:
        self.constellation = constellation
        # Shared limits (cluster/limits_store.py) when several processes serve the same keys;
        # None: the in-memory buckets and budgets below (one process, nothing to ask a database).
        self.shared = shared
        self._shared_pool: Any = None
        self._settling: set[Any] = set()
        if shared is not None:
            from concurrent.futures import ThreadPoolExecutor

            self._shared_pool = ThreadPoolExecutor(4, thread_name_prefix="shared-limits")
        self.store = store
        self.mode = constellation.auth.mode
        self.refresh_s = constellation.auth.refresh_s
        self.estimator = Estimator(constellation, CostModel(constellation))
        self.rates = RateLimits()
        self.budgets = Budgets()
        self.ring = KeyRing()
        self._loading: dict[str, asyncio.Future[float]] = {}
        self._load_lock = threading.Lock()
        self._store_down = False
        self._migrated = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the key ring ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the store (blocking; the refresh thread, startup and admin routes call it).

        Serialized, so a slower read can never replace a newer one. A failed read keeps the keys
        already known (logged once per outage); before the first good read every request is 503.
        """
        with self._load_lock:
            try:
                if not self._migrated:
                    self.store.migrate()
                    self._migrated = True
                records = self.store.list()
            except KeyStoreError as exc:
                if not self._store_down:
                    log.warning("API keys: cannot read the key store (%s); %s", exc,
                                "keeping the keys already loaded" if self.ring.loaded else "refusing requests until it answers")
                self._store_down = True
                return
            if self._store_down:
                log.warning("API keys: key store %s answers again", safe_url(self.store.url))
                self._store_down = False
            before = self.ring
            ring = KeyRing(
                loaded=True,
                required=self.mode == "required" or bool(records),
                by_hash={r.key_hash: r for r in records if r.active},
                by_id={r.key_id: r for r in records},
            )
            self.ring = ring
        if not ring.required and not before.loaded:
            log.warning(
                "API keys: the key store %s holds no key, so this gateway is OPEN to anyone who can reach it; "
                "`rightmodel keys create --tenant NAME` makes the first key and turns authentication on",
                safe_url(self.store.url),
            )
        elif ring.required and before.loaded and not before.required:
            log.warning("API keys: the first key exists; requests now need a key")

    def start(self) -> None:
        """Start the refresh thread (after the first read, made by build_guard)."""
        self._thread = threading.Thread(target=self._run, name="rightmodel-keys", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception:  # a bug here must not stop revocations from being picked up
                log.exception("API keys: refresh failed")

    # -- authentication -------------------------------------------------------------------------

    def authenticate(self, request: Request) -> KeyRecord | None:
        """The caller's key; None while the gateway is open; 401/503 otherwise."""
        ring = self.ring
        if not ring.loaded:
            raise APIError(503, "API keys are not loaded yet (the key store does not answer); retry shortly", code="auth_unavailable",
                           headers={"Retry-After": "2"})
        if not ring.required:
            return None
        secret = presented_key(request.headers)
        if secret is None:
            if self.mode == "required" and not ring.by_id:
                raise unauthorized("no API key exists yet: create one with `rightmodel keys create --tenant NAME`")
            raise unauthorized("missing API key: send it as 'Authorization: Bearer <key>'")
        key = ring.by_hash.get(hash_key(secret))
        if key is None:
            raise unauthorized("invalid API key (unknown or revoked)")
        return key

    def require_admin(self, request: Request) -> KeyRecord:
        """The caller's admin key; 401 without a valid key (also while the gateway is open), 403 for a tenant key."""
        key = self.authenticate(request)
        if key is None:
            raise unauthorized("admin routes need an admin key, and none exists: create one with `rightmodel keys create --admin`")
        if not key.admin:
            raise APIError(403, f"key {key.key_id} is not an admin key", code="admin_key_required")
        return key

    def require_admin_once_keys_exist(self, request: Request) -> KeyRecord | None:
        """An admin key where keys are needed; None on an open gateway (nothing to check yet)."""
        key = self.authenticate(request)
        if key is not None and not key.admin:
            raise APIError(403, f"key {key.key_id} is not an admin key", code="admin_key_required")
        return key

    @staticmethod
    def visible(key: KeyRecord | None, name: str) -> bool:
        """Whether /v1/models lists `name` to this caller."""
        return key is None or key.admin or key.allows(name)

    # -- admission ------------------------------------------------------------------------------

    async def admit(self, request: Request, body: dict[str, Any] | None, t: "Ticket") -> None:
        key = self.authenticate(request)
        if key is not None:
            t.tenant = key.tenant  # on refusals too: the ledger shows who was refused
            t.extra["key_id"] = key.key_id
            t.key_privacy = key.privacy
            if key.admin:
                raise APIError(403, f"key {key.key_id} is an admin key: it manages keys and cannot call models", code="admin_key")
            name = EMBEDDINGS if t.endpoint == "/v1/embeddings" else (body or {}).get("model")
            if not key.allows(name):
                raise APIError(403, f"key {key.key_id} may not use '{name}' (allowed: {', '.join(key.models)})", param="model",
                               code="model_not_allowed")
        if t.endpoint in CHAT_ENDPOINTS:
            check_max_tokens(body, self.constellation.defaults.max_tokens)
        if key is None or not (key.rpm or key.tpm or key.budget_usd is not None):
            return
        estimate = self.estimator.estimate(t.endpoint, body)
        if self.shared is not None:
            await self._admit_shared(request, key, estimate, t)
            return
        if key.budget_usd is not None and not self.budgets.ready(key, utcnow()):
            await self._load_spend(request, key)
        # From here on no await: the checks and the reservation are one step on the event loop,
        # so concurrent requests see each other's reservations.
        now, wall = time.monotonic(), utcnow()
        refusal = self.rates.refusal(key, estimate.tokens, now)
        if refusal is None and key.budget_usd is not None:
            refusal = self.budgets.refusal(key, estimate.cost, wall)
        if refusal is not None:
            raise refusal
        self.rates.take(key, estimate.tokens, now)
        if key.budget_usd is not None:
            t.grant = self.budgets.reserve(key, estimate.tokens, estimate.cost)
        else:
            t.grant = _RateGrant(key.key_id, estimate.tokens)

    async def _admit_shared(self, request: Request, key: KeyRecord, estimate: Any, t: "Ticket") -> None:
        """Admission through the shared store: one transaction checks and takes (or refuses)."""
        from rightmodel.cluster.limits_store import Want

        start = period_start(key.budget_period, utcnow()) if key.budget_usd is not None else None
        want = Want(key.key_id, t.request_id, key.rpm, key.tpm, key.budget_usd, start.isoformat() if start else None,
                    estimate.tokens, estimate.cost)
        outcome = await self._shared_call(self.shared.admit, want, time.time(), None)
        if outcome.need_baseline:  # the key's first request anywhere: its spend so far is in the ledger
            spent = await self._read_spend_once(request, key, start)
            outcome = await self._shared_call(self.shared.admit, want, time.time(), spent)
        if not outcome.granted:
            waits = rate_waits(key, outcome.rpm_wait if key.rpm else None, outcome.tpm_wait if key.tpm else None, estimate.tokens)
            refusal = rate_refusal(key, waits)
            if refusal is None:
                account = Account(key.budget_usd or 0.0, key.budget_period, start, outcome.spent, outcome.reserved)
                refusal = budget_refusal(key, account, estimate.cost, utcnow())
            raise refusal or APIError(429, f"key {key.key_id}'s limits refused this request", code="rate_limit_exceeded")
        t.grant = _SharedGrant(key.key_id, estimate.tokens, estimate.cost, t.request_id if key.budget_usd is not None else None,
                               bool(key.tpm))

    async def _shared_call(self, fn: Any, *args: Any) -> Any:
        """A shared-store call in its own small pool (never the loop's default executor, which
        abandoned work may hold); a store that does not answer is a 503, not a 500."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._shared_pool, fn, *args)
        except Exception as exc:
            log.warning("shared limits: %s: %s", type(exc).__name__, str(exc)[:300])
            raise APIError(503, "the shared limits store does not answer; retry shortly", code="limits_unavailable",
                           headers={"Retry-After": "2"}) from None

    async def _load_spend(self, request: Request, key: KeyRecord) -> None:
        """Read what the key spent in its current period from the ledger (once per key and process;
        concurrent first requests share one read). 503 if the ledger cannot say."""
        start = period_start(key.budget_period, utcnow())
        spent = await self._read_spend_once(request, key, start)
        if not self.budgets.ready(key, utcnow()):
            self.budgets.set_baseline(key, start, spent)

    async def _read_spend_once(self, request: Request, key: KeyRecord, start: Any) -> float:
        pending = self._loading.get(key.key_id)
        if pending is None:
            ledger = request.app.state.gateway.ledger
            pending = asyncio.ensure_future(asyncio.to_thread(_read_spend, ledger, key, start))
            self._loading[key.key_id] = pending
            pending.add_done_callback(lambda _f, kid=key.key_id: self._loading.pop(kid, None))
        try:
            spent = await asyncio.shield(pending)
        except Exception as exc:
            log.warning("budgets: cannot read key %s's spend from the ledger: %s: %s", key.key_id, type(exc).__name__, exc)
            raise APIError(503, f"the spend of key {key.key_id} cannot be read from the ledger yet; retry shortly",
                           code="budget_unavailable", headers={"Retry-After": "2"}) from None
        return spent

    def settle(self, t: "Ticket") -> None:
        grant, t.grant = t.grant, None
        if grant is None:
            return
        actual_tokens = t.usage.prompt_tokens + t.usage.completion_tokens
        if isinstance(grant, _SharedGrant):
            self._settle_shared(t, grant, actual_tokens)
            return
        self.rates.correct(grant.key_id, grant.tokens, actual_tokens, time.monotonic())
        if not isinstance(grant, _RateGrant):
            if t.cost > grant.cost * (1 + 1e-9) + 1e-12:
                flag_overrun(t, grant)
            self.budgets.settle(grant, t.cost)  # the honest cost, even above what was reserved

    def _settle_shared(self, t: "Ticket", grant: "_SharedGrant", actual_tokens: int) -> None:
        """Hand the actual cost to the shared store in the background: the answer does not wait
        for it (until it lands, the reservation still holds the worst case: conservative)."""
        if grant.request_id is not None and t.cost > grant.cost * (1 + 1e-9) + 1e-12:
            flag_overrun(t, grant)
        back = grant.tokens - actual_tokens if grant.tpm else 0
        if grant.request_id is None and not back:
            return
        job = self._shared_pool.submit(self.shared.settle, grant.key_id, grant.request_id, back, t.cost, time.time())
        self._settling.add(job)
        job.add_done_callback(self._settled)

    def _settled(self, job: Any) -> None:
        self._settling.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("shared limits: settling failed (the reservation is charged in full when it expires): %s", job.exception())

    def usage(self, key_id: str) -> dict[str, Any] | None:
        """This process's view of a key's budget (admin listing); the shared row's in shared mode."""
        if self.shared is not None:
            try:
                return self.shared.usage(key_id)
            except Exception:  # an admin listing must not fail on it
                return None
        return self.budgets.usage(key_id)

    async def aclose(self) -> None:
        self._stop.set()
        from rightmodel.gateway.cpu import in_own_thread

        if self._thread is not None:
            await in_own_thread(self._thread.join, 10)
        if self._shared_pool is not None:
            await in_own_thread(self._shared_pool.shutdown, True)  # settles in flight land first
            self.shared.close()
        self.store.close()


def flag_overrun(t: "Ticket", grant: Any) -> None:
    """A request that cost more than its worst case (an upstream that ignored max_tokens, or a
    price bound that did not hold): flagged in its ledger row (extra.budget_overrun, counted in
    /metrics) and logged, so budgets that drift can be explained."""
    ratio = t.cost / grant.cost if grant.cost > 0 else None
    t.extra["budget_overrun"] = {"reserved_usd": round(grant.cost, 10), "actual_usd": round(t.cost, 10),
                                 "ratio": round(ratio, 3) if ratio is not None else None}
    log.warning("budgets: request %s (key %s, model %s) cost $%.6g, %s the $%.6g reserved for it (%d completion tokens); "
                "settled at the actual cost", t.request_id, grant.key_id, t.model, t.cost,
                f"{ratio:.1f}x" if ratio is not None else "more than", grant.cost, t.usage.completion_tokens)


@dataclass(frozen=True)
class _SharedGrant:
    """What a key took from the shared store: its reservation (request_id, None without a budget)."""

    key_id: str
    tokens: int
    cost: float
    request_id: str | None
    tpm: bool


@dataclass(frozen=True)
class _RateGrant:
    """What a key without a budget took at admission: tokens to correct at settle."""

    key_id: str
    tokens: int


def _read_spend(ledger: Any, key: KeyRecord, since: Any) -> float:
    # Rows this process (or a previous run, recovered from the journal) recorded must be in the
    # database before they are summed.
    ledger.flush(timeout=10)
    return ledger_spend(ledger.database_url, key.tenant, key.key_id, since)


def build_guard(constellation: Constellation, settings: "GatewaySettings") -> Guard:
    """Open the key store (`$RIGHTMODEL_KEYS_URL`, `storage.keys_url`, else SQLite in home), read it
    once and start the refresh thread. A store that does not answer yet does not stop startup:
    requests get 503 until it does. A URL that cannot work at all is a ConfigError."""
    store = KeyStore(resolve_keys_url(settings.home, constellation.storage.keys_url))
    guard = Guard(constellation, store, shared=open_shared_limits(constellation, settings))
    guard.refresh()
    guard.start()
    return guard


def open_shared_limits(constellation: Constellation, settings: "GatewaySettings") -> Any:
    """The shared limits store when this process is one of several (`settings.limits_url`), else None."""
    if settings.limits_url is None:
        return None
    import os
    import socket

    from rightmodel.cluster.limits_store import SharedLimits

    instance = settings.instance or f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"
    # A request lives at most its deadline; a reservation unsettled well after that belongs to a
    # process that died, and is charged in full then (cluster/limits_store.py).
    hold_s = max(60.0, 2 * constellation.chat_deadline_s() + 30.0)
    shared = SharedLimits(settings.limits_url, instance=instance, hold_s=hold_s)
    try:
        shared.migrate()
    except BaseException:
        shared.close()
        raise
    return shared
