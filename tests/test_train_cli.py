"""`rightmodel train` on bad input and on interruption: a clear error, never a half-registered version."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import banking_rows, run_cli, write_csv


def assert_clean_error(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in needles:
        assert needle in result.stderr, result.stderr


def no_versions(home) -> bool:
    models = home / "models"
    if not models.exists():
        return True
    return not any(p for task in models.iterdir() if task.is_dir() for p in task.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize(
    "case",
    ["empty", "header_only", "missing_column", "single_example_class", "non_utf8", "unknown_base", "missing_file", "bad_task",
     "max_length_beyond_encoder"],
)
def test_bad_input_gives_clear_error(tmp_path, case):
    data = tmp_path / "data.csv"
    extra: list[str] = []
    needles: tuple[str, ...]
    if case == "empty":
        data.write_bytes(b"")
        needles = ("empty",)
    elif case == "header_only":
        data.write_text("text,label\n")
        needles = ("empty",)
    elif case == "missing_column":
        write_csv(data, [("hi", "a"), ("yo", "b")], header=("body", "label"))
        needles = ("--text-col", "body")
    elif case == "single_example_class":
        write_csv(data, [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("lonely", "c")])
        needles = ("'c'", "--drop-rare")
    elif case == "non_utf8":
        data.write_bytes(b"text,label\ncaf\xe9 au lait,a\nthe,b\n")
        needles = ("--encoding", "line 2")
    elif case == "unknown_base":
        write_csv(data, banking_rows("train", 5))
        extra = ["--base", str(tmp_path / "no-such-model")]
        needles = ("no-such-model", "does not exist")
    elif case == "bad_task":
        write_csv(data, banking_rows("train", 5))
        needles = ("invalid task name",)
    elif case == "max_length_beyond_encoder":  # allowed for --kind generate, not for the encoder
        write_csv(data, banking_rows("train", 5))
        extra = ["--max-length", "1024"]
        needles = ("--max-length 1024", "at most 512")
    else:
        data = tmp_path / "nope.csv"
        needles = ("not found",)
    task = "Bad Task!" if case == "bad_task" else "t"
    result = run_cli("train", task, "--data", str(data), *extra, home=tmp_path / "home")
    assert_clean_error(result, *needles)
    assert no_versions(tmp_path / "home")


def test_drop_rare_skips_with_count(tmp_path):
    from rightmodel.data import read_labelled

    data = write_csv(tmp_path / "d.csv", [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("lonely", "c")])
    loaded = read_labelled(data, drop_rare=True)
    assert loaded.label_names == ["a", "b"] and loaded.report.skipped == {"rare class": 1}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_training_registers_nothing(tmp_path, sig):
    data = write_csv(tmp_path / "train.csv", banking_rows("train", 60))
    home = tmp_path / "home"
    env_home = {"RIGHTMODEL_HOME": str(home)}
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "rightmodel.cli", "train", "t", "--data", str(data), "--epochs", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env_home},
    )
    deadline = time.time() + 120
    seen = ""
    while time.time() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "training on" in line or "cross-fitting" in line:  # small files cross-fit first
            break
    time.sleep(3)  # well inside the 50 epochs
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    assert "nothing was registered" in err
    assert "Traceback" not in err
    assert no_versions(home)
    assert not list(home.glob("models/t/.staging-*"))
    listing = run_cli("models", "list", "--json", home=home)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == []


@pytest.mark.parametrize("argv, needle", [
    (["models", "list", "--home", "x"], "No such option: --home"),  # a global option after the subcommand
    (["train"], "Missing argument"),
    (["report", "--by"], "requires an argument"),
])
def test_usage_errors_are_one_clean_message(tmp_path, argv, needle):
    assert_clean_error(run_cli(*argv, home=tmp_path), needle)
