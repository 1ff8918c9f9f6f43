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
    "it as a candidate. A generative task (tasks.TASK.kind: generate, a generate model as its specialist or "
    "shadow, or --kind generate) keeps its answers as text: the captured conversations train a LoRA on --base, "
    "and agreement is the task's quality bar (--quality) between its answers and the frontier's. Then run it in "
    "shadow mode (tasks.TASK.shadow) until it has earned promotion."
)
KINDS = ("auto", "classify", "generate")


def task_kind(task: str, constellation, registry) -> tuple[str, str]:
    """(kind, why) of a task: its declared `kind`, else generate when its specialist or shadow is a
    generate model, else the kind of its newest registered version, else classify."""
    cfg = constellation.tasks.get(task)
    generators = constellation.generators()
    if cfg is not None and cfg.kind is not None:
        return cfg.kind, f"tasks.{task}.kind"
    if cfg is not None and (cfg.specialist in generators or cfg.shadow in generators):
        return "generate", f"tasks.{task} has a generate model as its specialist or shadow"
    versions = registry.list(task)
    if versions:
        kind = registry.manifest(versions[-1].ref).get("kind")
        return ("generate", f"{versions[-1].ref} is generative") if kind == "generate" else ("classify", f"{versions[-1].ref} is a classifier")
    return "classify", "default (declare tasks.TASK.kind: generate for a task whose answers are text)"


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
        labels: Optional[str] = typer.Option(None, "--labels", help="Classifier tasks: the labels, comma-separated (default: the task's registered ones, else inferred from the answers)."),
        heldout: float = typer.Option(0.2, "--heldout", min=0.05, max=0.5, help="Share of captured inputs held out (never trained on) to calibrate the threshold and measure agreement."),
        target_agreement: float = typer.Option(0.98, "--target-agreement", min=0.5, max=0.9999, help="Agreement with the frontier the threshold certifies."),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Passes over the data (default: from data size)."),
        min_examples: int = typer.Option(MIN_EXAMPLES, "--min-examples", min=2, help="Refuse to train on fewer distinct examples."),
        since: Optional[str] = typer.Option(None, "--since", help="Only captures from this time on (7d, 24h, ISO date)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use at most this many captures (the oldest first)."),
        seed: int = typer.Option(13, "--seed", help="Training seed."),
        kind: str = typer.Option("auto", "--kind", help="'classify', 'generate', or 'auto' (default): tasks.TASK.kind, else generate when "
                                 "the task's specialist or shadow is a generate model or its newest version is generative, else classify."),
        base: Optional[str] = typer.Option(None, "--base", help="Generative: the base causal LM, a local HF directory or GGUF file "
                                           "(default: bundled SmolLM2-135M-Instruct)."),
        quality: Optional[str] = typer.Option(None, "--quality", help="Generative: when the candidate's answer agrees with the frontier's: "
                                              "'exact' (JSON compared as parsed) or 'chrf>=TAU' (default: tasks.TASK.quality, else exact)."),
        schema: Optional[Path] = typer.Option(None, "--schema", help="Generative: JSON schema file the answers are constrained to."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Generative: LoRA batch size (default 4)."),
        learning_rate: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Generative: LoRA learning rate (default 2e-4)."),
        max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="Generative: the longest answer written for a held-out capture "
                                       "when agreement is measured; set it to the max_tokens your clients send."),
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
        if kind not in KINDS:
            raise ConfigError(f"--kind must be one of: {', '.join(KINDS)}")
        kind, why = (kind, "--kind") if kind != "auto" else task_kind(task, constellation, registry)
        if kind == "generate":
            if labels:
                raise ConfigError(f"--labels is for classifier tasks; task {task} is distilled as a generative task ({why}): its answers stay text")
            return run_generative(task, captured, registry, root, console, heldout=heldout, min_examples=min_examples, seed=seed,
                                  epochs=epochs, base=base, quality=quality or getattr(constellation.tasks.get(task), "quality", None),
                                  schema=schema, batch_size=batch_size, learning_rate=learning_rate, target=target_agreement, why=why,
                                  max_tokens=max_tokens)
        given = [x.strip() for x in labels.split(",") if x.strip()] if labels else known_labels(registry, task)
        data = build_dataset(captured, given, heldout)
        summary = data.summary()
        console.print(f"[bold]{task}[/]: {summary['captured']} captures → {summary['examples']} distinct examples "
                      f"({summary['train']} train, {summary['heldout']} held out); {summary['duplicates']} duplicates, "
                      f"{summary['conflicts']} conflicting, {summary['unparseable']} unparseable answers; "
                      f"{summary['labels']} labels ({summary['label_source']})")
        for answer, count in summary["unparseable_answers"][:5]:
            console.print(f"  unparseable ×{count}: {answer[:100]!r}")
        hint = (f"; if task {task}'s answers are free text, distill it as a generative task (tasks.{task}.kind: generate, "
                f"or --kind generate)") if data.label_source != "given" or summary["unparseable"] else ""
        if summary["unparseable"] * 2 > summary["captured"]:
            console.print(f"[yellow]warning:[/] {summary['unparseable']} of {summary['captured']} answers name no label{hint}")
        if len(data.train) + len(data.heldout) < min_examples or len(data.heldout) < 2 or len({y for _, y in data.train}) < 2:
            raise ConfigError(f"too little to distill: {len(data.train)} train / {len(data.heldout)} held-out examples "
                              f"over {len({y for _, y in data.train})} labels (need {min_examples} examples and 2 labels){hint}")
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


def run_generative(task: str, captured, registry, root: Path, console, *, heldout: float, min_examples: int, seed: int,
                   epochs: int | None, base: str | None, quality: str | None, schema: Path | None, batch_size: int | None,
                   learning_rate: float | None, target: float, why: str, max_tokens: int = 256) -> None:
    """The generative recipe (distill/generative_run.py), with its report on the console."""
    from rightmodel.distill.generative import build_pairs
    from rightmodel.distill.generative_run import GenerativeRecipe, check_enough, describe, distill_generative
    from rightmodel.generative.acceptance import QualityBar, read_json_schema
    from rightmodel.generative.base_model import bundled_gguf

    bar = QualityBar.parse(quality or "exact")  # a bad bar fails before any work
    json_schema = read_json_schema(schema)
    base_path = Path(base).expanduser() if base else bundled_gguf()
    if not base_path.exists():
        raise ConfigError(f"--base {base_path}: no such directory or GGUF file")
    data = build_pairs(captured, heldout)
    s = data.summary()
    console.print(f"[bold]{task}[/] (generative: {why}): {s['captured']} captures → {s['examples']} distinct prompts "
                  f"({s['train']} train, {s['heldout']} held out); {s['duplicates']} duplicates, {s['variants']} answered in more than "
                  f"one way (most frequent kept), {s['unusable']} unusable", highlight=False)
    for reason, count in s["unusable_reasons"][:5]:
        console.print(f"  unusable ×{count}: {reason}", highlight=False)
    check_enough(data, min_examples, task)
    work = root / "distill" / task / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work.mkdir(parents=True, exist_ok=True)
    (work / "dataset.json").write_text(json.dumps(s, indent=2, ensure_ascii=False))
    recipe = GenerativeRecipe(base=base_path, quality=str(bar), target=target, epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, seed=seed, json_schema=json_schema, max_tokens=max_tokens)
    version, card = distill_generative(task, data, work, recipe, registry, log=lambda m: console.print(m, markup=False, highlight=False))
    console.print(f"registered {version.ref} (candidate) from {card['served_file']}", highlight=False)
    for line in describe(card):
        console.print(f"  {line}", highlight=False)
    warning = threshold_warning(version.path, task)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"serve it in shadow mode: models: {{{task}-candidate: {{kind: generate, task: {task}, stage: candidate}}}}, "
                  f"tasks.{task}.shadow: {task}-candidate; dataset report: {work / 'dataset.json'}", highlight=False, markup=False)
