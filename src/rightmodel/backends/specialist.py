"""A registered specialist served in-process: verified version, ONNX Runtime, micro-batching.

Not a `ChatBackend`: a specialist classifies, and the gateway decides from its calibrated
confidence whether its label is the answer or the request escalates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from rightmodel.evaluate.card import calibrated_threshold, read_card
from rightmodel.specialists.batching import MicroBatcher
from rightmodel.specialists.novelty import NoveltyIndex
from rightmodel.specialists.runtime import SpecialistRuntime


@dataclass(frozen=True)
class Classification:
    """One text's answer from a specialist."""

    labels: tuple[str, ...]  # one label, or zero or more for multi-label tasks
    confidence: float  # what the calibrated threshold is compared with
    top: tuple[tuple[str, float], ...]  # best labels with their probabilities
    version: str  # task@vN
    compute_s: float  # this text's share of the batch's inference time
    tokens: int

    @property
    def label(self) -> str:
        return ", ".join(self.labels)


class SpecialistBackend:
    """One specialist version with its threshold; `classify` may be awaited concurrently."""

    def __init__(self, name: str, registry, ref: str, *, max_batch: int = 32, max_wait_ms: float = 0.0, threads: int | None = None) -> None:
        self.name = name
        self.version = registry.open(ref)  # verifies checksums: a corrupted file fails here, clearly
        self.ref = self.version.ref
        self.runtime = SpecialistRuntime(self.version.path, threads=threads)
        card = read_card(self.version.path)
        self.threshold = calibrated_threshold(card)
        self.target_accuracy = card.get("calibration", {}).get("target_accuracy")
        self.batcher = MicroBatcher(self.runtime, max_batch=max_batch, max_wait_ms=max_wait_ms)

    @cached_property
    def novelty(self) -> NoveltyIndex | None:
        """The version's novelty index (None if trained before it existed), read on first use: only
        a task with `novelty` needs it (gateway/state.check_novelty reads it before serving)."""
        return NoveltyIndex.load(self.version.path)

    @property
    def labels(self) -> list[str]:
        return self.runtime.labels

    def count_tokens(self, text: str) -> int:
        return len(self.runtime.tokenizer.encode(text).ids)

    async def classify(self, text: str, top_k: int = 3) -> Classification:
        probs, compute_s = await self.batcher.predict_proba_timed(text)
        return self._decode(probs, compute_s, text, top_k)

    def classify_many(self, texts: list[str], top_k: int = 3) -> list[Classification]:
        """Synchronous batch path for /v1/classify with many inputs (run in a worker thread)."""
        import time

        start = time.perf_counter()
        probs = self.runtime.predict_proba(texts)
        share = (time.perf_counter() - start) / max(1, len(texts))
        return [self._decode(row, share, text, top_k) for row, text in zip(probs, texts)]

    def _decode(self, probs, compute_s: float, text: str, top_k: int) -> Classification:
        pred = self.runtime.decode(probs[None, :], top_k)[0]
        return Classification(
            labels=pred.labels, confidence=pred.confidence, top=pred.top, version=self.ref, compute_s=compute_s, tokens=self.count_tokens(text)
        )

    def warm(self, text: str) -> None:
        """Run once before serving: a session's first run is the slow one."""
        self.runtime.predict_proba([text])

    def accepts(self, confidence: float, override: float | None = None) -> bool:
        return confidence >= (self.threshold if override is None else override)

    async def aclose(self) -> None:
        await self.batcher.close()
