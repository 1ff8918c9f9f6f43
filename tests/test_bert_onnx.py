"""The embedder written from the safetensors weights without torch (specialists/bert_onnx.py)
matches the torch export, is checked against upstream's digests, and is refused when altered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rightmodel.errors import ModelLoadError
from rightmodel.specialists.embedder import Embedder, _export_torch, ensure_embedder
from rightmodel.specialists.embedder_build import MANIFEST_FILE, UPSTREAM, sha256_file, verify_upstream, write_embedder_dir
from rightmodel.specialists.encoder import BUNDLED_BASE, resolve_base

TEXTS = ["my card hasn't arrived", "a", "", "The quick brown fox jumps over the lazy dog. " * 40,
         "héllo wörld 😀 — ünïcode", "transfer money to my account please, it is urgent"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("embedder")
    write_embedder_dir(resolve_base(None), out, BUNDLED_BASE, 256, bundled=True)
    return out


def test_the_bundled_weights_are_upstreams() -> None:
    digests = verify_upstream(resolve_base(None))
    assert digests["model.safetensors"] == UPSTREAM["sha256"]["model.safetensors"]


@pytest.mark.slow
def test_matches_the_torch_export(built, tmp_path) -> None:
    torch_dir = tmp_path / "torch"
    torch_dir.mkdir()
    _export_torch(resolve_base(None), torch_dir, 256, BUNDLED_BASE)
    ours, theirs = Embedder(built, threads=1), Embedder(torch_dir, threads=1)
    a, b = ours.embed(TEXTS, batch_size=4), theirs.embed(TEXTS, batch_size=4)
    assert np.abs(a - b).max() < 1e-4
    assert ours.dimensions == theirs.dimensions == 384 and ours.max_length == 256


def test_the_manifest_refuses_an_altered_file(built, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    assert set(manifest["files"]) == {"embedder.onnx", "tokenizer.json", "embedder.json"}
    assert manifest["source"]["sha256"]["model.safetensors"] == UPSTREAM["sha256"]["model.safetensors"]
    Embedder(copy)  # intact: loads
    with open(copy / "embedder.onnx", "r+b") as f:
        f.seek(5_000_000)
        byte = f.read(1)
        f.seek(5_000_000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ModelLoadError, match="embedder.onnx: SHA-256"):
        Embedder(copy)


def test_weights_that_are_not_upstreams_are_refused(tmp_path) -> None:
    source = tmp_path / "base"
    shutil.copytree(resolve_base(None), source)
    (source / "vocab.txt").write_text((source / "vocab.txt").read_text() + "extra\n")
    with pytest.raises(ModelLoadError, match="vocab.txt"):
        write_embedder_dir(source, tmp_path / "out", BUNDLED_BASE, 256, bundled=True)
    assert not (tmp_path / "out" / "embedder.onnx").exists()


def test_a_local_bert_base_is_built_without_torch_and_cached(tmp_path, monkeypatch) -> None:
    """Another BERT directory (here: a copy of the base) is built by the same writer; the cache
    is reused on the next call; its manifest records the weights' digest."""
    import rightmodel.specialists.embedder as embedder_module

    source = tmp_path / "my-bert"
    shutil.copytree(resolve_base(None), source)
    monkeypatch.setattr(embedder_module, "_export_torch", lambda *a: pytest.fail("torch export used for a BERT base"))
    first = ensure_embedder(tmp_path / "cache", str(source))
    assert ensure_embedder(tmp_path / "cache", str(source)) == first
    manifest = json.loads((first / MANIFEST_FILE).read_text())
    assert manifest["source"]["sha256"]["model.safetensors"] == sha256_file(source / "model.safetensors")
    assert Embedder(first).embed(["hello"]).shape == (1, 384)
