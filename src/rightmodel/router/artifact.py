"""A trained router on disk: ``router.json`` + ``weights.npz`` (+ the int8 encoder it reads).

No pickles: weights are numpy arrays and the spec is JSON, so loading a version runs no stored
code, and the registry's checksums cover every byte that decides a route. The spec keeps the
distribution of held-out scores, so a target strong-call share can be turned into a threshold
without re-reading the training data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rightmodel.errors import ConfigError, ModelLoadError
from rightmodel.router.kinds import KINDS, Features, RouterModel, make_router

SPEC_FILE = "router.json"
WEIGHTS_FILE = "weights.npz"
FORMAT = 1
QUANTILE_POINTS = 1001


class LearnedRouter:
    """A router kind with its weights, its encoder (if it reads embeddings) and score quantiles."""

    def __init__(self, model: RouterModel, spec: dict[str, Any], encoder: Any = None) -> None:
        self.model = model
        self.spec = spec
        self.encoder = encoder

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def strong_model(self) -> str:
        return self.spec["strong_model"]

    @property
    def weak_model(self) -> str:
        return self.spec["weak_model"]

    def features(self, texts: Sequence[str]) -> Features:
        emb = self.encoder.embed(texts) if self.model.needs_embeddings else None
        return Features(list(texts), emb)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Higher = the strong model is more worth it; compare with ``threshold_for_share``."""
        return self.model.score(self.features(texts))

    def seen_in_training(self, texts: Sequence[str]) -> np.ndarray:
        """Which prompts the router was trained on (by a 64-bit fingerprint of the text): an
        evaluation on them is not held out, and ``router eval`` says so."""
        known = self.spec.get("_train_fingerprints")
        if known is None:
            return np.zeros(len(texts), dtype=bool)
        return np.isin(fingerprints(texts), known)

    def threshold_for_share(self, share: float) -> float:
        """The threshold that sends about ``share`` of prompts to the strong model.

        Read off the held-out score distribution stored at training (cross-validated scores, so
        it reflects prompts the router had not seen); strong iff score >= threshold.
        """
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"strong-model share must be between 0 and 1, got {share}")
        q = np.asarray(self.spec["score_quantiles"], dtype=np.float64)
        if share <= 0.0:
            return float("inf")
        return float(np.quantile(q, 1.0 - share, method="linear"))


def fingerprints(texts: Sequence[str]) -> np.ndarray:
    """First 8 bytes of each text's sha256 (stripped), as uint64: enough to spot overlap."""
    return np.array([int.from_bytes(hashlib.sha256(t.strip().encode()).digest()[:8], "little") for t in texts],
                    dtype=np.uint64)


def save_router(directory: Path, model: RouterModel, spec: dict[str, Any], heldout_scores: np.ndarray,
                train_prompts: Sequence[str] = ()) -> None:
    """Write spec and weights; the caller has already exported the encoder if the kind needs one."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = model.arrays(directory)
    arrays["train_fingerprints"] = np.unique(fingerprints(train_prompts))
    np.savez_compressed(directory / WEIGHTS_FILE, **arrays)
    full = {
        "format": FORMAT,
        **spec,
        "router_kind": model.kind,
        "params": model.params,
        "score_quantiles": np.quantile(heldout_scores, np.linspace(0, 1, QUANTILE_POINTS)).round(6).tolist(),
    }
    (directory / SPEC_FILE).write_text(json.dumps(full, indent=2))


def load_router(directory: str | Path, threads: int | None = None) -> LearnedRouter:
    """Load a router version directory (the registry has verified its checksums)."""
    directory = Path(directory)
    try:
        spec = json.loads((directory / SPEC_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{directory} is not a router version: cannot read {SPEC_FILE} ({exc})") from None
    if spec.get("format") != FORMAT or spec.get("router_kind") not in KINDS:
        raise ModelLoadError(f"{directory / SPEC_FILE}: unknown router format {spec.get('format')!r} / kind {spec.get('router_kind')!r}")
    try:
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {directory / WEIGHTS_FILE}: {exc}") from None
    model = make_router(spec["router_kind"], spec.get("params") or {}).restore(directory, arrays)
    if "train_fingerprints" in arrays:
        spec["_train_fingerprints"] = arrays["train_fingerprints"]
    encoder = None
    if model.needs_embeddings:
        from rightmodel.router.encoder import Encoder

        encoder = Encoder(directory, threads=threads)
    return LearnedRouter(model, spec, encoder)


def is_router_version(directory: Path) -> bool:
    return (directory / SPEC_FILE).is_file()


def open_router(registry: Any, ref: str, threads: int | None = None) -> tuple[Any, LearnedRouter]:
    """Resolve ``name[@vN|@production|...]`` in the registry, verify it, and load the router."""
    version = registry.open(ref)
    if not is_router_version(version.path):
        raise ConfigError(f"{version.ref} is not a learned router (no {SPEC_FILE}); it looks like a specialist")
    return version, load_router(version.path, threads)
