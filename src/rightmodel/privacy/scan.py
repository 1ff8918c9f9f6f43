"""Where sensitive data can hide in a chat request, and what detection found there.

Every string that would be sent upstream is scanned: all message roles, every text part, tool
call arguments, tool results, participant names, tool descriptions, metadata, `user`. Only
structural values (model, role, type, ids, tool/function names) are skipped. The text parts of
one message are joined before detection, so a value split across parts is still one finding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rightmodel.privacy.entities import Entity

Path = tuple[Any, ...]
SKIP_KEYS = frozenset({"model", "role", "type", "tool_call_id", "id", "detail", "format", "encoding_format", "$ref", "$schema", "pattern", "stream"})
# Opaque payloads: base64 audio/files, data: URLs of images. Detection cannot read them (noted in the README).
OPAQUE_KEYS = frozenset({"data", "file_data"})


@dataclass
class TextField:
    """One detection unit: one string, or the text parts of one message joined."""

    paths: list[Path]
    pieces: list[str]
    entities: list[Entity] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.pieces[0] if len(self.pieces) == 1 else "".join(self.pieces)


def text_fields(body: dict[str, Any]) -> list[TextField]:
    out: list[TextField] = []
    for key, value in body.items():
        if key == "messages" and isinstance(value, list):
            for i, message in enumerate(value):
                if isinstance(message, dict):
                    _message(message, ("messages", i), out)
        elif key not in SKIP_KEYS:
            _walk(value, (key,), out)
    return out


def _message(message: dict[str, Any], path: Path, out: list[TextField]) -> None:
    for key, value in message.items():
        if key == "content" and isinstance(value, list):
            texts = [(j, p["text"]) for j, p in enumerate(value) if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if texts:
                out.append(TextField([path + ("content", j, "text") for j, _ in texts], [t for _, t in texts]))
            for j, part in enumerate(value):
                if isinstance(part, dict):
                    _walk({k: v for k, v in part.items() if k != "text"}, path + ("content", j), out)
        elif key not in SKIP_KEYS:
            _walk(value, path + (key,), out)


def _walk(value: Any, path: Path, out: list[TextField]) -> None:
    if isinstance(value, str):
        if value and not value.startswith("data:"):
            out.append(TextField([path], [value]))
    elif isinstance(value, dict):
        function_like = bool(path) and path[-1] in ("function", "function_call", "tool_choice")
        for key, item in value.items():
            if key in SKIP_KEYS or key in OPAQUE_KEYS or (key == "name" and function_like):
                continue
            _walk(item, path + (key,), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, path + (i,), out)


def counts(fields: list[TextField]) -> dict[str, int]:
    """Entity type -> number of findings (never the values): what the ledger keeps."""
    return dict(Counter(e.type for f in fields for e in f.entities))
