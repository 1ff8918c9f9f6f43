"""What the `rightmodel` command shows a person: its version, flags shown as flags, and a
readable line after `train --promote` (not a dataclass repr)."""

from __future__ import annotations

import importlib.metadata

import pytest
import typer

from conftest import banking_rows, run_cli, write_csv


def test_version_is_the_installed_one() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rightmodel {importlib.metadata.version('rightmodel')}"


def _commands(group, path: tuple[str, ...] = ()):
    """Every command path under a group (typer >= 0.29 builds on its own vendored click)."""
    yield path
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


def test_no_help_page_shows_a_flag_as_taking_a_value() -> None:
    """typer's rich panels printed `--force <bool>`; the plain help prints `--force`."""
    from typer.testing import CliRunner

    from rightmodel.cli import build_app

    app = build_app()
    paths = list(_commands(typer.main.get_command(app)))
    assert ("train",) in paths and ("models", "promote") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
    train_help = runner.invoke(app, ["train", "--help"]).output
    assert "--promote " in train_help and "--multi-label " in train_help


def test_promotion_summary_reads_as_a_sentence() -> None:
    from rightmodel.registry.cli import promotion_summary
    from rightmodel.registry.registry import PromotionResult

    class V:
        def __init__(self, ref: str) -> None:
            self.ref = ref

    first = PromotionResult(version=V("t@v1"), previous=None, candidate_score=None, production_score=None, forced=False)
    assert promotion_summary(first) == "t@v1 is now in production (first production version: no gate)"
    gated = PromotionResult(version=V("t@v2"), previous=V("t@v1"), candidate_score=0.9, production_score=0.8, forced=True)
    assert promotion_summary(gated) == "t@v2 is now in production; t@v1 archived (golden score 0.9000 vs 0.8000) [forced]"


@pytest.mark.slow
def test_train_promote_prints_the_summary(tmp_path) -> None:
    """48 rows, one epoch: nothing can be certified at 99%, so `train --promote` says so, names what
    can be certified, and leaves a candidate; `models promote --force` then prints the summary."""
    data = write_csv(tmp_path / "train.csv", banking_rows("train", 12))
    home = tmp_path / "home"
    result = run_cli("train", "t", "--data", str(data), "--epochs", "1", "--calibration-mode", "split", "--promote",
                     home=home, timeout=600)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    assert "99% (requested): cannot be certified from" in err, err
    assert "not promoted (registered as a candidate)" in err and "answers 0% of requests locally" in err, err
    assert "registered t@v1" in result.stdout
    forced = run_cli("models", "promote", "t@v1", "--force", "--reason", "try the escalation path", home=home)
    assert forced.returncode == 0, forced.stderr
    assert "t@v1 is now in production" in forced.stdout, forced.stdout
    assert "PromotionResult(" not in forced.stdout and "ModelVersion(" not in forced.stdout
