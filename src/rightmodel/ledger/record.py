"""One ledger row: the ``LedgerRecord`` dataclass, its journal encoding and request ids.

The encoding is the hot path's only real work (``Ledger.record`` serialises, then makes one
``os.write``), so it is a single ``orjson.dumps`` of the dataclass: a few microseconds. Anything
orjson cannot encode natively goes through a fallback instead of raising into the gateway.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

_DUMPS_OPTIONS = (
    orjson.OPT_APPEND_NEWLINE  # one record = one line of the journal
    | orjson.OPT_NAIVE_UTC  # a naive created_at is taken as UTC, as documented on the field
    | orjson.OPT_UTC_Z
    | orjson.OPT_NON_STR_KEYS  # extra={1: ...} must not make record() raise
    | orjson.OPT_SERIALIZE_NUMPY  # confidences often arrive as numpy scalars
)


def make_request_id() -> str:
    """A new request id: ``req_`` + 16 hex digits of ``time_ns`` + 10 random hex digits.

    Ids sort by creation time (to the nanosecond, across processes on one clock), which keeps
    the primary-key index append-mostly; 40 random bits make collisions between requests
    created in the same nanosecond negligible. ``os.urandom`` stays distinct across forks.
    """
    return f"req_{time.time_ns():016x}{os.urandom(5).hex()}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True, kw_only=True)
class LedgerRecord:
    """Everything the ledger keeps about one gateway request (never prompts or secrets).

    ``created_at`` is the admission time, in UTC (a naive value is taken as UTC). ``tenant`` is an
    API key id or tenant name, never the key. ``counterfactual_cost_usd`` is what the default
    frontier model would have cost. ``error`` is "ErrorType: message" without secrets. ``extra``
    is a small JSON object for whatever else explains the row.

    Privacy, so an audit can show what left and why without the ledger holding what it guards:
    ``privacy_policy`` is the effective policy ("local-only", "redact" or "allow"; None when
    detection did not run, e.g. the request was rejected first), ``privacy_action`` what it did
    ("none", "allowed", "redacted", "kept_local", "refused"), and ``pii_entities`` the sensitive
    entities found, as entity type -> count (e.g. ``{"EMAIL_ADDRESS": 2}``): types and counts,
    never the values.

    Answers, so feedback can be scored later: ``specialist`` is the specialist version consulted
    (``task@vN``; also when it was not confident and the request escalated, its guess then in
    ``extra.specialist.label``), ``labels`` the label(s) the answer carried when the answer is a
    label (a specialist's, or a frontier answer that is exactly one of the task's labels).

    Shadow mode: ``shadow_model`` is a candidate specialist that classified the request beside
    production without answering, with its ``shadow_labels`` and ``shadow_confidence``;
    ``shadow_accepted`` says whether it would have answered (confidence at or above its threshold)
    and ``shadow_agree`` whether its labels equal ``labels`` (None when the answer was no label).
    """

    endpoint: str
    route: str
    request_id: str = field(default_factory=make_request_id)
    created_at: datetime = field(default_factory=_utcnow)
    tenant: str | None = None
    task: str | None = None
    reason: str = ""
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    latency_ms: float = 0.0
    routing_ms: float = 0.0
    model_ms: float = 0.0
    cost_usd: float = 0.0
    counterfactual_cost_usd: float = 0.0
    confidence: float | None = None
    escalated: bool = False
    stream: bool = False
    status: int = 200
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    privacy_policy: str | None = None
    privacy_action: str | None = None
    pii_entities: dict[str, int] | None = None
    specialist: str | None = None
    labels: list[str] | None = None
    shadow_model: str | None = None
    shadow_labels: list[str] | None = None
    shadow_confidence: float | None = None
    shadow_accepted: bool | None = None
    shadow_agree: bool | None = None


def encode(rec: LedgerRecord) -> bytes:
    """One journal line (JSON + newline). Never raises for odd field values.

    Values orjson cannot encode (an int beyond 64 bits, a string with lone surrogates, an
    arbitrary object in ``extra``) are turned into strings; the shipper then validates types
    and quarantines a row the database would refuse, rather than the request failing here.
    """
    try:
        return orjson.dumps(rec, default=_fallback, option=_DUMPS_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        plain = {name: _plain(getattr(rec, name)) for name in rec.__slots__}
        return orjson.dumps(plain, option=_DUMPS_OPTIONS)


def _fallback(value: Any) -> Any:
    """orjson's ``default``: sets become lists, numpy-like scalars their Python value, else str."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


def _plain(value: Any) -> Any:
    """A copy orjson surely encodes: JSON types only, valid UTF-8, ints within 64 bits."""
    if isinstance(value, dict):
        return {_plain_str(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, float, datetime)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    return _plain_str(value if isinstance(value, str) else str(value))


def _plain_str(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")
