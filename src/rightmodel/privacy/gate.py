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
import re
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from rightmodel.bounds import WorkCancelled
from rightmodel.privacy.config import PrivacyConfig, strictest
from rightmodel.privacy.redact import Redaction
from rightmodel.privacy.entities import Entity, resolve_overlaps
from rightmodel.privacy.name_reader import ReadingBudget
from rightmodel.privacy.scan import TextField, counts, junctions, text_fields

INLINE_CHARS = 512  # shorter requests are scanned on the event loop; longer ones in a worker thread
Runner = Callable[..., Awaitable[Any]]


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
    def __init__(self, config: PrivacyConfig, endpoints: tuple[str, ...] = ()) -> None:
        """`endpoints`: URLs of the configured upstreams, kept readable when logs are scrubbed."""
        self.config = config
        self.detector = None
        if config.detect:
            from rightmodel.privacy.detector import Detector

            self.detector = Detector(config)
        self._readable = readable_pattern(endpoints)

    def policy(self, task_policy: str | None, key_policy: str | None) -> str:
        return strictest(task_policy or self.config.policy, key_policy)

    def strict(self, task_strict: bool | None) -> bool:
        """Whether uncertain findings count for a local-only request (the task's say, else the default)."""
        return self.config.strict if task_strict is None else task_strict

    def inspect(self, body: dict[str, Any], policy: str, fields: list[TextField] | None = None, strict: bool = False,
                cancelled: Callable[[], bool] | None = None) -> Inspection:
        """What detection finds in `body`. `cancelled` is checked between fields and chunks of a long
        text: when it says so, the work stops with WorkCancelled (its caller has gone)."""
        if self.detector is None:
            return Inspection(policy=policy, scanned=False)
        fields = text_fields(body) if fields is None else fields
        # Strict local-only: a name the tagger half-believes keeps the request local too. Nothing
        # is redacted under local-only, so a false alarm costs a local answer, never a garbled prompt.
        unsure = strict and policy == "local-only"
        budget = ReadingBudget()  # the second name reader's windows, for the whole request
        for f in fields:
            if cancelled is not None and cancelled():
                raise WorkCancelled("privacy detection stopped: its request has gone")
            f.entities = self.detector.detect(f.text, unsure, cancelled, budget)
        self._across_fields(fields, budget)
        return Inspection(policy=policy, fields=fields, entities=counts(fields))

    def _two_words_glued(self, name: str) -> bool:
        """A one-word name found across a junction that no name list holds is the end of one field
        glued to the start of the next ("ok" + "hi": "okhi"), not a name split in two ("Isabel Mor" +
        "ales" is found as "Isabel Morales")."""
        tagger = self.detector.tagger
        return tagger is not None and not any(c.isspace() for c in name) and tagger.info(name).gaz[:2] == "00"

    def _across_fields(self, fields: list[TextField], budget: ReadingBudget) -> None:
        """Values split between two fields (two messages): found at the junctions, redacted on both sides."""
        text, spots = junctions(fields)
        if not spots:
            return
        found = self.detector.detect(text, budget=budget)
        if not found:
            return
        touched: set[int] = set()
        spot = iter(spots)
        left, right, start, boundary, end = next(spot)
        for e in found:  # both in text order
            while e.start >= end:
                nxt = next(spot, None)
                if nxt is None:
                    break
                left, right, start, boundary, end = nxt
            if not e.start < boundary < e.end:
                continue  # inside one field: already found there
            if e.type == "PERSON" and self._two_words_glued(text[e.start:e.end]):
                continue
            if _covers(left, len(left.text) - (boundary - e.start), len(left.text), e.type) or _covers(right, 0, e.end - boundary, e.type):
                continue  # one side is already a whole finding ("hi" + "ann@example.com"): the other is not part of it
            left.entities.append(Entity(len(left.text) - (boundary - e.start), len(left.text), e.type, e.score, e.source))
            right.entities.append(Entity(0, e.end - boundary, e.type, e.score, e.source))
            touched.update((id(left), id(right)))
        for f in fields:
            if id(f) in touched:
                f.entities = resolve_overlaps(f.entities, self.detector.custom_types)

    async def inspect_async(self, body: dict[str, Any], policy: str, strict: bool = False, run: Runner | None = None,
                            **bounds: Any) -> Inspection:
        """`inspect` off the event loop for all but short requests: in `run` (the gateway's bounded
        CPU pool, given `bounds` such as tenant and deadline), else in the loop's default executor."""
        if self.detector is None:
            return Inspection(policy=policy, scanned=False)
        fields = text_fields(body)
        size = sum(len(f.text) for f in fields)
        if size <= INLINE_CHARS:
            return self.inspect(body, policy, fields, strict)
        if run is None:
            return await asyncio.get_running_loop().run_in_executor(None, self.inspect, body, policy, fields, strict)
        return await run(self.inspect, body, policy, fields, strict, weight=size / 4096, **bounds)

    def scrub(self, text: str | None) -> str | None:
        """Findings in `text` replaced by their type: for error messages and log lines.

        What an operator needs to read stays: traceback `File` lines, URLs of this gateway
        (loopback) and of the configured upstreams, exception names, error codes. Anything else
        is scrubbed as usual.
        """
        if not text or self.detector is None:
            return text
        try:
            keep = [(m.start(), m.end()) for m in self._readable.finditer(text)]
            out, last = [], 0
            for e in self.detector.detect(text):
                if any(s < e.end and e.start < t for s, t in keep):
                    continue
                out.append(text[last:e.start])
                out.append(f"<{e.type}>")
                last = e.end
            out.append(text[last:])
            return "".join(out)
        except Exception:  # never lose an error message to the scrubber: hide it instead
            return "(message withheld: it could not be scanned for sensitive data)"


def _covers(f: TextField, start: int, end: int, kind: str) -> bool:
    return any(e.type == kind and e.start <= start and end <= e.end for e in f.entities)


def readable_pattern(endpoints: tuple[str, ...]) -> re.Pattern[str]:
    """What log scrubbing leaves alone (see PrivacyGate.scrub)."""
    hosts = {"localhost", r"127(?:\.\d{1,3}){3}", r"\[::1\]", r"0\.0\.0\.0", r"\[::\]"}
    for url in endpoints:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        if host:
            hosts.add(re.escape(host.rsplit(":", 1)[0] if host.count(":") == 1 else host))
    return re.compile(
        r'^[ \t]*File "[^"\n]*", line \d+(?:, in [^\n]*)?$'  # a traceback frame (not its code line: literals can be data)
        r"|^Traceback \(most recent call last\):$"
        r"|\b[a-z][a-z0-9+.-]*://(?:" + "|".join(sorted(hosts)) + r")(?::\d+)?(?:/v\d+)?"  # our own and upstream URLs
        r"|\b[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning|Exit|Interrupt|Timeout)\b"  # exception names
        r"|\[Errno \d+\]|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\bE[A-Z]{4,}\b"  # errno, ERROR_CODES, ECONNREFUSED
        r"|\b(?:HTTP|[Ss]tatus|[Cc]ode)[ =:/]{0,3}\d{3}\b",  # status codes
        re.MULTILINE,
    )


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
