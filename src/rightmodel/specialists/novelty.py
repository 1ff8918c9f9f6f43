"""Novelty: how unlike a request is to every text a specialist was trained on.

A classifier's confidence ranks its answers *among its labels*; a request that belongs to none of
them (a new intent, another task) can still get a confident label. What catches those better is
how far the request lies from the training texts in the base encoder's space: the fine-tuned
space pulls every text towards some class, the base one does not. On Banking77 trained on 60 of
its 77 intents (bench/confidence.py), gating the confidence threshold on the cosine similarity to
the nearest training text escalates more of the 17 unknown intents at the same 99% target than
confidence alone, at the cost of some known requests (bench/results/confidence.md says how much).

The index keeps the base embedder's normalised vectors of the training texts and the nearest
similarity of every calibration text, so the gate for any share of in-distribution requests
(`tasks.<name>.novelty`) is read off the calibration texts at serve time: with novelty 0.05 about
5% of requests like the calibration ones are escalated as novel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

NOVELTY_FILE = "novelty.npz"
MAX_ROWS = 50_000  # training texts kept: 73 MB of float32 at 384 dimensions (bench/results/novelty-cost.md: time)
CHUNK = 256  # query rows per matrix product: the (chunk × rows) similarity matrix stays under 52 MB at MAX_ROWS


class TextEmbedder(Protocol):
    """What the index needs of an embedder (specialists/embedder.py's Embedder)."""

    base_model: str

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


@dataclass(frozen=True)
class NoveltyIndex:
    """A version's training texts as base-encoder vectors, and where its calibration texts fall."""

    rows: np.ndarray  # (n, d) float32, unit length: the training texts (at most MAX_ROWS of them)
    calibration: np.ndarray  # sorted nearest similarity of each calibration text to `rows`
    base_model: str  # the embedder the vectors come from: the gateway must embed with the same

    def nearest(self, vectors: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity of each vector to its nearest training text. `exclude[i]`: a row
        vector i may not match (itself, when it is a training text), -1 for none."""
        vectors = np.asarray(vectors, dtype=np.float32)
        out = np.full(len(vectors), -1.0, dtype=np.float32)
        if not len(self.rows):
            return out
        for start in range(0, len(vectors), CHUNK):
            sims = vectors[start:start + CHUNK] @ self.rows.T
            if exclude is not None:
                part = exclude[start:start + CHUNK]
                hit = np.flatnonzero(part >= 0)
                sims[hit, part[hit]] = -1.0
            out[start:start + CHUNK] = sims.max(axis=1)
        return out

    def gate(self, share: float) -> float:
        """The similarity below which a request counts as novel: `share` of the calibration texts
        (requests like the ones it was trained for) fall below it."""
        if not len(self.calibration):
            return -1.0
        k = int(np.floor(share * len(self.calibration)))
        return float(self.calibration[min(k, len(self.calibration) - 1)])

    def save(self, directory: Path) -> Path:
        path = Path(directory) / NOVELTY_FILE
        np.savez_compressed(path, rows=self.rows.astype(np.float16), calibration=self.calibration.astype(np.float32),
                            base_model=np.array(self.base_model))
        return path

    @classmethod
    def load(cls, directory: Path) -> "NoveltyIndex | None":
        """The version's index, or None for a version trained without one."""
        path = Path(directory) / NOVELTY_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            rows = z["rows"].astype(np.float32)
            return cls(rows=rows, calibration=np.sort(z["calibration"].astype(np.float32)), base_model=str(z["base_model"]))


def build_index(
    embedder: TextEmbedder,
    fit_texts: Sequence[str],
    calibration_texts: Sequence[str],
    seed: int = 0,
) -> NoveltyIndex:
    """The index of `fit_texts`, its gate quantiles from `calibration_texts`. Calibration texts that
    are also training texts (cross-fitted calibration) are matched against the others only, as a
    request the model never saw would be."""
    unique = list(dict.fromkeys(fit_texts))
    if len(unique) > MAX_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(unique), MAX_ROWS, replace=False))
        unique = [unique[i] for i in keep]
    rows = embedder.embed(unique).astype(np.float32)
    index = NoveltyIndex(rows=rows, calibration=np.zeros(0, np.float32), base_model=embedder.base_model)
    position = {text: i for i, text in enumerate(unique)}
    exclude = np.array([position.get(text, -1) for text in calibration_texts], dtype=np.int64)
    vectors = embedder.embed(list(calibration_texts)) if len(calibration_texts) else np.zeros((0, rows.shape[1]), np.float32)
    calibration = np.sort(index.nearest(vectors, exclude))
    return NoveltyIndex(rows=rows, calibration=calibration, base_model=embedder.base_model)


SHARES = (0.01, 0.05, 0.1)  # novelty settings the card shows the effect of


def effect(index: NoveltyIndex, similarity: np.ndarray, confidence: np.ndarray, correct: np.ndarray,
           threshold: float) -> dict:
    """What each novelty setting does to the answers of a labelled split: the share flagged novel,
    and coverage / accepted accuracy at the confidence threshold with and without the gate."""

    def outcome(accepted: np.ndarray) -> dict:
        n = int(accepted.sum())
        return {"coverage": round(n / max(1, len(accepted)), 4),
                "accepted_accuracy": round(float(correct[accepted].mean()), 4) if n else None}

    confident = confidence >= threshold
    out = {"without": outcome(confident), "with": {}}
    for share in SHARES:
        gate = index.gate(share)
        novel = similarity < gate
        out["with"][str(share)] = {"gate": round(gate, 4), "flagged": round(float(novel.mean()), 4) if len(novel) else 0.0,
                                   **outcome(confident & ~novel)}
    return out


def write_novelty(cache_root: Path, directory: Path, fit_texts: Sequence[str], calibration_texts: Sequence[str],
                  eval_texts: Sequence[str], eval_confidence: np.ndarray, eval_correct: np.ndarray, threshold: float,
                  seed: int = 0) -> dict:
    """Build the index with the gateway's embedder (the one `ensure_embedder(cache_root)` gives),
    save it into the version `directory`, and return the card's section on it."""
    from rightmodel.specialists.embedder import Embedder, ensure_embedder

    embedder = Embedder(ensure_embedder(cache_root))
    index = build_index(embedder, fit_texts, calibration_texts, seed)
    index.save(directory)
    similarity = index.nearest(embedder.embed(list(eval_texts))) if len(eval_texts) else np.zeros(0, np.float32)
    return {"file": NOVELTY_FILE, "rows": int(len(index.rows)), "base_model": index.base_model,
            "calibration_texts": int(len(index.calibration)),
            "on_eval": effect(index, similarity, np.asarray(eval_confidence), np.asarray(eval_correct, dtype=bool), threshold)}


def novelty_line(task: str, section: dict | None) -> str:
    """One line for the training log: what the opt-in gate would do on the evaluation split."""
    if not section:
        return "novelty index: not built"
    on_eval, share = section["on_eval"], "0.05"
    without, gated = on_eval["without"], on_eval["with"][share]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    return (f"novelty index: {section['rows']:,} training texts; with `tasks.{task}.novelty: {share}` (opt-in) "
            f"{pct(gated['flagged'])} of the evaluation split would escalate as unlike them: coverage "
            f"{pct(without['coverage'])} -> {pct(gated['coverage'])}, accepted accuracy "
            f"{pct(without['accepted_accuracy'])} -> {pct(gated['accepted_accuracy'])}")
