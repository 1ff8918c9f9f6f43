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


def build_router_app() -> typer.Typer:
    """The ``router`` command group (add with ``app.add_typer(build_router_app(), name="router")``)."""
    app = typer.Typer(help="Learned routers: which prompts are worth the strong model.", no_args_is_help=True,
                      pretty_exceptions_enable=False)

    @app.command("train")
    @_errors
    def train_cmd(
        name: str = typer.Argument(..., help="Router name, e.g. mmlu-router (registry task name)."),
        data: Path = typer.Option(..., "--data", help="Outcome file (CSV/TSV/JSONL/JSON) or a directory of them."),
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
        home: Path = HOME,
        db_url: Optional[str] = DB,
    ) -> None:
        """Train a router on an outcome file, evaluate it held out, register it with its card."""
        from rightmodel.registry import Registry
        from rightmodel.router.train import RouterTrainRequest, build_router

        err = Console(stderr=True)
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
