"""Read a user's labelled file (CSV, TSV, JSONL, JSON) into one in-memory shape.

JSONL in OpenAI's chat fine-tuning format (``{"messages": [...]}`` per line) is read too, since
teams moving a task off a frontier API already have it: the last assistant message is the label,
the last user message before it is the text, and the system prompt is kept on the set
(:attr:`LabelledSet.system_prompts`) so training can record how requests for the task look.

Every trainer, evaluator and benchmark consumes a :class:`LabelledSet`, so format quirks
(quoted newlines, BOMs, list-valued labels, odd encodings) are handled once, here. Problems
are reported as :class:`~rightmodel.errors.DataError` with the file, the line or column and
what to do about it, because the person reading them is fixing a spreadsheet, not debugging.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rightmodel.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "input", "prompt", "query", "question", "utterance", "content")
LABEL_COLUMNS = ("label", "labels", "category", "intent", "class", "target", "y")
_FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
_MAX_LISTED = 10


@dataclass(frozen=True)
class LoadReport:
    """What happened while reading a file, so a user can see nothing was lost silently."""

    rows_read: int
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: int = 0

    def summary(self) -> str:
        """One human line, e.g. ``10003 rows, 2 skipped (empty text: 2), 0 truncated``."""
        n_skipped = sum(self.skipped.values())
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
        skipped = f"{n_skipped} skipped ({why})" if n_skipped else "0 skipped"
        return f"{self.rows_read} rows, {skipped}, {self.truncated} truncated"


@dataclass(frozen=True)
class LabelledSet:
    """Texts with their labels; labels are always tuples so single- and multi-label share code."""

    texts: list[str]
    labels: list[tuple[str, ...]]
    multi_label: bool
    source: str = ""
    report: LoadReport | None = None
    system_prompts: tuple[str, ...] = ()  # chat fine-tuning files: distinct system prompts, most common first

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    @cached_property
    def label_names(self) -> list[str]:
        """Sorted unique labels: the class order a trained head uses."""
        return sorted({lab for labs in self.labels for lab in labs})

    def label_counts(self) -> dict[str, int]:
        """How many rows carry each label (a row counts once per label it has)."""
        return dict(Counter(lab for labs in self.labels for lab in labs))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> LabelledSet:
        """The rows at ``indices`` (in that order); the load report does not carry over."""
        return LabelledSet(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices],
            self.multi_label, self.source,
        )

    def content_hash(self) -> str:
        """sha256 of the (text, labels) rows in order, so a model version can record its data."""
        h = hashlib.sha256()
        for text, labs in zip(self.texts, self.labels):
            row = json.dumps([text, list(labs)], ensure_ascii=False, separators=(",", ":"))
            h.update(row.encode("utf-8") + b"\n")
        return h.hexdigest()

    def to_jsonl(self, path: str | Path) -> None:
        """Write rows as JSONL that :func:`read_labelled` reads back unchanged."""
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for text, labs in zip(self.texts, self.labels):
                row: dict[str, Any] = {"text": text}
                if self.multi_label:
                    row["labels"] = list(labs)
                else:
                    row["label"] = labs[0]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    @staticmethod
    def from_pairs(
        texts: Sequence[str], labels: Sequence[str | Sequence[str]], multi_label: bool = False
    ) -> LabelledSet:
        """Build a set from parallel lists; a plain string label means one label."""
        tuples = [(lab,) if isinstance(lab, str) else tuple(lab) for lab in labels]
        if not multi_label:
            bad = next((i for i, t in enumerate(tuples) if len(t) != 1), None)
            if bad is not None:
                raise DataError(
                    f"row {bad} has {len(tuples[bad])} labels; single-label data needs exactly one "
                    "(pass multi_label=True for several)"
                )
        return LabelledSet(list(texts), tuples, multi_label)


def read_labelled(
    path: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    multi_label: bool = False,
    label_sep: str = "|",
    max_chars: int = 20_000,
    min_per_class: int = 2,
    drop_rare: bool = False,
    encoding: str = "utf-8",
) -> LabelledSet:
    """Read a labelled CSV/TSV/JSONL/JSON file, validating it for training.

    Rows with blank text (or, single-label, no label) are skipped and counted in the report;
    anything that would make training meaningless (one class, a class too small to evaluate,
    unreadable bytes) is an error that says how to fix it.
    """
    p = Path(path)
    raw = _read_text(p, encoding)
    fmt = _FORMATS.get(p.suffix.lower()) or _sniff(raw)
    columns, records = _records(raw, fmt, p)
    if not records:
        raise DataError(f"{p} is empty (no data rows{' after the header' if columns else ''})")
    system_prompts: tuple[str, ...] = ()
    if fmt in ("jsonl", "json") and "messages" in columns and text_col is None and label_col is None:
        columns, records, system_prompts = _chat_records(records, p)
    t_idx = _pick_column(columns, text_col, TEXT_COLUMNS, "text", p)
    l_idx = _pick_column(columns, label_col, LABEL_COLUMNS, "label", p)
    if t_idx == l_idx:
        raise DataError(f"{p}: the text and label column are both '{columns[t_idx]}'")
    is_json = fmt in ("jsonl", "json")
    t_key: Any = columns[t_idx] if is_json else t_idx
    l_key: Any = columns[l_idx] if is_json else l_idx
    label_name = columns[l_idx]

    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    skipped: Counter[str] = Counter()
    truncated = 0
    for line, rec in records:
        text = _text_value(_get(rec, t_key), p, line, columns[t_idx]).strip()
        if not text:
            skipped["empty text"] += 1
            continue
        labs = _label_value(_get(rec, l_key), multi_label, label_sep, p, line, label_name)
        if not multi_label and not labs:
            skipped["missing label"] += 1
            continue
        if len(text) > max_chars:
            text = text[:max_chars]
            truncated += 1
        texts.append(text)
        labels.append(labs)

    if not texts:
        why = ", ".join(f"{k}: {v}" for k, v in skipped.items())
        raise DataError(f"{p} has no usable rows (skipped: {why})")
    if not multi_label:
        texts, labels = _check_classes(texts, labels, min_per_class, drop_rare, skipped, p)
    elif not any(labels):
        raise DataError(f"{p}: no row has any label in column '{label_name}'")
    report = LoadReport(len(records), dict(skipped), truncated)
    return LabelledSet(texts, labels, multi_label, str(p), report, system_prompts)


def _chat_records(
    records: list[tuple[int, dict[str, Any]]], p: Path
) -> tuple[list[str], list[tuple[int, dict[str, Any]]], tuple[str, ...]]:
    """OpenAI chat fine-tuning rows → ``{"text", "label"}`` rows, plus the distinct system prompts.

    Label: the last assistant message. Text: the last user message before it. A line that does
    not have both is an error naming the line, never skipped: a silently shorter training set is
    worse than a clear message.
    """
    out: list[tuple[int, dict[str, Any]]] = []
    systems: Counter[str] = Counter()
    hint = ('each line of an OpenAI chat fine-tuning file needs {"messages": [{"role": "user", "content": TEXT}, '
            '{"role": "assistant", "content": LABEL}]}')
    for line, rec in records:
        messages = rec.get("messages")
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{p}, line {line}: no 'messages' list; {hint}")
        parsed = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise DataError(f"{p}, line {line}: message {i + 1} is not an object with a 'role'; {hint}")
            parsed.append((m["role"], _chat_content(m.get("content"), p, line, i + 1)))
        answer = max((i for i, (role, text) in enumerate(parsed) if role == "assistant" and text.strip()), default=None)
        if answer is None:
            raise DataError(f"{p}, line {line}: no assistant message with content (the last one is the label); {hint}")
        asked = max((i for i, (role, text) in enumerate(parsed[:answer]) if role == "user" and text.strip()), default=None)
        if asked is None:
            raise DataError(f"{p}, line {line}: no user message before the last assistant message (it is the text "
                            f"to classify); {hint}")
        system = next((text for role, text in parsed[:asked] if role in ("system", "developer") and text.strip()), None)
        if system is not None:
            systems[system.strip()] += 1
        out.append((line, {"text": parsed[asked][1], "label": parsed[answer][1]}))
    return ["text", "label"], out, tuple(s for s, _ in systems.most_common())


def _chat_content(content: Any, p: Path, line: int, index: int) -> str:
    """A message's text: a string, or the text parts of a content list; None (tool calls) is empty."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") in ("text", "input_text")]
        if all(isinstance(t, str) for t in parts):
            return "".join(parts)
    raise DataError(f"{p}, line {line}: message {index} has content of type {type(content).__name__}, expected text")


def read_records(path: str | Path, encoding: str = "utf-8") -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows as dicts, for files that are not training data (e.g. predictions)."""
    p = Path(path)
    raw = _read_text(p, encoding)
    fmt = _FORMATS.get(p.suffix.lower()) or _sniff(raw)
    columns, records = _records(raw, fmt, p)
    if fmt in ("jsonl", "json"):
        return columns, [rec for _, rec in records]
    return columns, [dict(zip(columns, row)) for _, row in records]


def _read_text(p: Path, encoding: str) -> str:
    """Decode the whole file, turning OS and codec failures into advice."""
    if p.is_dir():
        raise DataError(f"{p} is a directory, not a data file")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror})") from None
    if not data.strip():
        raise DataError(f"{p} is empty")
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = data.decode(codec)
    except LookupError:
        raise DataError(f"{p}: unknown encoding '{encoding}' (try utf-8 or latin-1)") from None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{p}: byte 0x{data[e.start]:02x} at offset {e.start} (line {line}) is not valid "
            f"{encoding}; pass the file's real encoding, e.g. --encoding latin-1"
        ) from None
    return text.lstrip("\ufeff")


def _sniff(raw: str) -> str:
    """Guess the format (or CSV delimiter) of a file whose extension says nothing."""
    first = next((ln.strip() for ln in raw.split("\n") if ln.strip()), "")
    if first.startswith("{"):
        try:
            if isinstance(json.loads(first), dict):
                return "jsonl"
        except ValueError:
            pass
    if first.startswith("["):
        return "json"
    try:
        return csv.Sniffer().sniff(raw[:65536], ",\t;|").delimiter
    except csv.Error:
        return ","


def _records(raw: str, fmt: str, p: Path) -> tuple[list[str], list[tuple[int, Any]]]:
    """Column names and (line number, record) pairs; ``fmt`` is json/jsonl or a CSV delimiter."""
    if fmt not in ("jsonl", "json"):
        return _csv_records(raw, fmt, p)
    objs = _json_objects(raw, fmt, p)
    columns = list(dict.fromkeys(k for _, obj in objs for k in obj))
    return columns, objs


def _csv_records(raw: str, delimiter: str, p: Path) -> tuple[list[str], list[tuple[int, Any]]]:
    """Parse with the csv module (quoted fields may hold newlines) with no field size cap."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        reader = csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter)
        rows: list[tuple[int, list[str]]] = []
        header: list[str] | None = None
        start = 1
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip() and header is None):
                    start = reader.line_num + 1
                    continue
                if header is None:
                    header = [c.strip() for c in row]
                else:
                    rows.append((start, row))
                start = reader.line_num + 1
        except csv.Error as e:
            raise DataError(f"{p}, line {reader.line_num}: malformed CSV ({e})") from None
    finally:
        csv.field_size_limit(old_limit)
    if header is None:
        raise DataError(f"{p} is empty")
    return header, rows


def _json_objects(raw: str, fmt: str, p: Path) -> list[tuple[int, dict[str, Any]]]:
    """Load JSONL (one object per line) or a JSON list; a bad line is an error, never skipped."""
    if fmt == "json":
        try:
            data = json.loads(raw)
        except ValueError as e:
            line = getattr(e, "lineno", "?")
            raise DataError(f"{p}, line {line}: not valid JSON ({_short(e)})") from None
        if not isinstance(data, list) or not all(isinstance(o, dict) for o in data):
            raise DataError(f"{p}: a .json file must hold a list of objects (for one object "
                            "per line, name the file .jsonl)")
        return [(i + 1, o) for i, o in enumerate(data)]
    out: list[tuple[int, dict[str, Any]]] = []
    # split on "\n" only: str.splitlines would also break on U+2028/U+0085 inside JSON strings
    for n, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise DataError(f"{p}, line {n}: not valid JSON ({_short(e)})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{p}, line {n}: expected a JSON object like "
                            f'{{"text": ..., "label": ...}}, got {type(obj).__name__}')
        out.append((n, obj))
    return out


def _short(e: Exception) -> str:
    return str(e).split(":")[0]


def _pick_column(
    columns: list[str], given: str | None, candidates: tuple[str, ...], kind: str, p: Path
) -> int:
    """Index of the requested or auto-detected column (case-insensitive)."""
    lowered = [c.strip().lower() for c in columns]
    present = ", ".join(repr(c) for c in columns) or "(none)"
    if given is not None:
        if given in columns:
            return columns.index(given)
        if given.strip().lower() in lowered:
            return lowered.index(given.strip().lower())
        raise DataError(f"{p}: no column '{given}'; columns present: {present}")
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    raise DataError(
        f"{p}: cannot tell which column holds the {kind}; columns present: {present}. "
        f"Pass --{kind}-col NAME (looked for: {', '.join(candidates)})"
    )


def _get(rec: Any, key: Any) -> Any:
    if isinstance(rec, dict):
        return rec.get(key)
    return rec[key] if key < len(rec) else None


def _text_value(v: Any, p: Path, line: int, col: str) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        raise DataError(f"{p}, line {line}: column '{col}' holds a JSON {type(v).__name__}, "
                        "expected text")
    return str(v)


def _label_value(
    v: Any, multi: bool, sep: str, p: Path, line: int, col: str
) -> tuple[str, ...]:
    """Normalise one label cell to a tuple: sorted, deduplicated, blanks removed."""
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("[") and s.endswith("]"):
            try:
                parsed = json.loads(s)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                v = parsed
        if isinstance(v, str):
            parts = s.split(sep) if multi and sep else [s]
            return tuple(sorted({x.strip() for x in parts if x.strip()}))
    if v is None:
        return ()
    if isinstance(v, dict):
        raise DataError(f"{p}, line {line}: label column '{col}' holds a JSON object")
    if isinstance(v, list):
        labs = tuple(sorted({str(x).strip() for x in v if x is not None and str(x).strip()}))
        if not multi and len(labs) > 1:
            raise DataError(f"{p}, line {line}: {len(labs)} labels {list(labs)} in column "
                            f"'{col}'; pass --multi-label if rows can have several labels")
        return labs
    s = str(v).strip()
    return (s,) if s else ()


def _check_classes(
    texts: list[str], labels: list[tuple[str, ...]], min_per_class: int, drop_rare: bool,
    skipped: Counter[str], p: Path,
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Refuse single-label data that cannot be trained and evaluated; or drop rare classes."""
    counts = Counter(labs[0] for labs in labels)
    rare = sorted((c for c in counts if counts[c] < min_per_class), key=lambda c: (counts[c], c))
    if rare and drop_rare:
        gone = set(rare)
        keep = [i for i, labs in enumerate(labels) if labs[0] not in gone]
        skipped["rare class"] += len(labels) - len(keep)
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        counts = Counter(labs[0] for labs in labels)
    elif rare:
        shown = ", ".join(f"'{c}' ({counts[c]})" for c in rare[:_MAX_LISTED])
        more = f" and {len(rare) - _MAX_LISTED} more" if len(rare) > _MAX_LISTED else ""
        raise DataError(
            f"{p}: {len(rare)} label(s) have fewer than {min_per_class} examples: {shown}{more}. "
            "Add examples, or pass --drop-rare to drop those rows"
        )
    if len(counts) < 2:
        only = f" (only '{next(iter(counts))}')" if counts else ""
        raise DataError(f"{p}: need at least 2 different labels to train a classifier{only}")
    return texts, labels
