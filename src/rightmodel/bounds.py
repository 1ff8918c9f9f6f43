"""Bounds every unit of work shares, whichever package does the work.

Outside `gateway/` on purpose: privacy, backends and the gateway must all use the *same* JSON
nesting limit (parse, scan, re-serialise), and code that runs in worker threads needs the same
way to say "I stopped because I was told to" without importing the HTTP layer.

- `MAX_JSON_DEPTH`: containers (objects and arrays) nested in one request body, the body itself
  counted as 1. orjson re-serialises at most 254 levels and parses at most 1024; 128 leaves room
  for what a backend wraps around client values (Anthropic's mapping adds a few levels) and is far
  beyond what real requests use (a JSON schema 30 objects deep is about 60 levels).
- `too_deep(value)`: the path of the first container nested past the limit, or None; iterative,
  so it is safe on any input, and it stops at the first offender.
- `JsonTooDeep`: raised with that path; the gateway answers it with a 400 naming the field.
- `dumps(value)`: orjson.dumps for values that came from a client (re-serialising for an
  upstream): a value orjson cannot nest that deep raises `JsonTooDeep`, not a bare TypeError.
- `WorkCancelled`: what cooperative CPU work raises when its `cancelled()` check says stop.
- `DeadlineExceeded`: work that could not finish before its deadline (a `TimeoutError`).
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 128


class JsonTooDeep(ValueError):
    """A JSON value nests containers deeper than `limit`; `path` names the first one past it."""

    def __init__(self, path: str, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(f"'{path}' is nested more than {limit} levels deep (the limit for any request body)")
        self.path = path
        self.limit = limit


class WorkCancelled(Exception):
    """Cooperative CPU work stopped early because its `cancelled()` check returned True."""


class DeadlineExceeded(TimeoutError):
    """Work did not finish (or start) before its deadline."""


def _step(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """The dotted path of the first container nested deeper than `limit` in `value` (the value
    itself is depth 1), or None when it fits. Iterative: no recursion limit to hit."""
    if not isinstance(value, (dict, list)):
        return None
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return path or "(body)"
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, _step(path, key)))
    return None


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise `JsonTooDeep` when `value` nests deeper than `limit`."""
    path = too_deep(value, limit)
    if path is not None:
        raise JsonTooDeep(path, limit)


def dumps(value: Any) -> bytes:
    """`orjson.dumps(value)`; `JsonTooDeep` (with the path) when the value nests too deep to write."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        path = too_deep(value)
        if path is not None:
            raise JsonTooDeep(path) from None
        raise
