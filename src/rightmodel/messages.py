"""Chat messages as the OpenAI API shapes them: the text of a message, the system prompt, and
what a classifier reads. Used by routing (the decision), the cost estimates and the guard's limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one message, whether content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def system_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(message_text(m) for m in messages if m.get("role") in ("system", "developer"))


def specialist_input(messages: Sequence[Mapping[str, Any]], mode: str = "last_user") -> str:
    """What a classifier reads: the last user message, or all user messages joined."""
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    if not users:
        return ""
    return users[-1] if mode == "last_user" else "\n".join(users)
