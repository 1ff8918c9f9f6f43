"""Training data for a generative specialist: conversations whose last message is the answer to learn.

Read from CSV or JSONL rows with `prompt` and `answer` (optional `system`), or from OpenAI's chat
fine-tuning JSONL (`{"messages": [...]}`, the last message the assistant's). Every problem names
the file, the line and the field, so a user can fix the file without reading our source.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from rightmodel.errors import DataError

Conversation = list[dict[str, str]]


def _row(row: dict, where: str) -> Conversation:
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            raise DataError(f"{where}: messages must be a list of at least a user message and the assistant's answer")
        out = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant") or not isinstance(m.get("content"), str):
                raise DataError(f"{where}: messages.{i} must have a role (system, user, assistant) and string content")
            out.append({"role": "system" if m["role"] == "developer" else m["role"], "content": m["content"]})
        if out[-1]["role"] != "assistant":
            raise DataError(f"{where}: the last message must be the assistant's answer")
        return out
    prompt, answer = row.get("prompt"), row.get("answer")
    for key, value in (("prompt", prompt), ("answer", answer)):
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: {key} is missing or empty (columns: prompt, answer, optional system; or messages)")
    system = row.get("system")
    head = [{"role": "system", "content": system}] if isinstance(system, str) and system.strip() else []
    return [*head, {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def load_pairs(path: Path) -> list[Conversation]:
    """Every example of a .csv, .jsonl or .json file as a conversation ending with the answer."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    examples: list[Conversation] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                examples.append(_row(row, f"{path}:{n}"))
    else:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{n}: each line must be a JSON object")
            examples.append(_row(row, f"{path}:{n}"))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def data_hash(examples: list[Conversation]) -> str:
    """sha256 of the examples as read (the card's lineage)."""
    return hashlib.sha256(json.dumps(examples, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
