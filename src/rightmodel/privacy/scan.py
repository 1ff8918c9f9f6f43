"""Where sensitive data can hide in a chat request, and what detection found there.

Every string that is sent upstream is scanned, and so is every dictionary key that is not a word
of the OpenAI schema (a metadata key, a JSON-schema property name). A value is skipped only when
it is provably structural: the top-level `model` and `metadata.task` (the gateway replaces or
drops both before sending), and values of schema enums (`role: "user"`, `type: "text"`,
`detail: "low"`...) that are one of the enum's few words, which carry no data by construction.
Skipping by key name alone would let `metadata.id = "jane@example.com"` through.

Binary payloads are opaque only when they are what the schema says: a `data:` URL whose base64
payload is valid, or valid base64 in `input_audio.data` / `file.file_data`. A payload that
decodes to text (a CSV, a JSON file) is scanned as that text and re-encoded after redaction.
The text parts of one message are joined before detection, so a value split across parts is one
finding; values split across two fields (two messages) are found by a second pass over the
junctions (see `junctions`).

The walk is iterative: no nesting depth can exhaust the stack here.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rightmodel.privacy.entities import Entity

Path = tuple[Any, ...]


class Key(str):
    """The last element of a path that names a dictionary key itself, not the value under it."""

    __slots__ = ()


# Enum values of the OpenAI chat-completions schema (and JSON Schema's own keywords): a string at
# one of these keys whose value is one of these words is structure, not data.
_JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
ENUMS: dict[str, frozenset[str]] = {
    "role": frozenset({"system", "user", "assistant", "tool", "function", "developer"}),
    "type": frozenset({"text", "image_url", "input_audio", "file", "refusal", "function", "custom", "json_schema",
                       "json_object", "content", "approximate", "grammar", "lark", "regex", *_JSON_TYPES}),
    "detail": frozenset({"auto", "low", "high"}),
    "format": frozenset({"wav", "mp3", "flac", "opus", "pcm16", "aac", "text", "grammar", "date-time", "date", "time",
                         "duration", "email", "uri", "uuid", "hostname", "ipv4", "ipv6"}),
    "tool_choice": frozenset({"none", "auto", "required"}),
    "reasoning_effort": frozenset({"none", "minimal", "low", "medium", "high"}),
    "service_tier": frozenset({"auto", "default", "flex", "scale", "priority"}),
    "verbosity": frozenset({"low", "medium", "high"}),
    "modalities": frozenset({"text", "audio"}),
    "encoding_format": frozenset({"float", "base64"}),
    "search_context_size": frozenset({"low", "medium", "high"}),
    "voice": frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}),
    "$schema": frozenset({"http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema",
                          "http://json-schema.org/schema#"}),
}
# Keys the schema defines: request, message, content part, tool, response format, JSON Schema.
# Any other key is client data and is scanned like a value.
SCHEMA_KEYS = frozenset("""
model messages stream stream_options include_usage include_obfuscation temperature top_p n stop max_tokens
max_completion_tokens presence_penalty frequency_penalty logit_bias logprobs top_logprobs user seed tools
tool_choice parallel_tool_calls response_format metadata store service_tier reasoning_effort verbosity
modalities audio prediction web_search_options user_location approximate city country region timezone
search_context_size prompt_cache_key safety_identifier functions function_call
role content name tool_calls tool_call_id refusal id type function arguments text image_url url detail
input_audio data format file file_data file_id filename
description parameters strict json_schema schema properties required items enum const additionalProperties
$defs definitions $ref $schema $id anyOf oneOf allOf not default examples title minimum maximum
exclusiveMinimum exclusiveMaximum minLength maxLength pattern minItems maxItems uniqueItems
minProperties maxProperties multipleOf patternProperties prefixItems if then else dependentRequired
custom grammar syntax definition voice
""".split())
OPAQUE_AT = frozenset({("input_audio", "data"), ("file", "file_data"), ("image_url", "url")})  # where the schema puts payloads
MIN_OPAQUE = 64  # shorter bare base64 "payloads" are scanned as text: real audio and files are longer
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+%-]+)*);base64,", re.ASCII)
JUNCTION_CHARS = 64  # each side of a junction between two fields read by the second pass


@dataclass
class TextField:
    """One detection unit: one string, or the text parts of one message joined.

    `encode`, when set, turns the (redacted) text back into what the body holds at `paths[0]`:
    a base64 payload that was decoded to be read.
    """

    paths: list[Path]
    pieces: list[str]
    entities: list[Entity] = field(default_factory=list)
    encode: Callable[[str], str] | None = None

    @property
    def text(self) -> str:
        return self.pieces[0] if len(self.pieces) == 1 else "".join(self.pieces)

    @property
    def is_key(self) -> bool:
        return isinstance(self.paths[0][-1], Key)


def text_fields(body: dict[str, Any]) -> list[TextField]:
    """Every unit of text in `body` that a remote model would receive, in document order."""
    out: list[TextField] = []
    stack: list[tuple[Any, Path]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _string(value, path, out)
        elif isinstance(value, dict):
            pushed: list[tuple[Any, Path]] = []
            if _is_message(path) and isinstance(value.get("content"), list):
                _joined_parts(value["content"], path + ("content",), out, pushed)
            for key, item in value.items():
                if not isinstance(key, str):
                    continue
                if _skipped(path, key, item):
                    continue
                if key not in SCHEMA_KEYS and key:
                    out.append(TextField([path + (Key(key),)], [key]))
                if _is_message(path) and key == "content" and isinstance(item, list):
                    continue  # handled by _joined_parts
                pushed.append((item, path + (key,)))
            stack.extend(reversed(pushed))
        elif isinstance(value, list):
            stack.extend((item, path + (i,)) for i, item in reversed(list(enumerate(value))))
    return out


def _is_message(path: Path) -> bool:
    return len(path) == 2 and path[0] == "messages" and isinstance(path[1], int)


def _skipped(path: Path, key: str, item: Any) -> bool:
    if not path and key == "model":
        return True  # replaced by the upstream model's id before sending
    if path == ("metadata",) and key == "task":
        return True  # read by rightmodel, removed before sending
    allowed = ENUMS.get(key)
    if allowed is None:
        return False
    if isinstance(item, str):
        return item in allowed
    return isinstance(item, list) and all(isinstance(v, str) and v in allowed for v in item)


def _joined_parts(parts: list[Any], path: Path, out: list[TextField], pushed: list[tuple[Any, Path]]) -> None:
    """A message's text parts as one field (a value may be split across parts); the rest of each part walked."""
    texts = [(j, p["text"]) for j, p in enumerate(parts) if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]]
    if texts:
        out.append(TextField([path + (j, "text") for j, _ in texts], [t for _, t in texts]))
    for j, part in enumerate(parts):
        if isinstance(part, dict):
            rest = {k: v for k, v in part.items() if not (k == "text" and isinstance(v, str))}
            pushed.append((rest, path + (j,)))
        else:
            pushed.append((part, path + (j,)))


def _string(value: str, path: Path, out: list[TextField]) -> None:
    if not value:
        return
    at = tuple(path[-2:])
    if at in OPAQUE_AT or value.startswith("data:"):
        payload = _payload(value, data_url_only=at not in OPAQUE_AT or at[-1] == "url")
        if payload is not None:
            decoded, encode = payload
            if decoded is not None:
                out.append(TextField([path], [decoded], encode=encode))
            return  # binary: opaque
    out.append(TextField([path], [value]))


def _payload(value: str, data_url_only: bool) -> tuple[str | None, Callable[[str], str] | None] | None:
    """(decoded text or None if binary, re-encoder) when `value` is a valid base64 payload; None when it is not one."""
    prefix = ""
    m = _DATA_URL.match(value)
    if m is not None:
        prefix, raw = value[: m.end()], value[m.end():]
    elif data_url_only:
        return None
    else:
        raw = value
    if (not prefix and len(raw) < MIN_OPAQUE) or len(raw) % 4:
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, None  # binary: images, audio, PDFs
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text[:4096])
    if printable < 0.95 * min(len(text), 4096):
        return None, None

    def encode(redacted: str) -> str:
        return prefix + base64.b64encode(redacted.encode("utf-8")).decode("ascii")

    return text, encode


def junctions(fields: list[TextField]) -> tuple[str, list[tuple[TextField, TextField, int, int, int]]]:
    """Text of every junction between consecutive value fields, joined by blank lines, and where each lies.

    A value split across two messages ("...mail john.doe@exa" | "mple.com please") is found here:
    each junction is the last JUNCTION_CHARS characters of one field glued to the first of the next.
    Returns (text, [(left field, right field, start, boundary, end)]) with offsets in the text.
    """
    values = [f for f in fields if not f.is_key and f.encode is None]
    parts: list[str] = []
    spots: list[tuple[TextField, TextField, int, int, int]] = []
    offset = 0
    for left, right in zip(values, values[1:]):
        tail, head = left.text[-JUNCTION_CHARS:], right.text[:JUNCTION_CHARS]
        if not tail.strip() or not head.strip():
            continue
        spots.append((left, right, offset, offset + len(tail), offset + len(tail) + len(head)))
        parts.append(tail + head)
        offset += len(tail) + len(head) + len(JUNCTION_SEPARATOR)
    return JUNCTION_SEPARATOR.join(parts), spots


JUNCTION_SEPARATOR = "\n\n"


def counts(fields: list[TextField]) -> dict[str, int]:
    """Entity type -> number of findings (never the values): what the ledger keeps."""
    return dict(Counter(e.type for f in fields for e in f.entities))
