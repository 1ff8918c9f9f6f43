"""Redact-and-restore: typed, numbered placeholders out; the original values back in the answer.

The same value gets the same placeholder everywhere in a request (all turns, all fields), so the
frontier model can still tell "the customer" from "the agent". Models echo placeholders
imperfectly, so restoration also accepts `[PERSON_1]` and a bare `PERSON_1`, but only for
placeholders this request actually issued; anything else is left as written.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import orjson

from rightmodel.privacy.scan import Key, Path, TextField

MAX_HELD = 48  # longest placeholder prefix a stream holds back


def _json_inner(value: str) -> str:
    return orjson.dumps(value).decode()[1:-1]


class Redaction:
    """The placeholder mapping for one request."""

    def __init__(self) -> None:
        self.by_value: dict[tuple[str, str], str] = {}
        self.values: dict[str, str] = {}  # "PERSON_1" -> original
        self._numbers: Counter[str] = Counter()
        self._pattern: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.values)

    def placeholder(self, entity_type: str, value: str) -> str:
        key = (entity_type, value)
        core = self.by_value.get(key)
        if core is None:
            self._numbers[entity_type] += 1
            core = f"{entity_type}_{self._numbers[entity_type]}"
            self.by_value[key] = core
            self.values[core] = value
            self._pattern = None
        return f"<{core}>"

    def rehide(self, text: str) -> str:
        """``text`` with every value this request redacted put back behind its placeholder (for an
        answer that was restored before it could be kept, e.g. a relayed stream)."""
        for core, value in sorted(self.values.items(), key=lambda kv: -len(kv[1])):
            text = text.replace(value, f"<{core}>")
        return text

    # -- outbound ------------------------------------------------------------------------------

    def apply(self, body: dict[str, Any], fields: list[TextField]) -> dict[str, Any]:
        """A copy of `body` with every finding replaced; `body` itself is untouched.

        Values are written first, then renamed keys deepest first, so no path goes stale.
        """
        changed = [f for f in fields if f.entities]
        if not changed:
            return body
        out = copy_json(body)
        changed.sort(key=lambda f: (f.is_key, -len(f.paths[0])))
        for f in changed:
            pieces = self.redact_pieces(f)
            if f.encode is not None:
                pieces = [f.encode("".join(pieces))]
            for path, text in zip(f.paths, pieces):
                _set(out, path, text)
        return out

    def redact_pieces(self, f: TextField) -> list[str]:
        joined = f.text
        pieces: list[str] = []
        base = 0
        for piece in f.pieces:
            end = base + len(piece)
            parts, pos = [], base
            for e in f.entities:
                if e.end <= base or e.start >= end:
                    continue
                start = max(e.start, base)
                parts.append(joined[pos:start])
                if e.start >= base:  # the placeholder goes where the value starts
                    parts.append(self.placeholder(e.type, joined[e.start:e.end]))
                pos = min(e.end, end)
            parts.append(joined[pos:end])
            pieces.append("".join(parts))
            base = end
        return pieces

    # -- inbound -------------------------------------------------------------------------------

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            types = sorted({core.rsplit("_", 1)[0] for core in self.values}, key=len, reverse=True)
            self._pattern = re.compile(r"<(?:%s)_\d+>|\[(?:%s)_\d+\]|\b(?:%s)_\d+\b" % (("|".join(map(re.escape, types)),) * 3))
        return self._pattern

    def restore(self, text: str, json_escaped: bool = False) -> str:
        """`text` with this request's placeholders turned back into their values."""
        if not self.values or not text:
            return text

        def back(m: re.Match[str]) -> str:
            value = self.values.get(m.group(0).strip("<>[]"))
            if value is None:
                return m.group(0)
            return _json_inner(value) if json_escaped else value

        return self.pattern.sub(back, text)

    def restore_completion(self, payload: dict[str, Any]) -> None:
        """Restore, in place, what a chat completion hands back to the client."""
        for choice in payload.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                self._restore_message(message)

    def _restore_message(self, message: dict[str, Any]) -> None:
        for key in ("content", "refusal", "reasoning_content"):
            if isinstance(message.get(key), str):
                message[key] = self.restore(message[key])
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    part["text"] = self.restore(part["text"])
        calls = message.get("tool_calls") or []
        if isinstance(message.get("function_call"), dict):
            calls = [*calls, {"function": message["function_call"]}]
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                fn["arguments"] = self.restore(fn["arguments"], json_escaped=True)

    def stream(self, json_escaped: bool = False) -> "StreamRestorer":
        return StreamRestorer(self, json_escaped)


class StreamRestorer:
    """Restores a text arriving in pieces: holds back a tail that may be the start of a placeholder."""

    def __init__(self, redaction: Redaction, json_escaped: bool) -> None:
        self.redaction = redaction
        self.json_escaped = json_escaped
        self.pending = ""
        self._tail = re.compile(r"[<\[]?[A-Z][A-Z0-9_]*$|[<\[]$")

    def feed(self, chunk: str) -> str:
        text = self.pending + chunk
        m = self._tail.search(text)
        cut = m.start() if m and len(text) - m.start() <= MAX_HELD and self._could_grow(m.group(0)) else len(text)
        # A complete placeholder can still be followed by its closing bracket: restore up to the cut only.
        out, self.pending = text[:cut], text[cut:]
        return self.redaction.restore(out, self.json_escaped)

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return self.redaction.restore(out, self.json_escaped)

    def _could_grow(self, tail: str) -> bool:
        core = tail.lstrip("<[")
        return any(known.startswith(core) or (core.startswith(known.rsplit("_", 1)[0] + "_") and core[len(known.rsplit("_", 1)[0]) + 1:].isdigit())
                   for known in self.redaction.values) if core else True


def _set(root: Any, path: Path, value: str) -> None:
    node = root
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if isinstance(last, Key):  # rename the key, keeping the order of the others
        items = list(node.items())
        node.clear()
        node.update((value if k == last else k, v) for k, v in items)
    else:
        node[last] = value


def copy_json(value: Any) -> Any:
    """A deep copy of a parsed JSON document, iterative (copy.deepcopy recurses: deep nesting would exhaust the stack)."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, parent, slot = stack.pop()
        if isinstance(item, dict):
            new: Any = dict.fromkeys(item)  # keys in their order; values filled below
            stack.extend((v, new, k) for k, v in item.items())
        elif isinstance(item, list):
            new = [None] * len(item)
            stack.extend((v, new, i) for i, v in enumerate(item))
        else:
            new = item
        parent[slot] = new
    return root[0]
