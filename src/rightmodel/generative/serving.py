"""Build a `kind: generate` model's backend from its constellation entry, or say what is wrong.

Runs at gateway startup: a missing file or a missing runtime stops startup with the key path that
names it, rather than failing the model's requests later.
"""

from __future__ import annotations

import json
from pathlib import Path

from rightmodel.constellation.config import GenerateModelConfig
from rightmodel.errors import ConfigError


def registered_file(name: str, cfg: GenerateModelConfig, registry) -> tuple[Path, str]:
    """(GGUF file, version ref) of the registered version the model names, checksums verified."""
    from rightmodel.errors import RightmodelError

    ref = cfg.ref(name)
    if registry is None:
        raise ConfigError(f"models.{name}: serving {ref} needs the registry")
    try:
        version = registry.open(ref)
        manifest = registry.manifest(version.ref)
    except RightmodelError as exc:
        raise ConfigError(f"models.{name}: cannot load {ref} from the registry: {exc}") from None
    if manifest.get("kind") != "generate" or not manifest.get("model_file"):
        raise ConfigError(f"models.{name}: {version.ref} is not a generative version (kind {manifest.get('kind')!r}); "
                          "use kind: specialist for classifiers")
    return version.path / manifest["model_file"], version.ref


def build_generator(name: str, cfg: GenerateModelConfig, threads: int | None = None, registry=None):
    """The model's `GenerativeBackend`, its engines loaded: from `path`, or from the registered
    version it names (`task@stage`, resolved once at startup like a classifier's)."""
    version = None
    if cfg.path is None:
        path, version = registered_file(name, cfg, registry)
    else:
        path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise ConfigError(f"models.{name}.path: no GGUF file at {path}")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"models.{name}: serving a generative model needs llama-cpp-python (scripts/llama-cpp-wheel.sh builds and caches its wheel)"
        ) from None
    from rightmodel.generative.backend import GenerativeBackend

    try:
        backend = GenerativeBackend(name, path, concurrency=cfg.concurrency, queue=cfg.queue, n_ctx=cfg.context_tokens,
                                    threads=cfg.threads or threads or default_threads(cfg.concurrency))
    except ValueError as exc:  # llama.cpp refusing the file
        raise ConfigError(f"models.{name}.path: llama.cpp cannot load {path}: {exc}") from None
    backend.acceptance_threshold = cfg.threshold if cfg.threshold is not None else card_threshold(name, path)
    backend.quality_bar = card_quality_bar(path)
    backend.version = version  # the registered version served (ledger and /v1/models), None for a file
    return backend


def card_quality_bar(path: Path) -> str | None:
    """`acceptance.quality_bar` of the card beside the file (`exact`, `chrf>=0.6`), if it has one."""
    try:
        value = (json.loads((path.parent / "card.json").read_text()).get("acceptance") or {}).get("quality_bar")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def default_threads(concurrency: int) -> int:
    """Threads per engine when nothing says: the cores shared by the model's engines. Prefill (the
    time to first token) scales with cores; more threads than cores would make engines fight."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // concurrency)


def card_threshold(name: str, path: Path) -> float | None:
    """`acceptance.threshold` of the card.json `train --kind generate` wrote beside the file, if any.
    A card calibrated on another file of the same training run (e.g. q4_k_m when serving q8_0) still
    applies approximately; the threshold is the served file's only when the card says so."""
    card_path = path.parent / "card.json"
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
        value = (card.get("acceptance") or {}).get("threshold")
    except (OSError, ValueError, AttributeError):
        raise ConfigError(f"models.{name}: {card_path} is not a readable card (JSON with acceptance.threshold)") from None
    return float(value) if isinstance(value, (int, float)) else None
