"""`rightmodel report`: the ledger summed up per task, model, tenant, day or route.

The ledger is found like `rightmodel serve` finds it: `--ledger-url` (or $RIGHTMODEL_LEDGER_URL),
else `storage.ledger_url` of `--config`, else SQLite `ledger.db` in `--home` (else the file's
`storage.home`, else ./.rightmodel). It is only read.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from rightmodel.errors import ConfigError

HELP = (
    "Sum up the ledger per group, with a total row: requests, local share, escalation and error "
    "rates, latency percentiles, actual vs all-frontier cost and savings, tokens, accuracy from "
    "feedback; then each specialist version's live accuracy and escalation rate, and drift "
    "flags for those outside their band (tasks.X.drift / observability.drift of --config).\n\n"
    "Definitions (a ratio with nothing to divide by is empty): "
    "local share = answered rows (status < 400) with route 'specialist' / answered rows except "
    "embeddings; escalation rate = escalated rows / rows with a task; error rate = rows with "
    "status >= 400 / all rows (rejected ones included); latency p50/p95/p99 = nearest-rank "
    "percentiles of latency_ms over answered rows; cost = sum of cost_usd; all-frontier "
    "(counterfactual) = sum of counterfactual_cost_usd; fixed cost = "
    "defaults.local_fixed_cost_per_month (or --fixed-cost-per-month) pro rata over the time the "
    "window's rows cover (its first row to its last), in the total and per day; actual = cost + "
    "fixed; savings = counterfactual - actual, and as a share of counterfactual; accuracy = "
    "correct answers / answers with a verdict from POST /v1/feedback. Per version: accepted "
    "accuracy = of the answers it served, accuracy = of its own labels, escalated ones included. "
    "The window is since <= created_at < until; days are UTC dates."
)


def load_config(config: Optional[Path]):
    from rightmodel.constellation.config import Constellation, load_constellation

    return load_constellation(config) if config is not None else Constellation()


def resolve_ledger_url(home: Optional[Path], ledger_url: Optional[str], config: Optional[Path], constellation=None) -> str:
    """The URL `rightmodel serve` would write the ledger to, given the same options."""
    from rightmodel.constellation.settings import GatewaySettings, ledger_url_of

    if constellation is None:
        constellation = load_config(config)
    settings = GatewaySettings.from_constellation(constellation, home=home, ledger_url=ledger_url)
    return ledger_url_of(settings)


def promised_targets(home: Optional[Path], constellation) -> dict[str, float]:
    """Every registered version's calibrated target accuracy (from its card), from the registry
    the gateway serves from; {} when there is none here (a ledger read on another machine)."""
    from rightmodel.constellation.settings import GatewaySettings

    settings = GatewaySettings.from_constellation(constellation, home=home)
    if settings.registry_url is None and not (settings.home / "registry.db").is_file():
        return {}
    from rightmodel.evaluate.card import read_card
    from rightmodel.registry import Registry

    out: dict[str, float] = {}
    try:
        registry = Registry(settings.home, settings.registry_url)
    except Exception:  # an unreadable registry costs the target check, not the report
        return {}
    try:
        for version in registry.list():
            try:
                target = read_card(version.path).get("calibration", {}).get("target_accuracy")
            except Exception:  # a version whose files are gone from this machine
                continue
            if target is not None:
                out[version.ref] = float(target)
    finally:
        registry.close()
    return out


def open_ledger(url: str):
    """An engine on an existing ledger database (never creates an empty SQLite file)."""
    import sqlalchemy as sa

    from rightmodel.ledger.store import create_engine
    from rightmodel.sqlite_engine import safe_url

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"cannot use ledger URL {safe_url(url)!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"no ledger database at {path} (a gateway creates it when it starts; "
                f"point --home, --ledger-url or --config at the one it uses)"
            )
    return create_engine(url)


def add_report_command(app: typer.Typer) -> None:
    from rightmodel.report.aggregate import BY_CHOICES
    from rightmodel.report.render import FORMATS
    from rightmodel.report.timespec import HELP as TIME_HELP

    @app.command(help=HELP)
    def report(
        since: Optional[str] = typer.Option(None, "--since", help=f"Start of the window (inclusive): {TIME_HELP}. Default: the first row."),
        until: Optional[str] = typer.Option(None, "--until", help="End of the window (exclusive), same forms. Default: none (up to the newest row)."),
        by: str = typer.Option("task", "--by", help=f"Group rows by: {', '.join(BY_CHOICES)} (day = UTC date)."),
        fmt: str = typer.Option("table", "--format", help=f"Output: {', '.join(FORMATS)} (json and csv carry every field, rates as fractions 0-1; csv adds the per-version and drift sections)."),
        home: Optional[Path] = typer.Option(None, "--home", envvar="RIGHTMODEL_HOME", help="Directory holding ledger.db (default: storage.home of --config, else ./.rightmodel)."),
        ledger_url: Optional[str] = typer.Option(None, "--ledger-url", envvar="RIGHTMODEL_LEDGER_URL", help="Ledger database URL (default: storage.ledger_url of --config, else SQLite ledger.db in --home)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Constellation YAML: its storage (ledger), defaults.local_fixed_cost_per_month and drift bands."),
        fixed_cost: Optional[float] = typer.Option(None, "--fixed-cost-per-month", min=0.0, help="Fixed hardware cost per month, added pro rata (default: defaults.local_fixed_cost_per_month of --config, else 0)."),
        fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit with status 3 when a version is outside its drift band (for cron and CI)."),
    ) -> None:
        from rightmodel.report.aggregate import build_report
        from rightmodel.report.render import render_csv, render_json, render_table
        from rightmodel.report.timespec import parse_time

        if by not in BY_CHOICES:
            raise ConfigError(f"--by {by!r}: choose one of {', '.join(BY_CHOICES)}")
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        now = datetime.now(timezone.utc)
        start = parse_time(since, now, "--since") if since is not None else None
        end = parse_time(until, now, "--until") if until is not None else None
        from rightmodel.report.drift import drift_bands

        constellation = load_config(config)
        if fixed_cost is None:
            fixed_cost = constellation.defaults.local_fixed_cost_per_month
        engine = open_ledger(resolve_ledger_url(home, ledger_url, config, constellation))
        try:
            result = build_report(engine, by, start, end, now=now, fixed_cost_per_month=fixed_cost, bands=drift_bands(constellation),
                                  promised=promised_targets(home, constellation))
        finally:
            engine.dispose()
        if fmt == "json":
            sys.stdout.write(render_json(result))
        elif fmt == "csv":
            sys.stdout.write(render_csv(result))
        else:
            from rich.console import Console

            console = Console()
            if not console.is_terminal:
                from rightmodel.report.render import TABLE_WIDTH_NOT_A_TERMINAL

                console = Console(width=TABLE_WIDTH_NOT_A_TERMINAL)
            render_table(result, console)
        if fail_on_drift and result.drift:
            raise typer.Exit(3)
