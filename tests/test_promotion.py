"""Promotion gate on the golden set, forced promotion with a recorded reason, rollback, corruption."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

SERVED_FILES = ("model.onnx", "tokenizer.json", "specialist.json", "card.json", "card.md")


def register_copy(registry, source_dir, task, scramble=False):
    """Register a copy of a built version; `scramble` rotates its label order → a worse model."""
    with registry.staging(task) as staged:
        for name in SERVED_FILES:
            shutil.copy(source_dir / name, staged / name)
            (staged / name).chmod(0o644)
        if scramble:
            spec = json.loads((staged / "specialist.json").read_text())
            spec["labels"] = spec["labels"][1:] + spec["labels"][:1]
            (staged / "specialist.json").write_text(json.dumps(spec))
        # the tiny fixture certifies nothing at 99%; a version that answers nothing is refused
        # before the golden gate (test_crossfit.py), so give the copies a threshold that answers
        card = json.loads((staged / "card.json").read_text())
        card["calibration"].update(threshold=0.9, coverage=0.5)
        (staged / "card.json").write_text(json.dumps(card))
        return registry.register(task, staged, {"kind": "specialist"})


@pytest.fixture()
def two_versions(built, tmp_path):
    from rightmodel.registry import Registry

    home = tmp_path / "home"
    registry = Registry(home)
    good = register_copy(registry, built["version"].path, "gate")
    bad = register_copy(registry, built["version"].path, "gate", scramble=True)
    registry.set_golden("gate", built["eval"])
    return home, registry, good, bad


def test_gate_refuses_worse_candidate_then_force_needs_reason(two_versions):
    home, registry, good, bad = two_versions
    first = run_cli("models", "promote", good.ref, home=home)
    assert first.returncode == 0, first.stderr
    refused = run_cli("models", "promote", bad.ref, home=home)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "gate@v2" in refused.stderr or "worse" in refused.stderr.lower()
    assert registry.get("gate@production").version == "v1"
    no_reason = run_cli("models", "promote", bad.ref, "--force", home=home)
    assert no_reason.returncode != 0 and "reason" in no_reason.stderr.lower()
    forced = run_cli("models", "promote", bad.ref, "--force", "--reason", "hotfix for new labels", home=home)
    assert forced.returncode == 0, forced.stderr
    assert registry.get("gate@production").version == "v2"
    events = registry.events("gate")
    forced_events = [e for e in events if e.get("forced")]
    assert forced_events and forced_events[-1]["reason"] == "hotfix for new labels"
    back = run_cli("models", "rollback", "gate", home=home)
    assert back.returncode == 0, back.stderr
    assert registry.get("gate@production").version == "v1"


def test_corrupted_or_missing_file_is_a_clear_error_at_load(two_versions):
    home, registry, good, _ = two_versions
    model = good.path / "model.onnx"
    model.chmod(0o644)
    with model.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00corrupt\x00")
    result = run_cli("classify", good.ref, "hello", home=home)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "model.onnx" in result.stderr and "checksum" in result.stderr.lower()
    model.unlink()
    result = run_cli("classify", good.ref, "hello", home=home)
    assert "model.onnx" in result.stderr and "missing" in result.stderr.lower()
