"""The ingress side of a specialist served by its own Ray Serve deployment (`serve --ray`).

The gateway app treats every specialist the same way (gateway/state.py's `open_specialist`):
`RemoteSpecialist` answers `classify` by calling the model's deployment through a Ray Serve
DeploymentHandle, naming the exact version (`task@vN`) this ingress replica serves. So the
ingress decides the version, as a lone gateway does (gateway/live_versions.py follows the stage and
swaps the proxy), and every ledger row names the version that answered; a specialist replica
loads a version it has not seen yet on first use (gateway/ray_serve.py), so no request fails
while replicas catch up with a promotion.

Nothing here imports Ray: the handle is anything with `.classify.remote(...)` returning an
awaitable (a DeploymentResponse), which keeps this module testable without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rightmodel.backends.specialist import Classification
from rightmodel.specialists.novelty import NoveltyIndex


@dataclass(frozen=True)
class VersionInfo:
    """What the ingress needs to know about a version without loading it (sent by the deployment)."""

    ref: str
    task: str
    labels: tuple[str, ...]
    multi_label: bool
    max_length: int
    threshold: float
    target_accuracy: float | None
    path: str = ""  # the version's directory: where the ingress finds its novelty index (one machine, or a shared registry)

    @classmethod
    def of(cls, backend: Any) -> "VersionInfo":
        """Describe a loaded `SpecialistBackend` (on the specialist replica)."""
        return cls(
            ref=backend.ref, task=backend.version.task, labels=tuple(backend.labels), multi_label=bool(backend.runtime.multi_label),
            max_length=int(backend.runtime.max_length), threshold=float(backend.threshold), target_accuracy=backend.target_accuracy,
            path=str(backend.version.path),
        )


class InFlight:
    """The `batcher` face the gateway reads (queue depth, drain on retire): calls not yet answered."""

    def __init__(self) -> None:
        self.pending = 0
        self.observer: Any = None  # batch sizes are observed on the specialist replicas, not here

    @property
    def queue_depth(self) -> int:
        return self.pending


class RemoteSpecialist:
    """One exact specialist version, answered by the model's Ray Serve deployment."""

    def __init__(self, name: str, handle: Any, info: VersionInfo) -> None:
        self.name = name
        self.handle = handle
        self.info = info
        self.ref = info.ref
        self.version = info  # `.task`, `.ref`: what the gateway reads of a registry version
        self.threshold = info.threshold
        self.target_accuracy = info.target_accuracy
        self.runtime = info  # `.multi_label`, `.max_length`, `.labels`
        self.batcher = InFlight()

    @classmethod
    def open(cls, name: str, handle: Any, ref: str) -> "RemoteSpecialist":
        """Resolve and load `ref` on a replica of the deployment (blocking: call it off the event loop)."""
        info = handle.describe.remote(ref).result()
        return cls(name, handle, info)

    @cached_property
    def novelty(self) -> NoveltyIndex | None:
        """The novelty gate runs here, in the ingress (it needs the gateway's embedder): its index
        is read, on first use, from the version directory the replica loaded, if this machine sees it."""
        return NoveltyIndex.load(Path(self.info.path)) if self.info.path else None

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    async def classify(self, text: str, top_k: int = 3) -> Classification:
        self.batcher.pending += 1
        try:
            return await self.handle.classify.remote(self.ref, text, top_k)
        finally:
            self.batcher.pending -= 1

    def classify_many(self, texts: list[str], top_k: int = 3) -> list[Classification]:
        """The /v1/classify batch path (called in a worker thread, so it may block)."""
        return self.handle.classify_many.remote(self.ref, texts, top_k).result()

    def warm(self, text: str) -> None:
        """Opening already loaded and ran the version on one replica; the others load it on first use."""

    def accepts(self, confidence: float, override: float | None = None) -> bool:
        return confidence >= (self.threshold if override is None else override)

    async def aclose(self) -> None:
        """The version lives on the specialist replicas; they evict it when it is no longer named."""
