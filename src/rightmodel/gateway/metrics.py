"""Prometheus metrics of one gateway (GET /metrics), fed from the ledger row of each request.

Every API request ends in exactly one ledger row (chat.record); `GatewayMetrics.observe` reads
that row, so the counters here always agree with the ledger. Specialist micro-batch sizes come
from the MicroBatcher's observer hook; queue depths and the ledger's journal backlog are read
when /metrics is scraped.

One `CollectorRegistry` per gateway (never prometheus_client's global REGISTRY), held in
`GatewayState.metrics`: two apps in one process share nothing.

Labels are bounded and hold nothing sensitive: endpoint, route and status come from the code;
`model` is the row's model only when it is one this gateway serves (a configured remote model's
name, a loaded specialist's version `task@vN`, the bundled encoder's name `all-MiniLM-L6-v2`,
never a path), "none" when no model was reached (refused before routing), and "unknown" for
anything else, so a client's model string can never become a label value. `task` and privacy `policy`/`action` are checked the same way.
No tenants, keys, prompts or errors.

Hot path: label children are cached per label tuple, so an observation is a dict lookup and a
handful of locked increments (a few microseconds; see tests/test_gateway_metrics.py).
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector

import rightmodel

if TYPE_CHECKING:
    from rightmodel.gateway.state import GatewayState
    from rightmodel.ledger import LedgerRecord

log = logging.getLogger("rightmodel.gateway")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # text format 0.0.4: what every Prometheus version scrapes
# Seconds, 1 ms .. 60 s: specialist answers take milliseconds, remote ones up to a minute.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings", "/v1/classify"})
ROUTES = frozenset({"rejected", "specialist", "remote", "escalated", "escalation_unavailable", "embeddings"})
POLICIES = frozenset({"local-only", "redact", "allow"})
ACTIONS = frozenset({"none", "allowed", "redacted", "kept_local", "refused"})
NONE, UNKNOWN, OTHER = "none", "unknown", "other"


def _bounded(value: Any, allowed: frozenset[str] | set[str], missing: str = NONE, other: str = UNKNOWN) -> str:
    if value is None:
        return missing
    return value if value in allowed else other


# Seconds from arrival to the first frame of a streamed answer (remote streams are read up to
# their first content before that frame leaves: gateway/fallback.py open_primed).
FIRST_TOKEN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
ERROR_KINDS = frozenset({"timeout", "connect", "protocol", "http_429", "http_5xx", "http_4xx", "other"})
CIRCUIT_STATES = ("closed", "half-open", "open")


class GatewayMetrics:
    """The metrics of one gateway process; build with `for_state` once the state exists."""

    def __init__(self, models: Iterable[str] = (), tasks: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.models = frozenset(models)
        self.tasks = frozenset(tasks)
        r = self.registry
        self.requests = Counter(
            "rightmodel_requests", "API requests by endpoint, route, model and HTTP status (one per ledger row)",
            ("endpoint", "route", "model", "status"), registry=r,
        )
        self.latency = Histogram(
            "rightmodel_request_duration_seconds", "Request latency as the ledger records it, arrival to answer (streams: to the end)",
            ("endpoint", "route"), buckets=LATENCY_BUCKETS, registry=r,
        )
        self.escalations = Counter("rightmodel_escalations", "Requests a specialist escalated to a remote model, by task", ("task",), registry=r)
        self.cost = Counter("rightmodel_cost_usd", "Actual cost in USD (remote prices, local compute)", ("route", "model"), registry=r)
        self.counterfactual = Counter(
            "rightmodel_counterfactual_cost_usd", "What the frontier model would have cost, in USD", ("route", "model"), registry=r
        )
        self.tokens_in = Counter("rightmodel_tokens_in", "Prompt tokens", ("route", "model"), registry=r)
        self.tokens_out = Counter("rightmodel_tokens_out", "Completion tokens", ("route", "model"), registry=r)
        self.privacy = Counter(
            "rightmodel_privacy_requests", "Requests scanned for sensitive data, by effective policy and what it did",
            ("policy", "action"), registry=r,
        )
        self.batch_size = Histogram(
            "rightmodel_specialist_batch_size", "Texts per specialist inference call (micro-batching)",
            ("specialist",), buckets=BATCH_BUCKETS, registry=r,
        )
        self.feedback = Counter(
            "rightmodel_feedback", "Feedback received (POST /v1/feedback), by task and whether the answer was right",
            ("task", "verdict"), registry=r,
        )
        self.overruns = Counter(
            "rightmodel_budget_overruns", "Requests that cost more than the budget reservation made for them (ledger extra.budget_overrun)",
            ("model",), registry=r,
        )
        self.long_answers = Counter(
            "rightmodel_max_tokens_exceeded", "Upstream answers billed for more completion tokens than max_tokens allowed",
            ("model",), registry=r,
        )
        self.first_token = Histogram(
            "rightmodel_time_to_first_token_seconds", "Streamed answers: arrival to the first frame of the answer (ledger extra.first_token_ms)",
            ("route", "model"), buckets=FIRST_TOKEN_BUCKETS, registry=r,
        )
        self.upstream_errors = Counter(
            "rightmodel_upstream_errors",
            "Failed attempts at a remote model (each retry and fallback counts; a stream cut after it began too), by model and kind",
            ("model", "kind"), registry=r,
        )
        self.build = Info("rightmodel_build", "Version of this gateway", registry=r)
        self.build.info({"version": rightmodel.__version__, "python": platform.python_version()})
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        self._live = _LiveCollector()
        r.register(self._live)
        self._children: dict[tuple, tuple] = {}
        self._escalation_children: dict[str, Any] = {}
        self._privacy_children: dict[tuple[str, str], Any] = {}
        self._failed = False

    @classmethod
    def for_state(cls, state: "GatewayState") -> "GatewayMetrics":
        """Metrics for `state`: its models and tasks bound the labels; its specialists report
        their batch sizes; its queues and ledger are read at scrape time."""
        c = state.constellation
        from rightmodel.gateway.batches import EMBEDDING_MODEL

        models = set(c.remote_models()) | {b.ref for b in state.specialists.values()} | {EMBEDDING_MODEL}
        tasks = set(c.tasks) | {b.version.task for b in state.specialists.values()}
        metrics = cls(models, tasks)
        for name, backend in state.specialists.items():
            backend.batcher.observer = metrics.batch_observer(name)
        metrics._live.bind(state)
        return metrics

    # -- the hot path ---------------------------------------------------------------------------

    def observe(self, row: "LedgerRecord") -> None:
        """Count one finished request from its ledger row. Never raises."""
        try:
            model = row.model
            if model is None:
                model = NONE
            elif model not in self.models:
                model = UNKNOWN
            key = (row.endpoint, row.route, model, row.status)
            children = self._children.get(key)
            if children is None:
                children = self._make_children(key)
            requests, latency, cost, counterfactual, tokens_in, tokens_out = children
            requests.inc()
            latency.observe(row.latency_ms / 1000.0)
            if row.cost_usd:
                cost.inc(row.cost_usd)
            if row.counterfactual_cost_usd:
                counterfactual.inc(row.counterfactual_cost_usd)
            if row.tokens_in:
                tokens_in.inc(row.tokens_in)
            if row.tokens_out:
                tokens_out.inc(row.tokens_out)
            if row.escalated:
                task = _bounded(row.task, self.tasks)
                child = self._escalation_children.get(task)
                if child is None:
                    child = self._escalation_children[task] = self.escalations.labels(task)
                child.inc()
            extra = row.extra
            if extra:
                if "first_token_ms" in extra:
                    self.first_token.labels(_bounded(row.route, ROUTES, other=OTHER), model).observe(extra["first_token_ms"] / 1000.0)
                if "budget_overrun" in extra:
                    self.overruns.labels(model).inc()
                if "max_tokens_exceeded" in extra:
                    self.long_answers.labels(model).inc()
            if row.privacy_policy is not None:
                pkey = (_bounded(row.privacy_policy, POLICIES, other=OTHER), _bounded(row.privacy_action, ACTIONS, other=OTHER))
                child = self._privacy_children.get(pkey)
                if child is None:
                    child = self._privacy_children[pkey] = self.privacy.labels(*pkey)
                child.inc()
        except Exception:  # metrics must never fail a request
            if not self._failed:
                self._failed = True
                log.exception("metrics: observing a request failed (logged once)")

    def observe_upstream_errors(self, errors: Iterable[tuple[str, str]]) -> None:
        """Count a request's failed attempts at remote models: (model, kind) each. Never raises."""
        try:
            for model, kind in errors:
                self.upstream_errors.labels(model if model in self.models else UNKNOWN, kind if kind in ERROR_KINDS else "other").inc()
        except Exception:  # metrics must never fail a request
            log.exception("metrics: counting upstream errors failed")

    def observe_feedback(self, task: str | None, correct: bool | None) -> None:
        """Count one stored feedback; verdict is correct, incorrect or unknown (a score only)."""
        verdict = "unknown" if correct is None else ("correct" if correct else "incorrect")
        self.feedback.labels(_bounded(task, self.tasks), verdict).inc()

    def _make_children(self, key: tuple) -> tuple:
        endpoint, route, model, status = key
        # The cache key holds the raw endpoint/route/status, so they are bounded before use here
        # and the cache can never grow past the bounded label combinations plus code constants.
        endpoint_l = endpoint if endpoint in ENDPOINTS else OTHER
        route_l = route if route in ROUTES else OTHER
        status_l = str(status) if isinstance(status, int) and 100 <= status <= 599 else OTHER
        children = (
            self.requests.labels(endpoint_l, route_l, model, status_l),
            self.latency.labels(endpoint_l, route_l),
            self.cost.labels(route_l, model),
            self.counterfactual.labels(route_l, model),
            self.tokens_in.labels(route_l, model),
            self.tokens_out.labels(route_l, model),
        )
        if len(self._children) < 10_000:  # belt and braces: never an unbounded cache
            self._children[key] = children
        return children

    def batch_observer(self, specialist: str) -> Callable[[int], None]:
        """The MicroBatcher hook of one specialist: called with each batch's size."""
        observe = self.batch_size.labels(specialist).observe
        return observe

    # -- scraping -------------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector:
    """Values read at scrape time: specialist queue depths, the CPU pool, circuit breakers, the ledger's journal backlog."""

    def __init__(self) -> None:
        self.state: "GatewayState | None" = None

    def bind(self, state: "GatewayState") -> None:
        self.state = state

    def describe(self):
        return []  # values depend on the bound state; no names to reserve up front

    def collect(self):
        state = self.state
        if state is None:
            return
        depth = GaugeMetricFamily(
            "rightmodel_specialist_queue_depth", "Requests waiting for a specialist's next micro-batch", labels=["specialist"]
        )
        for name, backend in state.specialists.items():
            depth.add_metric([name], backend.batcher.queue_depth)
        yield depth
        cpu = state.cpu.stats() if state.cpu is not None else None
        if cpu is not None:
            yield GaugeMetricFamily("rightmodel_cpu_pool_queued", "Units of CPU work waiting for a thread (embeddings, classify chunks)",
                                    value=cpu["queued"])
            yield GaugeMetricFamily("rightmodel_cpu_pool_busy", "CPU pool threads running work", value=cpu["busy"])
            yield GaugeMetricFamily("rightmodel_cpu_pool_abandoned", "CPU pool threads still running work whose request gave up",
                                    value=cpu["abandoned_running"])
        circuits = GaugeMetricFamily(
            "rightmodel_circuit_state", "Circuit breaker of each remote model: 1 for its current state (closed, half-open, open), else 0",
            labels=["model", "state"],
        )
        for name, breaker in sorted(state.breakers.items()):
            current = breaker.state
            for value in CIRCUIT_STATES:
                circuits.add_metric([name, value], 1 if current == value else 0)
        yield circuits
        stats = state.ledger.stats() if state.ledger is not None else {}
        yield GaugeMetricFamily(
            "rightmodel_ledger_pending", "Ledger rows journaled but not yet in the database", value=stats.get("pending", 0) or 0
        )
        if stats.get("db_up") is not None:
            yield GaugeMetricFamily("rightmodel_ledger_db_up", "1 if the ledger database answered the last write", value=1 if stats["db_up"] else 0)
