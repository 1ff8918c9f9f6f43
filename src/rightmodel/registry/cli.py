"""``rightmodel models ...``: list, inspect, promote and roll back registered versions.

The golden-set scorer is injected through ``build_models_app(scorer_factory)`` so this module
never imports ONNX Runtime; the top-level CLI decides how versions are scored.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape as _escape
from rich.table import Table

from rightmodel.errors import PromotionRefused, RightmodelError
from rightmodel.registry.registry import ModelVersion, PromotionResult, Registry

ScorerFactory = Callable[[Registry, str], Optional[Callable[[ModelVersion], float]]]
F = TypeVar("F", bound=Callable[..., Any])


class _Session:
    """Per-invocation settings; the Registry is built on first use so ``--help`` stays cheap."""

    def __init__(self, home: Path, db_url: str | None, scorer_factory: ScorerFactory | None):
        self.home, self.db_url, self.scorer_factory = home, db_url, scorer_factory
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(self.home, self.db_url)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()


def _reports_errors(func: F) -> F:
    """Turn RightmodelError into a red one-line message and its exit code, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RightmodelError as err:
            Console(stderr=True).print(
                f"[red]{_escape(str(err))}[/red]", soft_wrap=True, highlight=False
            )
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _session(ctx: typer.Context) -> _Session:
    session = ctx.find_object(_Session)
    assert session is not None, "models_app callback did not run"
    return session


def _fmt_metrics(metrics: dict[str, Any], limit: int = 3) -> str:
    shown = [
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in list(metrics.items())[:limit]
        if not isinstance(v, (dict, list))
    ]
    return ", ".join(shown)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def promotion_summary(result: PromotionResult) -> str:
    """One line a person reads after a promotion (``models promote`` and ``train --promote``):
    what is in production now, what it replaced, and the golden-set scores that gated it.
    Plain text: print it with markup off (a reason or ref may hold brackets)."""
    line = f"{result.version.ref} is now in production"
    if result.previous is not None:
        line += f"; {result.previous.ref} archived"
    if result.candidate_score is not None:
        line += f" (golden score {_score(result.candidate_score)} vs {_score(result.production_score)})"
    elif result.previous is None:
        line += " (first production version: no gate)"
    if result.forced:
        line += " [forced]"
    return line


def answers_nothing(version: ModelVersion) -> str | None:
    """Why promoting `version` would send every request to the frontier model, or None.

    A specialist whose calibrated threshold accepts none of its calibration answers (threshold
    above 1, coverage 0) is never consulted: promoting it changes nothing but the audit trail,
    and a team that promoted it believes it is saving money. Versions without a card (not built
    by `rightmodel train`) are not judged.
    """
    card_file = version.path / "card.json"
    try:
        card = json.loads(card_file.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    cal = card.get("calibration") or {}
    if not cal or (cal.get("coverage", 1.0) > 0 and cal.get("threshold", 0.0) <= 1.0):
        return None
    n = cal.get("n_calibration", "?")
    target = cal.get("target_accuracy")
    at = f" at the {target:.0%} target" if isinstance(target, (int, float)) else ""
    return (
        f"{version.ref} answers 0% of requests locally: its threshold ({cal.get('threshold')}) certifies none of "
        f"its {n} calibration answers{at}, so every request would escalate. Retrain with more rows, a lower "
        "--target-accuracy or --calibration-mode cross-fit (see the card's 'what the calibration evidence can "
        f"certify'), or promote anyway: rightmodel models promote {version.ref} --force --reason TEXT"
    )


def build_models_app(scorer_factory: ScorerFactory | None = None) -> typer.Typer:
    """Build the ``models`` command group.

    ``scorer_factory(registry, ref)`` is called with the candidate's ref ("task@v3") and returns
    the golden-set scorer for its task, or None when there is nothing to score against.
    """
    models_app = typer.Typer(
        help="List, inspect, promote and roll back registered model versions.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )

    @models_app.callback()
    def main(
        ctx: typer.Context,
        home: Path = typer.Option(
            Path(".rightmodel"), "--home", envvar="RIGHTMODEL_HOME", help="rightmodel home dir."
        ),
        db_url: str | None = typer.Option(
            None, "--db-url", envvar="RIGHTMODEL_DATABASE_URL",
            help="SQLAlchemy URL of the registry index (default: SQLite in the home dir).",
        ),
    ) -> None:
        session = _Session(home, db_url, scorer_factory)
        ctx.obj = session
        ctx.call_on_close(session.close)

    @models_app.command("list")
    @_reports_errors
    def list_cmd(
        ctx: typer.Context,
        task: str | None = typer.Option(None, "--task", help="Only this task."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List registered versions and their stages."""
        found = _session(ctx).registry.list(task)
        if as_json:
            typer.echo(json.dumps([v.to_dict() for v in found], indent=2))
            return
        if not found:
            typer.echo(f"No versions registered{f' for {task}' if task else ''}.")
            return
        table = Table(title="Registered models")
        for column in ("ref", "stage", "created", "base model", "metrics"):
            table.add_column(column)
        styles = {"production": "bold green", "candidate": "yellow", "archived": "dim"}
        for v in found:
            table.add_row(
                v.ref, f"[{styles.get(v.stage, '')}]{v.stage}[/]",
                v.created_at.strftime("%Y-%m-%d %H:%M"), v.base_model or "-",
                _fmt_metrics(v.metrics),
            )
        Console().print(table)

    @models_app.command("show")
    @_reports_errors
    def show_cmd(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="task, task@v3, task@production, task@latest..."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show a version's manifest summary, integrity and model card."""
        registry = _session(ctx).registry
        version = registry.get(ref)
        manifest = registry.manifest(version.ref)
        try:
            registry.open(version.ref)
            integrity = "ok"
        except RightmodelError as err:
            integrity = str(err)
        card = version.path / "card.md"
        card_text = card.read_text("utf-8") if card.is_file() else None
        if as_json:
            payload = {"version": version.to_dict(), "integrity": integrity,
                       "manifest": manifest, "card_md": card_text}
            typer.echo(json.dumps(payload, indent=2))
            return
        console = Console()
        console.print(f"[bold]{version.ref}[/bold]  stage: {version.stage}")
        console.print(f"created:    {version.created_at.isoformat(timespec='seconds')}")
        console.print(f"path:       {_escape(str(version.path))}")
        console.print(f"base model: {version.base_model or '-'}")
        console.print(f"data hash:  {version.data_hash or '-'}")
        console.print(f"metrics:    {_escape(json.dumps(version.metrics))}")
        style = "green" if integrity == "ok" else "red"
        console.print(f"integrity:  [{style}]{_escape(integrity)}[/{style}]")
        files = Table("file", "size", "sha256", title="files")
        for entry in manifest.get("files", []):
            files.add_row(entry["path"], str(entry["size"]), entry["sha256"][:12])
        console.print(files)
        if card_text:
            console.print(Markdown(card_text))

    @models_app.command("promote")
    @_reports_errors
    def promote_cmd(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="Version to promote, e.g. support-intent@v3."),
        force: bool = typer.Option(
            False, "--force", help="Promote even if it scores worse, or answers nothing locally (0% coverage)."
        ),
        reason: str | None = typer.Option(None, "--reason", help="Why (required with --force)."),
    ) -> None:
        """Promote a candidate to production (gated on the golden set when one is configured)."""
        session = _session(ctx)
        registry = session.registry
        version = registry.get(ref)
        useless = answers_nothing(version)
        if useless and not force:
            raise PromotionRefused(useless)
        factory = session.scorer_factory
        scorer = factory(registry, version.ref) if factory is not None else None
        result = registry.promote(version.ref, scorer=scorer, force=force, reason=reason)
        Console().print(promotion_summary(result), markup=False, highlight=False)

    @models_app.command("rollback")
    @_reports_errors
    def rollback_cmd(
        ctx: typer.Context,
        task: str = typer.Argument(..., help="Task whose production version to roll back."),
        reason: str | None = typer.Option(None, "--reason", help="Why, for the audit trail."),
    ) -> None:
        """Archive production and restore the version that was production before it."""
        restored = _session(ctx).registry.rollback(task, reason=reason)
        typer.echo(f"{restored.ref} is in production again.")

    @models_app.command("history")
    @_reports_errors
    def history_cmd(
        ctx: typer.Context,
        task: str = typer.Argument(..., help="Task to show the audit trail for."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show the audit trail of a task: registrations and stage changes, oldest first."""
        events = _session(ctx).registry.events(task)
        if as_json:
            typer.echo(json.dumps(events, indent=2, default=str))
            return
        if not events:
            typer.echo(f"No history for {task}.")
            return
        scored = any(e["candidate_score"] is not None for e in events)
        table = Table(title=f"History of {task}")
        for column in ("time (UTC)", "version", "action", "stage"):
            table.add_column(column, no_wrap=True)
        if scored:
            table.add_column("golden", no_wrap=True)
        table.add_column("reason", ratio=1)
        for e in events:
            row = [
                e["time"].strftime("%m-%d %H:%M"), e["version"],
                e["action"] + (" [red](forced)[/red]" if e["forced"] else ""),
                f"{e['from_stage'] or '-'}→{e['to_stage'] or '-'}",
            ]
            if scored:
                row.append("" if e["candidate_score"] is None else
                           f"{_score(e['candidate_score'])} vs {_score(e['production_score'])}")
            table.add_row(*row, _escape(e["reason"] or ""))
        Console().print(table)

    return models_app
