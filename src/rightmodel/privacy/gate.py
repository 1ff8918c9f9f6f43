"""The gateway's privacy step: scan a request, pick the policy, and say what may leave and how.

Policies (the strictest of the task's and the API key's applies; a key cannot loosen a task):
- ``allow``: sensitive data may go to any model; detection still runs and is recorded.
- ``redact``: before any call to a non-local model, findings become typed, numbered placeholders;
  the answer gets the original values back (streams too).
- ``local-only``: a request with findings is served only by local models (specialists, or remote
  models marked ``local: true``); when none can serve it, the gateway refuses it (403).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from rightmodel.privacy.config import PrivacyConfig, strictest
from rightmodel.privacy.redact import Redaction
from rightmodel.privacy.scan import TextField, counts, text_fields

INLINE_CHARS = 512  # shorter requests are scanned on the event loop; longer ones in a worker thread


@dataclass
class Inspection:
    """What detection found in one request and what the policy makes of it."""

    policy: str
    fields: list[TextField] = field(default_factory=list)
    entities: dict[str, int] = field(default_factory=dict)
    scanned: bool = True
    _redaction: Redaction | None = None
    _outbound: dict[str, Any] | None = None

    @property
    def sensitive(self) -> bool:
        return bool(self.entities)

    @property
    def local_only(self) -> bool:
        return self.sensitive and self.policy == "local-only"

    @property
    def redacts(self) -> bool:
        return self.sensitive and self.policy == "redact"

    def outbound(self, body: dict[str, Any]) -> tuple[dict[str, Any], Redaction | None]:
        """The body a non-local model may see, and the mapping to restore its answer with."""
        if not self.redacts:
            return body, None
        if self._outbound is None:
            self._redaction = Redaction()
            self._outbound = self._redaction.apply(body, self.fields)
        return self._outbound, self._redaction

    def summary(self) -> str:
        return ", ".join(f"{k}×{v}" for k, v in sorted(self.entities.items()))


NOT_SCANNED = Inspection(policy="allow", scanned=False)


class PrivacyGate:
    def __init__(self, config: PrivacyConfig) -> None:
        self.config = config
        self.detector = None
        if config.detect:
            from rightmodel.privacy.detector import Detector

            self.detector = Detector(config)

    def policy(self, task_policy: str | None, key_policy: str | None) -> str:
        return strictest(task_policy or self.config.policy, key_policy)

    def inspect(self, body: dict[str, Any], policy: str, fields: list[TextField] | None = None) -> Inspection:
        if self.detector is None:
            return Inspection(policy=policy, scanned=False)
        fields = text_fields(body) if fields is None else fields
        for f in fields:
            f.entities = self.detector.detect(f.text)
        return Inspection(policy=policy, fields=fields, entities=counts(fields))

    async def inspect_async(self, body: dict[str, Any], policy: str) -> Inspection:
        if self.detector is None:
            return Inspection(policy=policy, scanned=False)
        fields = text_fields(body)
        if sum(len(f.text) for f in fields) <= INLINE_CHARS:
            return self.inspect(body, policy, fields)
        return await asyncio.get_running_loop().run_in_executor(None, self.inspect, body, policy, fields)

    def scrub(self, text: str | None) -> str | None:
        """Findings in `text` replaced by their type: for error messages and log lines."""
        if not text or self.detector is None:
            return text
        try:
            return self.detector.scrub(text)
        except Exception:  # never lose an error message to the scrubber: hide it instead
            return "(message withheld: it could not be scanned for sensitive data)"


class ScrubbingFilter(logging.Filter):
    """Log records leave with sensitive values replaced by their type (tracebacks included)."""

    def __init__(self, gate: PrivacyGate) -> None:
        super().__init__()
        self.gate = gate

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = self.gate.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.gate.scrub(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True
