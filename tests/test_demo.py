"""`make demo`'s module end to end (train, serve, replay through the openai SDK, report), on a
small Banking77 slice so it runs in seconds."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import banking_rows, write_csv

pytestmark = pytest.mark.slow


def test_demo_trains_promotes_and_answers(tmp_path):
    root = tmp_path / "datasets" / "banking77"
    root.mkdir(parents=True)
    write_csv(root / "train.csv", banking_rows("train", 30), header=("text", "category"))
    write_csv(root / "test.csv", banking_rows("test", 10), header=("text", "category"))
    env = {**os.environ, "RIGHTMODEL_DATASETS": str(tmp_path / "datasets"), "RIGHTMODEL_HOME": str(tmp_path / "home")}
    first = subprocess.run([sys.executable, "-m", "rightmodel.demo"], capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "registered support-intent@v1" in first.stdout
    out = first.stdout
    assert "replayed through the gateway (40 requests" in out
    assert "route: " in out and "accuracy on locally answered" in out and "latency p50" in out
    assert "ledger rows for these requests" in out and "40 of 40" in out
    assert "all-frontier cost (gpt-4o list price)" in out
    second = subprocess.run([sys.executable, "-m", "rightmodel.demo"], capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "already in production" in second.stdout
