"""``rightmodel router ...``: train learned routers, evaluate them on outcome files, score prompts.

Errors a user can fix print as one red line with a non-zero exit code, like the rest of the CLI.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from rightmodel.errors import RightmodelError

F = TypeVar("F", bound=Callable[..., Any])
HOME = typer.Option(Path(".rightmodel"), "--home", envvar="RIGHTMODEL_HOME", help="Registry directory.")
DB = typer.Option(None, "--db-url", envvar="RIGHTMODEL_DATABASE_URL", help="SQLAlchemy URL of the registry index.")


def _errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RightmodelError as err:
            Console(stderr=True).print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True, highlight=False)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _ledger_outcomes(task: str, home: Path, config: Optional[Path], ledger_url: Optional[str],
                     captures_url: Optional[str], since: Optional[str]):
    """The task's judged prompts, from the ledger and capture store `rightmodel serve` writes to."""
    from datetime import datetime, timezone

    from rightmodel.distill.store import CaptureStore, resolve_captures_url
    from rightmodel.report.cli import load_config, open_ledger, resolve_ledger_url
    from rightmodel.report.timespec import parse_time
    from rightmodel.router.ledger_outcomes import collect

    constellation = load_config(config)
    root = Path(home)  # SQLite ledger and captures beside the registry, unless the config or a URL says otherwise
    start = parse_time(since, datetime.now(timezone.utc), "--since") if since else None
    engine = open_ledger(resolve_ledger_url(root, ledger_url, config, constellation))
    store = CaptureStore(captures_url or resolve_captures_url(root, constellation.storage.captures_url))
    try:
        return collect(engine, store, task, since=start)
    finally:
        store.close()
        engine.dispose()


def build_router_app() -> typer.Typer:
    """The ``router`` command group (add with ``app.add_typer(build_router_app(), name="router")``)."""
    app = typer.Typer(help="Learned routers: which prompts are worth the strong model.", no_args_is_help=True,
                      pretty_exceptions_enable=False)

    @app.command("train")
    @_errors
    def train_cmd(
        name: str = typer.Argument(..., help="Router name, e.g. mmlu-router (registry task name)."),
        data: Optional[Path] = typer.Option(None, "--data", help="Outcome file (CSV/TSV/JSONL/JSON) or a directory of them."),
        from_ledger: Optional[str] = typer.Option(None, "--from-ledger", metavar="TASK", help="Instead of --data: TASK's captured prompts judged by feedback in the gateway's ledger (see `router outcomes`)."),
        strong: str = typer.Option(..., "--strong", help="Column with the strong model's quality (bool or score)."),
        weak: str = typer.Option(..., "--weak", help="Column with the weak model's quality (bool or score)."),
        kind: str = typer.Option("hybrid", "--kind", help="classifier | knn | tfidf | hybrid."),
        prompt_col: Optional[str] = typer.Option(None, "--prompt-col", help="Prompt column (default: prompt/text/query...)."),
        exclude: list[Path] = typer.Option([], "--exclude", help="File of prompts to drop (JSONL eval_prompt/prompt/text, or lines)."),
        folds: int = typer.Option(5, "--folds", min=2, help="Cross-validation folds for the card."),
        split: str = typer.Option("prompt", "--split", help="Hold out by 'prompt' text or by 'group' (file of a directory)."),
        seed: int = typer.Option(13, "--seed"),
        max_length: int = typer.Option(128, "--max-length", min=8, max=512, help="Tokens of each prompt the encoder reads."),
        layers: Optional[int] = typer.Option(None, "--layers", min=0, help="Encoder layers to keep (default 3: ~half the decision time of all 6; 0 keeps all)."),
        base: Optional[str] = typer.Option(None, "--base", help="Local Hugging Face encoder dir (default: bundled MiniLM)."),
        encoding: str = typer.Option("utf-8", "--encoding"),
        promote: bool = typer.Option(False, "--promote", help="Promote the new version to production."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="With --from-ledger: the gateway's constellation (storage URLs)."),
        ledger_url: Optional[str] = typer.Option(None, "--ledger-url", envvar="RIGHTMODEL_LEDGER_URL", help="With --from-ledger: ledger URL (default: as `rightmodel serve`)."),
        captures_url: Optional[str] = typer.Option(None, "--captures-url", envvar="RIGHTMODEL_CAPTURES_URL", help="With --from-ledger: capture store URL."),
        since: Optional[str] = typer.Option(None, "--since", help="With --from-ledger: only requests from this time on (7d, 24h, ISO date)."),
        home: Path = HOME,
        db_url: Optional[str] = DB,
    ) -> None:
        """Train a router on an outcome file or the ledger's judged traffic, evaluate it held out,
        register it with its card."""
        from rightmodel.errors import ConfigError, DataError
        from rightmodel.registry import Registry
        from rightmodel.router.train import RouterTrainRequest, build_router

        err = Console(stderr=True)
        if (data is None) == (from_ledger is None):
            raise ConfigError("give exactly one of --data FILE and --from-ledger TASK")
        if from_ledger is not None:
            found = _ledger_outcomes(from_ledger, home, config, ledger_url, captures_url, since)
            err.print(escape(found.describe()), highlight=False)
            missing = [m for m in (strong, weak) if m not in found.columns]
            if missing:
                raise DataError(f"no judged prompts of task {from_ledger} for {', '.join(repr(m) for m in missing)}; "
                                f"model columns there: {', '.join(found.columns) or 'none'} (send feedback on captured requests)")
            from datetime import datetime, timezone

            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            data = found.write_jsonl(home / "router-data" / f"{from_ledger}-{stamp}.jsonl")
            err.print(f"{found.both(strong, weak)} prompts judged for both {escape(strong)} and {escape(weak)}: {escape(str(data))}",
                      highlight=False)
        request = RouterTrainRequest(name=name, data=data, strong=strong, weak=weak, kind=kind, prompt_col=prompt_col,
                                     exclude=list(exclude), folds=folds, split=split, seed=seed, max_length=max_length,
                                     layers=layers, base=base, encoding=encoding)
        with Registry(home, db_url) as registry:
            version = build_router(request, registry, log=lambda m: err.print(escape(m), highlight=False))
            m = version.metrics
            Console().print(f"[green]registered {version.ref}[/] (stage {version.stage}) at {escape(str(version.path))}")
            Console().print(f"held out: APGR {m['apgr']:.3f} (10 bins {m['apgr_bins10']:.3f}), CPT(50%) {_pct(m['cpt50'])}, "
                            f"CPT(80%) {_pct(m['cpt80'])}; card: {escape(str(version.path / 'card.md'))}")
            if promote:
                registry.promote(version.ref)
                Console().print(f"promoted {version.ref} to production")

    @app.command("outcomes")
    @_errors
    def outcomes_cmd(
        task: str = typer.Argument(..., help="A gateway task with capture on (tasks.TASK.capture)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the outcome rows here (JSONL: prompt + one column per model)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="The gateway's constellation (storage URLs)."),
        ledger_url: Optional[str] = typer.Option(None, "--ledger-url", envvar="RIGHTMODEL_LEDGER_URL", help="Ledger URL (default: as `rightmodel serve`)."),
        captures_url: Optional[str] = typer.Option(None, "--captures-url", envvar="RIGHTMODEL_CAPTURES_URL", help="Capture store URL."),
        since: Optional[str] = typer.Option(None, "--since", help="Only requests from this time on (7d, 24h, ISO date)."),
        home: Path = HOME,
    ) -> None:
        """Outcome rows from the gateway's own records: TASK's captured prompts joined with the
        feedback on them. An escalated request judged by feedback gives both the remote model's and
        the specialist's quality; other prompts are merged by text. Train on them with
        `router train NAME --from-ledger TASK --strong MODEL --weak specialist`."""
        found = _ledger_outcomes(task, home, config, ledger_url, captures_url, since)
        Console().print(escape(found.describe()), highlight=False)
        if out is not None:
            Console().print(f"wrote {len(found.rows)} rows to {escape(str(found.write_jsonl(out)))}", highlight=False)

    @app.command("eval")
    @_errors
    def eval_cmd(
        ref: str = typer.Argument(..., help="NAME or NAME@vN of a registered router."),
        data: Path = typer.Option(..., "--data", help="Outcome file or directory (prompts the router did not train on)."),
        strong: Optional[str] = typer.Option(None, "--strong", help="Strong model column (default: the router's)."),
        weak: Optional[str] = typer.Option(None, "--weak", help="Weak model column (default: the router's)."),
        prompt_col: Optional[str] = typer.Option(None, "--prompt-col"),
        exclude: list[Path] = typer.Option([], "--exclude"),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Write the PGR curve vs random and oracle (.png or .svg)."),
        bins: int = typer.Option(10, "--bins", min=1, help="Quantile bins for RouteLLM's APGR."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        encoding: str = typer.Option("utf-8", "--encoding"),
        home: Path = HOME,
        db_url: Optional[str] = DB,
    ) -> None:
        """PGR curve, APGR (full sweep and quantile bins), CPT(50%) and CPT(80%) on an outcome file."""
        from rightmodel.registry import Registry
        from rightmodel.router.artifact import open_router
        from rightmodel.router.evaluate import evaluate_router

        with Registry(home, db_url) as registry:
            version, router = open_router(registry, ref)
        result = evaluate_router(router, data, strong=strong, weak=weak, prompt_col=prompt_col, exclude=exclude,
                                 plot=plot, bins=bins, encoding=encoding, title=version.ref)
        result["router"] = version.ref
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        c = Console()
        c.print(f"{version.ref} on {escape(str(data))} ({result['n']} prompts): strong {result['strong_quality']:.3f}, "
                f"weak {result['weak_quality']:.3f}")
        if result["seen_in_training"]:
            c.print(f"[yellow]warning: {result['seen_in_training']} of {result['n']} prompts were in the router's training "
                    "data; these scores are not held out[/]")
        for label, key in (("full sweep", "sweep"), (f"{bins} bins", f"bins{bins}"), ("random", "random"), ("oracle", "oracle")):
            r = result[key]
            c.print(f"  {label:>10}: APGR {r['apgr']:.3f}  CPT(50%) {_pct(r['cpt50'])}  CPT(80%) {_pct(r['cpt80'])}")
        if result.get("plot"):
            c.print(f"plot: {escape(result['plot'])}")

    @app.command("score")
    @_errors
    def score_cmd(
        ref: str = typer.Argument(..., help="NAME or NAME@vN."),
        texts: list[str] = typer.Argument(..., help="One or more prompts."),
        share: Optional[float] = typer.Option(None, "--share", min=0.0, max=1.0, help="Target share of strong calls."),
        threshold: Optional[float] = typer.Option(None, "--threshold", help="Explicit threshold (strong iff score >= it)."),
        home: Path = HOME,
        db_url: Optional[str] = DB,
    ) -> None:
        """Score prompts and show which model each would go to."""
        from rightmodel.registry import Registry
        from rightmodel.router.artifact import open_router

        with Registry(home, db_url) as registry:
            version, router = open_router(registry, ref)
        t = threshold if threshold is not None else router.threshold_for_share(0.5 if share is None else share)
        for text, s in zip(texts, router.score(texts)):
            model = router.strong_model if s >= t else router.weak_model
            typer.echo(json.dumps({"text": text, "score": round(float(s), 6), "threshold": t, "route": model,
                                   "router": version.ref}))

    return app
