"""Serve a registered specialist with ONNX Runtime: tokenize, batch by length, run, softmax.

Loads only `tokenizers`, `numpy` and `onnxruntime` (no torch, no transformers), so a gateway
process starts fast and stays small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rightmodel.errors import ModelLoadError
from rightmodel.specialists.export import MODEL_FILE, SPEC_FILE, TOKENIZER_FILE


@dataclass(frozen=True)
class Prediction:
    """One answer: the label(s), the confidence the router thresholds on, and the top-k."""

    labels: tuple[str, ...]
    confidence: float
    top: tuple[tuple[str, float], ...]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def confidence_of(probs: np.ndarray, multi_label: bool, threshold: float = 0.5) -> np.ndarray:
    """Single-label: the top probability. Multi-label: the least certain per-label decision.

    A multi-label answer is right only if every label decision is right, so its confidence is
    the weakest of them: min over labels of p if predicted present else 1 - p.
    """
    if multi_label:
        return np.where(probs >= threshold, probs, 1.0 - probs).min(axis=-1)
    return probs.max(axis=-1)


class SpecialistRuntime:
    """An ONNX Runtime session plus tokenizer for one specialist version directory."""

    def __init__(self, directory: str | Path, model_file: str = MODEL_FILE, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        for name in (model_file, SPEC_FILE, TOKENIZER_FILE):
            if not (self.directory / name).is_file():
                raise ModelLoadError(f"specialist at {self.directory} is missing {name}")
        try:
            spec = json.loads((self.directory / SPEC_FILE).read_text())
            self.labels: list[str] = list(spec["labels"])
            self.multi_label: bool = bool(spec["multi_label"])
            self.max_length: int = int(spec["max_length"])
            self.decision_threshold: float = float(spec.get("decision_threshold") or 0.5)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{self.directory / SPEC_FILE} is not a valid specialist spec: {exc}") from exc
        try:
            self.tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ModelLoadError(f"cannot read {self.directory / TOKENIZER_FILE}: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.directory / model_file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelLoadError(f"cannot load {self.directory / model_file}: {exc}") from exc

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Raw logits in input order; texts are batched by length to minimise padding."""
        return self.outputs(texts, ("logits",), batch_size)[0]

    def outputs(self, texts: Sequence[str], names: Sequence[str], batch_size: int = 64) -> list[np.ndarray]:
        """The graph's named outputs (first axis: one row per text, in input order), texts batched
        by length to minimise padding. Served graphs have `logits`; a bench's export may add more."""
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out: list[np.ndarray] | None = None
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(1, max(len(encodings[i].ids) for i in idx))
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            batch = self.session.run(list(names), {"input_ids": ids, "attention_mask": mask})
            if out is None:
                out = [np.zeros((len(encodings), *b.shape[1:]), dtype=np.float32) for b in batch]
            for target, values in zip(out, batch):
                target[idx] = values
        if out is None:  # no texts
            return [np.zeros((0, len(self.labels)), dtype=np.float32) for _ in names]
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        logits = self.logits(texts, batch_size)
        return sigmoid(logits) if self.multi_label else softmax(logits)

    def predict(self, texts: Sequence[str], top_k: int = 3, batch_size: int = 64) -> list[Prediction]:
        probs = self.predict_proba(texts, batch_size)
        return self.decode(probs, top_k)

    def decode(self, probs: np.ndarray, top_k: int = 3) -> list[Prediction]:
        confidence = confidence_of(probs, self.multi_label, self.decision_threshold)
        results = []
        for row, conf in zip(probs, confidence):
            ranked = np.argsort(-row)[: max(1, top_k)]
            top = tuple((self.labels[j], float(row[j])) for j in ranked)
            if self.multi_label:
                chosen = tuple(self.labels[j] for j in np.flatnonzero(row >= self.decision_threshold))
            else:
                chosen = (self.labels[int(ranked[0])],)
            results.append(Prediction(labels=chosen, confidence=float(conf), top=top))
        return results
