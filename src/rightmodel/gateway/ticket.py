"""One request's bookkeeping from admission to its ledger row: what the guard reserved, what
routing decided, what the answer cost and what privacy detection found."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rightmodel.backends.base import Usage
from rightmodel.gateway import answers
from rightmodel.ledger import make_request_id
from rightmodel.privacy.gate import NOT_SCANNED, Inspection


@dataclass
class Ticket:
    """One request's bookkeeping from admission to its ledger row."""

    endpoint: str
    request_id: str = field(default_factory=make_request_id)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    start: float = field(default_factory=time.perf_counter)
    routing_ms: float = 0.0
    model_ms: float = 0.0
    tenant: str | None = None
    task: str | None = None
    route: str = "rejected"
    reason: str = ""
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    counterfactual: float = 0.0
    confidence: float | None = None
    escalated: bool = False
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    grant: Any = None  # what the guard reserved at admission (settled when the row is written)
    key_privacy: str | None = None  # the API key's privacy policy, if it has one
    inspection: Inspection = field(default_factory=lambda: NOT_SCANNED)  # what privacy detection found (rightmodel/privacy/gate.py)
    privacy_action: str | None = None
    specialist: str | None = None  # the specialist version consulted (answered or escalated)
    labels: list[str] | None = None  # the label(s) the answer carried, when it is a label
    shadow_name: str | None = None  # the task's candidate in shadow mode (gateway/shadow.py)
    shadow_task: Any = None  # a classifier candidate's classification (gateway/shadow.py)
    shadow_job: Any = None  # a generative candidate's generation (gateway/shadow_generative.py)
    served_text: str | None = None  # the answer the client got, for a generative shadow to be judged against
    shadow_model: str | None = None
    shadow_labels: list[str] | None = None
    shadow_confidence: float | None = None
    shadow_accepted: bool | None = None
    shadow_agree: bool | None = None
    upstream_errors: list[tuple[str, str]] = field(default_factory=list)  # (remote model, kind) per failed attempt: /metrics only

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0

    def info(self, threshold: float | None = None) -> answers.RouteInfo:
        return answers.RouteInfo(
            request_id=self.request_id,
            route=self.route,
            reason=self.reason,
            model=self.model or "",
            task=self.task,
            confidence=self.confidence,
            threshold=threshold,
            cost_usd=round(self.cost, 10),
            latency_ms=self.elapsed_ms(),
            unsure=bool(self.extra.get("unsure")),
        )
