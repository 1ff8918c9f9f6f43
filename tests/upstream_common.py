"""The answer rules that upstream_server.py's OpenAI and Anthropic handlers share (word counts,
tool-call trigger, stop/max_tokens truncation): a module of their own so that upstream_anthropic.py
can use them without importing the server script a second time."""

from __future__ import annotations

import json
import re
from typing import Any

WORD_RE = re.compile(r"\s*\S+")


def words(text: str) -> int:
    return len(text.split())


def openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def split_words(text: str) -> list[str]:
    return WORD_RE.findall(text) or [text]


def parse_tool_trigger(text: str, tool_names: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``call <name> <json>`` -> (name, args); the first tool when the name is not one of them."""
    if not tool_names or not text.startswith("call "):
        return None
    rest = text[5:].strip()
    name, _, args_text = rest.partition(" ")
    if name not in tool_names:
        name, args_text = tool_names[0], rest
    try:
        args = json.loads(args_text) if args_text.strip() else {}
    except ValueError:
        args = {"text": args_text}
    if not isinstance(args, dict):
        args = {"value": args}
    return name, args


def apply_limits(answer: str, max_tokens: int | None, stops: list[str]) -> tuple[str, str, str | None]:
    """Truncate at the first stop string, then at max_tokens words -> (text, reason, stop)."""
    for stop in stops:
        if stop and stop in answer:
            return answer[: answer.index(stop)], "stop_sequence", stop
    if max_tokens is not None and words(answer) > max_tokens:
        return "".join(split_words(answer)[:max_tokens]), "max_tokens", None
    return answer, "end_turn", None
