"""Restoring placeholders in an OpenAI-style SSE stream, frame by frame.

Each choice's content (and each tool call's arguments) has its own `StreamRestorer`; text held
back at the end of one frame comes out in the next, and whatever is still held when a choice
finishes is emitted in that choice's final frame, so nothing is lost or reordered.
"""

from __future__ import annotations

from typing import Any

import orjson

from rightmodel.privacy.redact import Redaction, StreamRestorer


class FrameRestorer:
    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self.restorers: dict[tuple[Any, ...], StreamRestorer] = {}

    def _restorer(self, key: tuple[Any, ...], json_escaped: bool) -> StreamRestorer:
        r = self.restorers.get(key)
        if r is None:
            r = self.restorers[key] = self.redaction.stream(json_escaped)
        return r

    def frame(self, frame: bytes) -> bytes:
        """One SSE frame with placeholders restored (frames that are not chunks pass unchanged)."""
        if not frame.startswith(b"data: {"):
            return frame
        try:
            chunk = orjson.loads(frame[6:])
        except orjson.JSONDecodeError:
            return frame
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not choices:
            return frame
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            finishing = choice.get("finish_reason") is not None
            for key in ("content", "refusal", "reasoning_content"):
                if isinstance(delta.get(key), str) or (finishing and (index, key) in self.restorers):
                    r = self._restorer((index, key), False)
                    text = r.feed(delta.get(key) or "")
                    delta[key] = text + r.flush() if finishing else text
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    r = self._restorer((index, "tool", call.get("index", 0)), True)
                    fn["arguments"] = r.feed(fn["arguments"])
            if finishing:
                self._flush_tools(index, delta)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _flush_tools(self, index: Any, delta: dict[str, Any]) -> None:
        for key, r in self.restorers.items():
            if key[0] == index and key[1] == "tool" and r.pending:
                delta.setdefault("tool_calls", []).append({"index": key[2], "function": {"arguments": r.flush()}})

    def leftover(self) -> bytes | None:
        """A last chunk for text still held when the stream ends without a finish_reason."""
        delta: dict[str, Any] = {}
        for (index, kind, *rest), r in self.restorers.items():
            text = r.flush()
            if text:
                if kind == "tool":
                    delta.setdefault("tool_calls", []).append({"index": rest[0], "function": {"arguments": text}})
                else:
                    delta[kind] = delta.get(kind, "") + text
        if not delta:
            return None
        return b"data: " + orjson.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}) + b"\n\n"
