"""Sentence embeddings from the base encoder, served by ONNX Runtime like the specialists.

The gateway needs embeddings for `/v1/embeddings` and to recognise which task an `auto` request
belongs to. Serving never imports torch: a wheel carries the bundled base's embedder already
built (embedder_build.py, checked against its SHA-256 manifest at load); an editable checkout,
or another local BERT base, builds the same graph from the safetensors weights into a cache
directory (bert_onnx.py). Only a base of another architecture is exported through torch.
The served model is fp32: int8 would be faster but moves embeddings (cosine ~0.99 to fp32),
and clients compare embeddings across calls and stores.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rightmodel.errors import ModelLoadError
from rightmodel.specialists.embedder_build import (  # noqa: F401 - re-exported for router/encoder.py
    BUNDLED_MAX_LENGTH,
    EMBEDDER_FILE,
    EMBEDDER_SPEC,
    TOKENIZER_FILE,
    packaged_dir,
    verify_manifest,
    write_embedder_dir,
)
from rightmodel.specialists.encoder import describe_base, is_bundled, resolve_base

BUILD_VERSION = "onnx-helper-1"  # in the cache key: a directory built another way is not reused


def _export_torch(base_dir: Path, out_dir: Path, max_length: int, base_model: str) -> None:
    """Export a non-BERT encoder through torch (needs rightmodel[train])."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from rightmodel.specialists.export import quiet_export

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    with quiet_export():
        encoder = AutoModel.from_pretrained(str(base_dir), local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
            return torch.nn.functional.normalize(pooled, dim=-1)

    example = tokenizer(["an example sentence", "a second one"], padding=True, return_tensors="pt")
    with torch.inference_mode(), quiet_export():
        torch.onnx.export(
            Pooled(),
            (example["input_ids"], example["attention_mask"]),
            str(out_dir / EMBEDDER_FILE),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tokenizer.save_pretrained(str(out_dir))
    spec = {"base_model": base_model, "dimensions": int(encoder.config.hidden_size), "max_length": max_length}
    (out_dir / EMBEDDER_SPEC).write_text(json.dumps(spec, indent=2))


def _build(base: str | Path | None, base_dir: Path, out_dir: Path, max_length: int) -> None:
    from rightmodel.specialists.bert_onnx import UnsupportedBase

    try:
        write_embedder_dir(base_dir, out_dir, describe_base(base), max_length, bundled=is_bundled(base))
    except UnsupportedBase:
        _export_torch(base_dir, out_dir, max_length, describe_base(base))


def ensure_embedder(cache_root: str | Path, base: str | Path | None = None, max_length: int = BUNDLED_MAX_LENGTH) -> Path:
    """Directory of the embedder for `base`: the one built into the wheel for the bundled base,
    else built on first use into the cache (atomic rename, so concurrent first starts don't see a
    half-written directory)."""
    if is_bundled(base) and max_length == BUNDLED_MAX_LENGTH:
        packaged = packaged_dir()
        if packaged is not None:
            return packaged
    key = hashlib.sha256(f"{describe_base(base)}|{max_length}|{BUILD_VERSION}".encode()).hexdigest()[:16]
    target = Path(cache_root) / "embedders" / key
    if (target / EMBEDDER_SPEC).is_file():
        return target
    base_dir = resolve_base(base)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        _build(base, base_dir, staging, max_length)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.replace(staging, target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


class Embedder:
    """Normalised sentence embeddings (cosine similarity = dot product).

    Subclasses load another directory layout of the same kind of model (the router's int8
    encoder) by overriding the file names and ``session_options``."""

    model_file = EMBEDDER_FILE
    spec_file = EMBEDDER_SPEC
    what = "embedder"
    checks_manifest = True  # a router version directory is checked by the registry instead

    def __init__(self, directory: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = Path(directory)
        if self.checks_manifest:
            verify_manifest(directory)  # a wheel's or cache's embedder: refuse altered or truncated files
        try:
            spec = json.loads((directory / self.spec_file).read_text())
            self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
            options = self.session_options(ort, threads)
            self.session = ort.InferenceSession(str(directory / self.model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # missing files, bad JSON, bad ONNX: one clear error
            raise ModelLoadError(f"cannot load the {self.what} at {directory}: {exc}") from exc
        self.base_model: str = spec["base_model"]
        self.dimensions: int = int(spec["dimensions"])
        self.max_length: int = int(spec["max_length"])
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0

    def session_options(self, ort, threads: int | None):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        return options

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        rows = self.encode(texts)
        return self.embed_ids(rows, batch_size)

    def embed_ids(self, rows: Sequence[Sequence[int]], batch_size: int = 64) -> np.ndarray:
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = np.zeros((len(rows), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(1, max(len(rows[i]) for i in idx))
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(rows[i])] = rows[i]
                mask[r, : len(rows[i])] = 1
            out[idx] = self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return out
