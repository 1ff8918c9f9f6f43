"""`rightmodel distill TASK`: captured frontier answers → a candidate specialist with an eval card.

The captures are found like the gateway writes them (``--captures-url``, $RIGHTMODEL_CAPTURES_URL,
``storage.captures_url`` of ``--config``, else SQLite ``captures.db`` in the home). The standard
recipe trains on the deduplicated pairs; the held-out pairs (never trained on) score agreement
with the frontier and certify the threshold at ``--target-agreement``. The version is registered
as a candidate: serve it in shadow mode (``tasks.X.shadow``), promote it when it agrees enough.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from rightmodel.errors import ConfigError

MIN_EXAMPLES = 20
HELP = (
    "Train a candidate specialist for TASK from its captured frontier answers (tasks.TASK.capture): dedup, "
    "normalise free-text answers to labels (unparseable ones reported), train with the standard recipe, measure "
    "agreement with the frontier on held-out captures, calibrate the threshold to --target-agreement, register "
    "it as a candidate. Then run it in shadow mode (tasks.TASK.shadow) until it has earned promotion."
)


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def known_labels(registry, task: str) -> list[str] | None:
    """The labels of the task's production version, else of its newest one (a candidate may have
    been distilled from a smaller, partial label set; production is what the task answers with)."""
    from rightmodel.specialists.export import SPEC_FILE

    versions = registry.list(task)  # ordered by version number
    production = [v for v in versions if v.stage == "production"]
    for version in [*production, *reversed(versions)]:
        spec = version.path / SPEC_FILE
        if spec.is_file():
            return list(json.loads(spec.read_text())["labels"])
    return None


def threshold_warning(version_dir: Path, task: str) -> str | None:
    """A threshold chosen on few held-out captures can be luck: when its cross-fitted coverage (each
    half's threshold, scored on the other half) falls far below its coverage on all of them, or its
    cross-fitted agreement misses the target, say so before anyone serves it."""
    from rightmodel.evaluate.card import read_card

    card = read_card(version_dir)
    chosen, cross = card["calibration"], card.get("calibration_on_eval") or {}
    if not cross.get("crossfit") or not chosen.get("coverage"):
        return None
    target = chosen["target_accuracy"]
    unstable = cross["coverage"] < 0.75 * chosen["coverage"]
    short = cross.get("accepted_accuracy") is not None and cross["accepted_accuracy"] < target
    if not (unstable or short):
        return None
    agreement = "n/a" if cross.get("accepted_accuracy") is None else f"{cross['accepted_accuracy']:.1%}"
    return (f"the threshold rests on {chosen['n_calibration']} held-out captures and does not hold up out of sample "
            f"(cross-fitted: coverage {cross['coverage']:.1%} at {agreement} agreement, against {chosen['coverage']:.1%} at "
            f"{chosen['accepted_accuracy']:.1%} on all of them; target {target:.0%}). Capture more, or run it in shadow "
            f"mode (tasks.{task}.shadow) and promote on live agreement (tasks.{task}.promote).")


def add_distill_command(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def distill(
        task: str = typer.Argument(..., help="The task whose captures to distill (tasks.TASK.capture)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Constellation YAML (storage.captures_url, storage.home)."),
        home: Optional[Path] = typer.Option(None, "--home", envvar="RIGHTMODEL_HOME", help="Registry directory (default: storage.home of --config, else ./.rightmodel)."),
        captures_url: Optional[str] = typer.Option(None, "--captures-url", envvar="RIGHTMODEL_CAPTURES_URL", help="Capture store URL."),
        labels: Optional[str] = typer.Option(None, "--labels", help="The task's labels, comma-separated (default: the task's registered ones, else inferred from the answers)."),
        heldout: float = typer.Option(0.2, "--heldout", min=0.05, max=0.5, help="Share of captured inputs held out (never trained on) to calibrate the threshold and measure agreement."),
        target_agreement: float = typer.Option(0.98, "--target-agreement", min=0.5, max=0.9999, help="Agreement with the frontier the threshold certifies."),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Passes over the data (default: from data size)."),
        min_examples: int = typer.Option(MIN_EXAMPLES, "--min-examples", min=2, help="Refuse to train on fewer distinct examples."),
        since: Optional[str] = typer.Option(None, "--since", help="Only captures from this time on (7d, 24h, ISO date)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use at most this many captures (the oldest first)."),
        seed: int = typer.Option(13, "--seed", help="Training seed."),
    ) -> None:
        from rightmodel.console import TrainingProgress, print_version_summary
        from rightmodel.distill.dataset import build_dataset
        from rightmodel.distill.store import CaptureStore, resolve_captures_url
        from rightmodel.registry import Registry
        from rightmodel.report.cli import load_config
        from rightmodel.report.timespec import parse_time
        from rightmodel.specialists.pipeline import BuildRequest, build_specialist
        from rightmodel.specialists.train import TrainConfig
        from rich.console import Console

        console = Console()
        constellation = load_config(config)
        root = Path(home or constellation.storage.home)
        store = CaptureStore(captures_url or resolve_captures_url(root, constellation.storage.captures_url))
        try:
            start = parse_time(since, datetime.now(timezone.utc), "--since") if since else None
            captured = store.fetch(task, since=start)[:limit]
        finally:
            store.close()
        if not captured:
            raise ConfigError(f"no captures of task {task!r} in {store.url}: enable tasks.{task}.capture and send traffic first")
        registry = Registry(root)
        given = [x.strip() for x in labels.split(",") if x.strip()] if labels else known_labels(registry, task)
        data = build_dataset(captured, given, heldout)
        summary = data.summary()
        console.print(f"[bold]{task}[/]: {summary['captured']} captures → {summary['examples']} distinct examples "
                      f"({summary['train']} train, {summary['heldout']} held out); {summary['duplicates']} duplicates, "
                      f"{summary['conflicts']} conflicting, {summary['unparseable']} unparseable answers; "
                      f"{summary['labels']} labels ({summary['label_source']})")
        for answer, count in summary["unparseable_answers"][:5]:
            console.print(f"  unparseable ×{count}: {answer[:100]!r}")
        if len(data.train) + len(data.heldout) < min_examples or len(data.heldout) < 2 or len({y for _, y in data.train}) < 2:
            raise ConfigError(f"too little to distill: {len(data.train)} train / {len(data.heldout)} held-out examples "
                              f"over {len({y for _, y in data.train})} labels (need {min_examples} examples and 2 labels)")
        work = root / "distill" / task / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        work.mkdir(parents=True, exist_ok=True)
        (work / "dataset.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        heldout_csv = _write(work / "heldout.csv", data.heldout)
        request = BuildRequest(
            # The held-out captures both calibrate the threshold and measure agreement (its numbers at
            # the threshold cross-fitted); the model trains on every other capture. Captures are
            # precious: a calibration split carved from the training ones would cost examples twice.
            task=task, train_path=_write(work / "train.csv", data.train), eval_path=heldout_csv, calibration_path=heldout_csv,
            config=TrainConfig(epochs=epochs, seed=seed), target_accuracy=target_agreement, drop_rare=True,
        )
        with TrainingProgress(console) as progress:
            version = build_specialist(request, registry, progress=progress, log=console.print)
        print_version_summary(version)
        warning = threshold_warning(version.path, task)
        if warning:
            console.print(f"[yellow]warning:[/] {warning}")
        console.print(f"held-out accuracy above is agreement with the frontier on {len(data.heldout)} captured inputs it never trained on; "
                      f"dataset report: {work / 'dataset.json'}")
