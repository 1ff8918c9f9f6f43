"""Outcome files: per prompt, how well a strong and a weak model did (bool or score).

The shape is RouteLLM's: a prompt column and one column per model, e.g.
``prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview`` with True/False cells, as CSV,
TSV, JSONL or JSON. Scores may be any numbers (a 1–10 judge grade, a pass rate): routing compares
them, so strong and weak must be on one scale. A directory of such files is read as one set, each
file's name (minus a shared prefix such as ``mmlu_``) becoming the row's group — what a
leave-groups-out evaluation holds out together. A ``contaminated_prompts.jsonl`` beside the files
(RouteLLM's convention, key ``eval_prompt``), or any file passed as ``exclude``, lists prompts to
drop at load time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rightmodel.errors import DataError

TEXT_COLUMNS = ("prompt", "text", "query", "question", "input")
CONTAMINATED_FILE = "contaminated_prompts.jsonl"
_TRUE = {"true", "1", "yes", "y", "t", "correct"}
_FALSE = {"false", "0", "no", "n", "f", "incorrect", "wrong"}
_OUTCOME_EXTS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
MAX_CHARS = 20_000


@dataclass(frozen=True)
class OutcomeSet:
    """Prompts with the strong and weak model's quality on each, and an optional group per row."""

    prompts: list[str]
    strong: np.ndarray  # float64 quality of the strong model per prompt
    weak: np.ndarray
    groups: list[str]
    strong_model: str
    weak_model: str
    source: str
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def gain(self) -> np.ndarray:
        """What sending each prompt to the strong model buys: strong quality − weak quality."""
        return self.strong - self.weak

    def subset(self, idx: Sequence[int] | np.ndarray) -> "OutcomeSet":
        idx = np.asarray(idx, dtype=np.int64)
        return OutcomeSet(
            [self.prompts[i] for i in idx], self.strong[idx], self.weak[idx], [self.groups[i] for i in idx],
            self.strong_model, self.weak_model, self.source,
        )

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for p, s, w, g in zip(self.prompts, self.strong, self.weak, self.groups):
            h.update(json.dumps([p, float(s), float(w), g], ensure_ascii=False).encode() + b"\n")
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        g = self.gain
        return {
            "rows": len(self), "unique_prompts": len(set(self.prompts)), "groups": len(set(self.groups)),
            "strong_model": self.strong_model, "weak_model": self.weak_model,
            "strong_mean": float(self.strong.mean()), "weak_mean": float(self.weak.mean()),
            "strong_better": float((g > 0).mean()), "weak_better": float((g < 0).mean()), "ties": float((g == 0).mean()),
            "skipped": dict(self.skipped), "source": self.source,
        }


def _quality(value: Any, path: Path, line: int, column: str) -> float | None:
    """A cell as a number: booleans (True/False, yes/no, 1/0) or any finite number; blank → None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise DataError(f"{path}, line {line}: column '{column}' holds {value}, expected a bool or a finite number")
        return float(value)
    s = str(value).strip()
    if not s:
        return None
    low = s.lower()
    if low in _TRUE:
        return 1.0
    if low in _FALSE:
        return 0.0
    try:
        v = float(s)
    except ValueError:
        raise DataError(
            f"{path}, line {line}: column '{column}' holds {s[:40]!r}; expected True/False or a number"
        ) from None
    if not math.isfinite(v):
        raise DataError(f"{path}, line {line}: column '{column}' holds {s!r}, expected a finite number")
    return v


def _pick(columns: list[str], wanted: str | None, what: str, path: Path, candidates: tuple[str, ...] = ()) -> str:
    present = ", ".join(repr(c) for c in columns) or "(none)"
    if wanted is not None:
        if wanted in columns:
            return wanted
        low = {c.lower(): c for c in columns}
        if wanted.lower() in low:
            return low[wanted.lower()]
        raise DataError(f"{path}: no {what} column '{wanted}'; columns present: {present}")
    for name in candidates:
        for c in columns:
            if c.strip().lower() == name:
                return c
    raise DataError(f"{path}: cannot tell which column holds the {what}; columns present: {present}. Pass --prompt-col NAME")


def _read_file(
    path: Path, prompt_col: str | None, strong: str, weak: str, group: str, encoding: str,
    skipped: Counter[str],
) -> tuple[list[str], list[float], list[float], list[str]]:
    from rightmodel.data.labelled import read_records

    columns, records = read_records(path, encoding)
    if not records:
        raise DataError(f"{path} is empty (no data rows)")
    p_col = _pick(columns, prompt_col, "prompt", path, TEXT_COLUMNS)
    s_col = _pick(columns, strong, "strong model", path)
    w_col = _pick(columns, weak, "weak model", path)
    if s_col == w_col:
        raise DataError(f"{path}: --strong and --weak name the same column '{s_col}'")
    prompts, qs, qw, groups = [], [], [], []
    for n, rec in enumerate(records, start=2):
        text = rec.get(p_col)
        text = "" if text is None else str(text).strip()
        if not text:
            skipped["empty prompt"] += 1
            continue
        s_val = _quality(rec.get(s_col), path, n, s_col)
        w_val = _quality(rec.get(w_col), path, n, w_col)
        if s_val is None or w_val is None:
            skipped["missing outcome"] += 1
            continue
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS]
            skipped["truncated (kept)"] += 1
        prompts.append(text)
        qs.append(s_val)
        qw.append(w_val)
        groups.append(group)
    return prompts, qs, qw, groups


def _excluded(paths: Sequence[Path]) -> set[str]:
    """Prompts to drop: JSONL objects (key eval_prompt, prompt or text) or one prompt per line."""
    out: set[str] = set()
    for p in paths:
        try:
            lines = p.read_text(encoding="utf-8").split("\n")
        except OSError as exc:
            raise DataError(f"{p}: cannot read the exclusion list ({exc.strerror})") from None
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise DataError(f"{p}, line {n}: not valid JSON") from None
                key = next((k for k in ("eval_prompt", "prompt", "text") if k in obj), None)
                if key is None:
                    raise DataError(f"{p}, line {n}: expected a key eval_prompt, prompt or text")
                out.add(str(obj[key]).strip())
            else:
                out.add(line.strip())
    return out


def _group_names(files: list[Path]) -> list[str]:
    stems = [f.stem for f in files]
    prefix = os.path.commonprefix(stems) if len(stems) > 1 else ""
    if "_" in prefix:
        prefix = prefix[: prefix.rfind("_") + 1]
    else:
        prefix = ""
    return [s[len(prefix):] or s for s in stems]


def read_outcomes(
    path: str | Path,
    *,
    strong: str,
    weak: str,
    prompt_col: str | None = None,
    exclude: Sequence[str | Path] = (),
    encoding: str = "utf-8",
) -> OutcomeSet:
    """Read an outcome file, or a directory of them (one group per file), dropping excluded prompts."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in _OUTCOME_EXTS and f.name != CONTAMINATED_FILE and f.is_file())
        if not files:
            raise DataError(f"{p}: no outcome files (.csv, .tsv, .jsonl, .json) in this directory")
        groups = _group_names(files)
        auto = [p / CONTAMINATED_FILE] if (p / CONTAMINATED_FILE).is_file() else []
    elif p.is_file():
        files, groups, auto = [p], [p.stem], []
    else:
        raise DataError(f"{p}: file not found")
    drop = _excluded([*auto, *(Path(e) for e in exclude)])
    skipped: Counter[str] = Counter()
    prompts: list[str] = []
    qs: list[float] = []
    qw: list[float] = []
    gs: list[str] = []
    for f, g in zip(files, groups):
        a, b, c, d = _read_file(f, prompt_col, strong, weak, g, encoding, skipped)
        prompts += a
        qs += b
        qw += c
        gs += d
    if drop:
        keep = [i for i, t in enumerate(prompts) if t not in drop]
        if len(keep) < len(prompts):
            skipped["excluded (contaminated)"] += len(prompts) - len(keep)
        prompts, qs, qw, gs = ([x[i] for i in keep] for x in (prompts, qs, qw, gs))
    if len(prompts) < 10:
        raise DataError(f"{p}: {len(prompts)} usable rows; a router needs at least 10 (skipped: {dict(skipped) or 'none'})")
    out = OutcomeSet(prompts, np.asarray(qs), np.asarray(qw), gs, strong, weak, str(p), dict(skipped))
    gain = out.gain
    if not (gain != 0).any():
        raise DataError(f"{p}: the strong and weak model score the same on every prompt; there is nothing to route on")
    return out
