"""`rightmodel` command line: train, evaluate and manage specialists; serve the gateway.

Errors the user can fix are printed as one red line (no traceback) with a non-zero exit code.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from rightmodel.console import InterruptHandler, TrainingProgress, fmt, print_version_summary
from rightmodel.errors import RightmodelError

HOME_OPTION = typer.Option(
    Path(".rightmodel"), "--home", envvar="RIGHTMODEL_HOME", help="Registry directory (versions, golden sets)."
)
DB_OPTION = typer.Option(
    None, "--db-url", envvar="RIGHTMODEL_DATABASE_URL", help="SQLAlchemy URL of the registry index (default: SQLite in --home)."
)


def open_registry(home: Path, db_url: Optional[str]):
    from rightmodel.registry import Registry

    return Registry(home, db_url)


def golden_scorer_factory(registry, ref: str):
    """Promotion gate: score versions on the task's golden set with the served (int8) artifact."""
    from rightmodel.specialists.scoring import golden_scorer

    if registry.manifest(ref).get("kind") == "generate":  # no golden-set gate for generative versions yet: their card's numbers
        return None
    return golden_scorer(registry, ref)


def print_version(value: bool) -> None:
    """``--version``: the installed version (one source: ``rightmodel.__version__``, which
    pyproject.toml reads at build time)."""
    if value:
        from rightmodel import __version__

        typer.echo(f"rightmodel {__version__}")
        raise typer.Exit()


def train_generative(task: str, data: Path, base: Optional[str], out: Path, epochs: Optional[int], batch_size: Optional[int],
                     learning_rate: Optional[float], seed: int, *, eval_file: Optional[Path] = None, calibration_data: Optional[Path] = None,
                     quality: str = "exact", target: float = 0.95, method: str = "expected", schema: Optional[Path] = None,
                     home: Path = Path(".rightmodel"), db_url: Optional[str] = None, promote: bool = False,
                     max_tokens: Optional[int] = None) -> None:
    """`train --kind generate`: pairs → LoRA → GGUF files, a calibrated acceptance threshold and a
    card in `out`; the served file and the card registered as the task's next version (a candidate;
    `--promote` makes it production unless it would answer nothing). Unset --batch-size and --lr
    take LoRA's defaults, not the classifier's."""
    from rightmodel.errors import ConfigError
    from rightmodel.generative.acceptance import QualityBar, read_json_schema
    from rightmodel.generative.base_model import bundled_gguf
    from rightmodel.generative.lora import LoraSettings
    from rightmodel.generative.pipeline import build_generative, register_generative

    bar = QualityBar.parse(quality)
    json_schema = read_json_schema(schema)

    defaults = LoraSettings()
    settings = LoraSettings(
        epochs=epochs or defaults.epochs,
        batch_size=batch_size or defaults.batch_size,
        learning_rate=learning_rate if learning_rate is not None else defaults.learning_rate,
        max_tokens=max_tokens or defaults.max_tokens,
        seed=seed,
    )
    err = Console(stderr=True)
    card = build_generative(task, data, Path(base) if base else bundled_gguf(), out, settings, log=lambda m: err.print(m, markup=False),
                            calibration_data=calibration_data, test_data=eval_file, quality=bar, target=target, method=method,
                            json_schema=json_schema)
    Console().print_json(json.dumps(card))
    from rightmodel.registry.cli import answers_nothing, promotion_summary

    registry = open_registry(home, db_url)
    try:
        version = register_generative(registry, task, out, card)
        err.print(f"registered {version.ref} (candidate) from {card['served_file']}", markup=False)
        if promote:
            useless = answers_nothing(version)
            if useless:
                err.print(f"not promoted: {useless}", markup=False)
            else:
                err.print(promotion_summary(registry.promote(version.ref)), markup=False)
    finally:
        registry.close()


def build_app() -> typer.Typer:
    from rightmodel.registry.cli import build_models_app

    app = typer.Typer(
        help="rightmodel: train, evaluate, version and serve small specialist models.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        # Plain click help: typer's rich panels print every flag with a value placeholder
        # ("--force <bool>"), which reads as if the flag took an argument. Sub-apps inherit it.
        rich_markup_mode=None,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(False, "--version", callback=print_version, is_eager=True, help="Print the version and exit."),
    ) -> None:
        """rightmodel: train, evaluate, version and serve small specialist models."""
    app.add_typer(build_models_app(golden_scorer_factory), name="models", help="List, inspect, promote and roll back versions.")
    from rightmodel.gateway.cli import add_gateway_commands

    add_gateway_commands(app)
    from rightmodel.auth.cli import add_keys_commands

    add_keys_commands(app)
    from rightmodel.report.cli import add_report_command

    add_report_command(app)
    from rightmodel.distill.cli import add_distill_command

    add_distill_command(app)
    from rightmodel.router.cli import build_router_app

    app.add_typer(build_router_app(), name="router", help="Learned routers: train, evaluate, score (strong vs weak model).")

    @app.command()
    def train(
        task: str = typer.Argument(..., help="Task name, e.g. support-intent."),
        data: Path = typer.Option(..., "--data", help="Labelled training file (CSV, TSV, JSONL or JSON)."),
        eval_file: Optional[Path] = typer.Option(None, "--eval", help="Held-out evaluation file; default: carve one from --data."),
        text_col: Optional[str] = typer.Option(None, "--text-col", help="Text column (default: auto-detect)."),
        label_col: Optional[str] = typer.Option(None, "--label-col", help="Label column (default: auto-detect)."),
        multi_label: bool = typer.Option(False, "--multi-label", help="Each row may carry zero or more labels."),
        label_sep: str = typer.Option("|", "--label-sep", help="Separator of labels in a CSV cell (multi-label)."),
        base: Optional[str] = typer.Option(
            None, "--base",
            help="Base model: a local Hugging Face encoder directory (default: bundled all-MiniLM-L6-v2); with --kind "
            "generate, a causal-LM directory or GGUF file (default: bundled SmolLM2-135M-Instruct).",
        ),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Passes over the data (default: from data size)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Default: 32 (classify), 4 (generate)."),
        learning_rate: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Default: 1e-4 (classify), 2e-4 (generate LoRA)."),
        max_length: Optional[int] = typer.Option(
            None, "--max-length", min=8,
            help="Tokens kept per example. Default: 128 (classify; at most 512, the encoder's limit), 512 (generate: "
            "prompt + answer, the prompt cut from the left)."),
        seed: int = typer.Option(13, "--seed"),
        negative_rate: float = typer.Option(
            1.0, "--negative-rate", min=0.01, max=1.0,
            help="Multi-label: share of label-less rows sampled per epoch (faster on sparse labels; probabilities are prior-corrected).",
        ),
        target_accuracy: float = typer.Option(0.99, "--target-accuracy", min=0.5, max=0.9999, help="Accepted-answer accuracy the threshold certifies."),
        calibration: str = typer.Option(
            "expected", "--calibration",
            help="Threshold rule: 'expected' (conformal-style bound, default) or 'high-probability' (Learn-then-Test, stricter).",
        ),
        calibration_mode: str = typer.Option(
            "auto", "--calibration-mode",
            help="Where calibration answers come from: 'split' (a held-out 10% of --data), 'cross-fit' (every row, "
            "scored by k fold models that did not see it; k extra fine-tunings) or 'auto' (cross-fit when the split "
            "would hold fewer than 200 answers).",
        ),
        folds: int = typer.Option(5, "--folds", min=2, max=20, help="Cross-fit folds."),
        calibration_margin: Optional[float] = typer.Option(
            None, "--calibration-margin", min=0.0, max=0.9,
            help="Share of the error budget the 'expected' rule holds back (0.25 at a 95% target certifies 96.25%), "
            "so that the promised accuracy survives a new calibration draw, new sources and, when cross-fitted, a "
            "shipped model more confident than its fold models. Default 0.25; 0 is the plain rule (more local answers, "
            "a promise that holds on average for data like the calibration answers).",
        ),
        shifted_eval: Optional[list[Path]] = typer.Option(
            None, "--shifted-eval", metavar="FILE",
            help="Labelled file of the same task from another source or period (repeatable): the card shows the "
            "threshold's coverage and accepted accuracy there beside the calibration split's.",
        ),
        encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the data files."),
        drop_rare: bool = typer.Option(False, "--drop-rare", help="Drop classes with fewer than 2 examples instead of failing."),
        promote: bool = typer.Option(False, "--promote", help="Promote the new version to production if it passes the gate and answers something locally (coverage > 0)."),
        kind: str = typer.Option("classify", "--kind", help="'classify' (default) or 'generate': a LoRA-tuned causal LM exported as GGUF (rightmodel/generative/)."),
        out: Optional[Path] = typer.Option(None, "--out", help="--kind generate: output directory (default: HOME/generative/TASK)."),
        quality: str = typer.Option(
            "exact", "--quality",
            help="--kind generate: when an answer counts as right, for the acceptance threshold: 'exact' (JSON compared as "
            "parsed) or 'chrf>=TAU' (sacrebleu chrF, TAU in 0..1) for free text.",
        ),
        calibration_data: Optional[Path] = typer.Option(
            None, "--calibration-data",
            help="--kind generate: held-out pairs the acceptance threshold is calibrated on (default: a random 15% of --data).",
        ),
        schema: Optional[Path] = typer.Option(None, "--schema", help="--kind generate: JSON schema file the task's answers are constrained to."),
        home: Path = HOME_OPTION,
        db_url: Optional[str] = DB_OPTION,
    ) -> None:
        """Fine-tune a specialist on a labelled file and register it as a candidate version."""
        from rightmodel.errors import ConfigError

        if kind == "generate":
            return train_generative(task, data, base, out or home / "generative" / task, epochs, batch_size, learning_rate, seed,
                                    eval_file=eval_file, calibration_data=calibration_data, quality=quality,
                                    target=target_accuracy, method=calibration, schema=schema, home=home, db_url=db_url,
                                    promote=promote, max_tokens=max_length)
        if kind != "classify":
            raise ConfigError("--kind must be classify or generate")
        max_length = max_length or 128
        if max_length > 512:
            raise ConfigError(f"--max-length {max_length}: at most 512 for --kind classify (the encoder's limit)")
        from rightmodel.routing.calibration import METHODS
        from rightmodel.specialists.pipeline import CALIBRATION_MODES, BuildRequest, build_specialist
        from rightmodel.specialists.train import TrainConfig

        if calibration not in METHODS:
            raise ConfigError(f"--calibration must be one of: {', '.join(METHODS)}")
        if calibration_mode not in CALIBRATION_MODES:
            raise ConfigError(f"--calibration-mode must be one of: {', '.join(CALIBRATION_MODES)}")

        registry = open_registry(home, db_url)
        request = BuildRequest(
            task=task,
            train_path=data,
            eval_path=eval_file,
            text_col=text_col,
            label_col=label_col,
            multi_label=multi_label,
            label_sep=label_sep,
            encoding=encoding,
            drop_rare=drop_rare,
            base=base,
            target_accuracy=target_accuracy,
            calibration_method=calibration,
            calibration_mode=calibration_mode,
            folds=folds,
            calibration_margin=calibration_margin,
            shifted_paths=tuple(shifted_eval or ()),
            config=TrainConfig(
                epochs=epochs, batch_size=batch_size or TrainConfig.batch_size,
                learning_rate=learning_rate if learning_rate is not None else TrainConfig.learning_rate, max_length=max_length,
                seed=seed, negative_rate=negative_rate,
            ),
        )
        err = Console(stderr=True)
        with TrainingProgress(err) as progress:
            version = build_specialist(request, registry, progress=progress, log=lambda m: err.print(m))
        print_version_summary(version)
        if promote:
            from rightmodel.errors import PromotionRefused
            from rightmodel.registry.cli import answers_nothing, promotion_summary

            useless = answers_nothing(version)
            if useless:
                raise PromotionRefused(f"not promoted (registered as a candidate): {useless}")
            result = registry.promote(version.ref, scorer=golden_scorer_factory(registry, version.ref))
            Console().print(promotion_summary(result), markup=False, highlight=False)

    @app.command("eval")
    def eval_command(
        ref: str = typer.Argument(..., help="TASK or TASK@VERSION (e.g. support-intent@v2, support-intent@candidate)."),
        data: Path = typer.Option(..., "--data", help="Labelled file to score on."),
        compare: Optional[Path] = typer.Option(None, "--compare", help="Another system's predictions on the same items."),
        text_col: Optional[str] = typer.Option(None, "--text-col"),
        label_col: Optional[str] = typer.Option(None, "--label-col"),
        label_sep: str = typer.Option("|", "--label-sep"),
        encoding: str = typer.Option("utf-8", "--encoding"),
        as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
        home: Path = HOME_OPTION,
        db_url: Optional[str] = DB_OPTION,
    ) -> None:
        """Score a version on a labelled file; optionally compare it with another system's predictions."""
        from rightmodel.specialists.scoring import evaluate_version

        registry = open_registry(home, db_url)
        result = evaluate_version(
            registry, ref, data, compare=compare, text_col=text_col, label_col=label_col,
            label_sep=label_sep, encoding=encoding,
        )
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            print_eval(result)

    @app.command()
    def classify(
        ref: str = typer.Argument(..., help="TASK or TASK@VERSION."),
        texts: list[str] = typer.Argument(..., help="One or more texts."),
        top_k: int = typer.Option(3, "--top-k", min=1),
        home: Path = HOME_OPTION,
        db_url: Optional[str] = DB_OPTION,
    ) -> None:
        """Classify texts with a registered version (ONNX Runtime) and show its threshold decision."""
        from rightmodel.specialists.scoring import open_runtime

        registry = open_registry(home, db_url)
        version, runtime, threshold = open_runtime(registry, ref)
        for text, pred in zip(texts, runtime.predict(texts, top_k=top_k)):
            decision = "answer" if pred.confidence >= threshold else "escalate"
            typer.echo(json.dumps({
                "text": text, "labels": list(pred.labels), "confidence": round(pred.confidence, 5),
                "decision": decision, "threshold": threshold, "version": version.ref,
                "top": [[label, round(p, 5)] for label, p in pred.top],
            }))

    return app


def print_eval(result: dict) -> None:
    console = Console()
    m = result["metrics"]
    console.print(
        f"{result['version']} on {result['data']} ({m['n']} items): accuracy {m['accuracy']:.4f}  "
        f"micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}"
    )
    sel = result["at_threshold"]
    console.print(
        f"at threshold {sel['threshold']:.5f}: coverage {sel['coverage']:.1%}, accepted accuracy {fmt(sel['accepted_accuracy'])}"
    )
    for c in m.get("most_confused", [])[:5]:
        console.print(f"  confused: {c['true']} → {c['predicted']} ×{c['count']}")
    if "comparison" in result:
        c = result["comparison"]
        console.print(
            f"vs {result['compare_file']}: ours {c['ours_accuracy']:.4f}, theirs {c['theirs_accuracy']:.4f}, "
            f"agreement {c['agreement']:.4f}; only ours right {c['only_ours_correct']}, only theirs right "
            f"{c['only_theirs_correct']} (exact McNemar p={c['mcnemar_exact_p']:.4g})"
        )


def interrupted(err: Console) -> None:
    """Report and leave with 130. The staging directory was already removed while the interrupt
    unwound; exit without interpreter finalization, where native thread pools (torch,
    tokenizers) were seen to turn a clean exit into a death by SIGINT."""
    import os

    err.print("[yellow]interrupted: nothing was registered[/]")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def main() -> None:
    """Entry point: one red line for user errors, exit 130 on interrupt, nothing half-registered."""
    # Ctrl-C and SIGTERM both unwind through the registry's staging cleanup. SIGINT is reset
    # explicitly because a parent that started us in the background may have ignored it.
    handler = InterruptHandler()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    sys.unraisablehook = handler.unraisable
    err = Console(stderr=True)
    try:
        code = build_app()(standalone_mode=False)
        if code == 130:  # typer turns KeyboardInterrupt into exit code 130
            interrupted(err)
        sys.exit(code if isinstance(code, int) else 0)
    except RightmodelError as exc:
        from rich.markup import escape

        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        interrupted(err)
    except (typer.Exit, SystemExit) as exc:
        sys.exit(getattr(exc, "exit_code", getattr(exc, "code", 0)))
    except Exception as exc:  # usage errors arrive here in standalone_mode=False
        import click

        # typer >= 0.29 raises its own vendored click's exceptions, not click's
        usage_errors = (click.ClickException, typer.exceptions.TyperException)
        if isinstance(exc, usage_errors) and hasattr(exc, "show"):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        if isinstance(exc, (click.exceptions.Abort, typer.Abort)):  # wrappers around KeyboardInterrupt
            interrupted(err)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
