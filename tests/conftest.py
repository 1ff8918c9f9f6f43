"""Shared fixtures. Everything runs offline: no model or dataset is ever downloaded."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

INTENTS = ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def banking_rows(split: str, per_class: int) -> list[tuple[str, str]]:
    """A small slice of the shipped Banking77 data: 4 well-separated intents."""
    from rightmodel.data.shipped import banking77

    data = banking77(split)
    rows, counts = [], {k: 0 for k in INTENTS}
    for text, (label,) in zip(data.texts, data.labels):
        if label in counts and counts[label] < per_class:
            rows.append((text, label))
            counts[label] += 1
    return rows


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "train": write_csv(root / "train.csv", banking_rows("train", 30)),
        "eval": write_csv(root / "eval.csv", banking_rows("test", 10)),
        "shifted": write_csv(root / "shifted.csv", shifted_rows()),
    }


def shifted_rows() -> list[tuple[str, str]]:
    """Other test rows of the same intents, shouted in capitals, plus three of an intent the
    specialist never saw: data that moved since training."""
    from rightmodel.data.shipped import banking77

    seen = set(banking_rows("test", 10))
    rows = [(text.upper(), label) for text, label in banking_rows("test", 20) if (text, label) not in seen]
    data = banking77("test")
    rows += [(t, ls[0]) for t, ls in zip(data.texts, data.labels) if ls[0] == "atm_support"][:3]
    return rows


@pytest.fixture(scope="session")
def built(tmp_path_factory, tiny_files):
    """One real specialist, trained, exported, calibrated and registered (shared: it costs ~20 s)."""
    from rightmodel.registry import Registry
    from rightmodel.specialists.pipeline import BuildRequest, build_specialist
    from rightmodel.specialists.train import TrainConfig

    home = tmp_path_factory.mktemp("home")
    registry = Registry(home)
    request = BuildRequest(
        task="intent",
        train_path=tiny_files["train"],
        eval_path=tiny_files["eval"],
        calibration_mode="split",  # one fine-tune for the shared fixture; cross-fitting: test_crossfit.py
        shifted_paths=(tiny_files["shifted"],),
        config=TrainConfig(epochs=3, batch_size=16),
    )
    version = build_specialist(request, registry, log=lambda m: None)
    return {"home": home, "registry": registry, "version": version, **tiny_files}


@pytest.fixture(autouse=True)
def _no_findings_memo(monkeypatch):
    """In this process, detection tests read every text afresh: many compare two reads of one text
    under different settings, which the detector's memo of findings (privacy/findings_cache.py)
    would answer from the first read. tests/test_findings_cache.py turns it back on; gateways the
    tests start as processes run with it, as shipped."""
    try:
        import rightmodel.privacy.detector as detector
    except ImportError:
        return
    monkeypatch.setattr(detector, "CACHE_MIN_CHARS", 1 << 60)


def run_cli(*args: str, home: Path | None = None, timeout: int = 300, **kwargs):
    """Run the installed `rightmodel` entry point in a real subprocess."""
    import subprocess
    import sys

    env = {**os.environ}
    if home is not None:
        env["RIGHTMODEL_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "rightmodel.cli", *args],
        capture_output=True, text=True, env=env, timeout=timeout, **kwargs,
    )


@pytest.fixture(scope="session")
def smollm2_tokenizer(tmp_path_factory) -> Path:
    """The bundled SmolLM2 tokenizer as an HF directory, read once per session from its GGUF (slow: tens of seconds)."""
    from generative_models import bundled_tokenizer

    return bundled_tokenizer(tmp_path_factory.mktemp("smollm2-tokenizer") / "tokenizer")
