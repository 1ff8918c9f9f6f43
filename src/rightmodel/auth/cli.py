"""`rightmodel keys create|list|revoke`: manage the gateway's API keys; `list` shows each key's
budget and what it spent (from the ledger).

The store is found like the gateway finds it: `--keys-url` (or $RIGHTMODEL_KEYS_URL), else
`storage.keys_url` of `--config`, else SQLite `keys.db` in `--home` (or the file's
`storage.home`). Running gateways pick changes up within `auth.refresh_s` (2 s by default).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from rightmodel.errors import ConfigError


def _store(home: Optional[Path], keys_url: Optional[str], config: Optional[Path]):
    from rightmodel.auth.store import KeyStore, resolve_keys_url

    configured = None
    if config is not None:
        from rightmodel.constellation.config import load_constellation

        c = load_constellation(config)
        configured = c.storage.keys_url
        home = home or Path(c.storage.home)
    store = KeyStore(resolve_keys_url(home or Path(".rightmodel"), configured, keys_url))
    store.migrate()
    return store


def _ledger_url(home: Optional[Path], ledger_url: Optional[str], config: Optional[Path]) -> str:
    """The ledger `rightmodel serve` writes with the same options (`--ledger-url`, else the
    file's storage.ledger_url, else SQLite ledger.db in the home)."""
    from rightmodel.constellation.config import Constellation, load_constellation
    from rightmodel.constellation.settings import GatewaySettings, ledger_url_of

    c = load_constellation(config) if config is not None else Constellation()
    return ledger_url_of(GatewaySettings.from_constellation(c, home=home, ledger_url=ledger_url))


def spends(records: list, url: str) -> dict[str, tuple[float, Any]] | None:
    """key id -> (spent in USD, since when) for each key: over its budget's current period (what
    the gateway checks its budget against), all time for a key without a budget or a `total` one.
    None when there is no ledger yet (no gateway has written one at `url`)."""
    import sqlalchemy as sa

    from rightmodel.auth.keys import period_start
    from rightmodel.ledger import store

    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") and not Path(parsed.database).is_file():
        return None  # never create an empty ledger just to list keys
    now = datetime.now(timezone.utc)
    engine = store.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(store.requests.name):
            return None
        out = {}
        for r in records:
            since = period_start(r.budget_period, now) if r.budget_usd is not None else None
            out[r.key_id] = (store.key_spend(engine, r.tenant, r.key_id, since), since)
        return out
    finally:
        engine.dispose()


def usd(value: float) -> str:
    """Dollars as dollars: cents from one cent up, below that enough digits to show a small spend
    (a specialist's answers cost fractions of a cent), never exponent notation."""
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if abs(value) >= 0.01 else f"${value:.6f}".rstrip("0").rstrip(".")


def _csv(value: Optional[str]) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def add_keys_commands(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Create, list and revoke the gateway's API keys.", no_args_is_help=True)
    home_opt = typer.Option(None, "--home", envvar="RIGHTMODEL_HOME", help="Directory holding keys.db (default: storage.home of --config, else ./.rightmodel).")
    url_opt = typer.Option(None, "--keys-url", envvar="RIGHTMODEL_KEYS_URL", help="Key store database URL (default: SQLite keys.db in --home).")
    config_opt = typer.Option(None, "--config", "-c", help="Constellation YAML whose storage.keys_url / storage.home to use.")

    @keys_app.command("create")
    def create(
        tenant: Optional[str] = typer.Option(None, "--tenant", help="Who the key belongs to (recorded in the ledger). Required unless --admin."),
        name: Optional[str] = typer.Option(None, "--name", help="A label for people, e.g. 'billing service'."),
        models: Optional[str] = typer.Option(None, "--models", help="Comma-separated tasks/models it may use ('auto', 'embeddings' included); default: all."),
        rpm: Optional[int] = typer.Option(None, "--rpm", min=1, help="Requests per minute (per gateway process)."),
        tpm: Optional[int] = typer.Option(None, "--tpm", min=1, help="Tokens per minute (per gateway process)."),
        budget_usd: Optional[float] = typer.Option(None, "--budget-usd", min=0.0, help="Spending limit in USD."),
        budget_period: str = typer.Option("total", "--budget-period", help="total, monthly or daily (UTC)."),
        admin: bool = typer.Option(False, "--admin", help="An admin key: manages keys over /admin, cannot call models."),
        privacy: Optional[str] = typer.Option(None, "--privacy", help="local-only, redact or allow: privacy policy for this key's requests; the stricter of this and the task's policy applies."),
        as_json: bool = typer.Option(False, "--json", help="Print the key and its record as JSON."),
        home: Optional[Path] = home_opt,
        keys_url: Optional[str] = url_opt,
        config: Optional[Path] = config_opt,
    ) -> None:
        """Make a key and print it. The secret is shown this once: only its hash is stored."""
        from pydantic import ValidationError

        from rightmodel.auth.keys import KeySpec

        if tenant is None and not admin:
            raise ConfigError("--tenant is required (who the key belongs to)")
        try:
            spec = KeySpec(
                tenant=tenant or "admin", name=name, models=_csv(models), rpm=rpm, tpm=tpm,
                budget_usd=budget_usd, budget_period=budget_period, admin=admin,
                privacy=privacy,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None
        with _store(home, keys_url, config) as store:
            record, key = store.create(spec)
        if as_json:
            typer.echo(json.dumps({**record.public(), "key": key}))
            return
        typer.echo(key)
        Console(stderr=True).print(
            f"created key [bold]{record.key_id}[/] for tenant {record.tenant!r}"
            f"{' (admin)' if record.admin else ''}; the line above is the only time the key is shown",
            highlight=False,
        )

    @keys_app.command("list")
    def list_keys(
        show_all: bool = typer.Option(False, "--all", help="Include revoked keys."),
        as_json: bool = typer.Option(False, "--json", help="JSON lines, one per key."),
        home: Optional[Path] = home_opt,
        keys_url: Optional[str] = url_opt,
        ledger_url: Optional[str] = typer.Option(
            None, "--ledger-url", envvar="RIGHTMODEL_LEDGER_URL",
            help="Ledger database URL, for each key's spend (default: storage.ledger_url of --config, else SQLite ledger.db in --home).",
        ),
        config: Optional[Path] = config_opt,
    ) -> None:
        """List keys (ids, tenants, limits, budget and spend; never secrets or hashes).

        Spend is summed from the ledger: over the budget's current period (UTC month or day) for a
        key with a monthly or daily budget, all time otherwise."""
        with _store(home, keys_url, config) as store:
            records = store.list(include_revoked=show_all)
        spent = spends(records, _ledger_url(home, ledger_url, config))
        if as_json:
            for r in records:
                row: dict[str, Any] = r.public()
                value, since = spent.get(r.key_id, (None, None)) if spent is not None else (None, None)
                row["spent_usd"] = None if value is None else round(value, 10)
                row["spent_since"] = since.isoformat() if since is not None else None
                row["budget_left_usd"] = None if value is None or r.budget_usd is None else round(r.budget_usd - value, 10)
                typer.echo(json.dumps(row))
            return
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("id", no_wrap=True, min_width=12)  # what `keys revoke` takes: never cut
        for column in ("tenant", "name", "models", "rpm", "tpm", "budget", "spent", "left", "privacy", "admin", "created", "revoked"):
            table.add_column(column, overflow="fold")
        for r in records:
            budget = "" if r.budget_usd is None else f"{usd(r.budget_usd)} {r.budget_period}"
            value = spent[r.key_id][0] if spent is not None else None
            left = "" if value is None or r.budget_usd is None else usd(r.budget_usd - value)
            table.add_row(
                r.key_id, r.tenant, r.name or "", ",".join(r.models) or "(all)", str(r.rpm or ""), str(r.tpm or ""), budget,
                "(no ledger)" if value is None else usd(value), left, r.privacy or "",
                "yes" if r.admin else "", f"{r.created_at:%Y-%m-%d}", f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
            )
        console = Console()
        (console if console.is_terminal else Console(width=160)).print(table)  # piped: don't fold at 80 columns

    @keys_app.command("revoke")
    def revoke(
        key_id: str = typer.Argument(..., help="The key's id (from `keys list`, or the part after 'rm-' in the key)."),
        home: Optional[Path] = home_opt,
        keys_url: Optional[str] = url_opt,
        config: Optional[Path] = config_opt,
    ) -> None:
        """Revoke a key; running gateways refuse it within auth.refresh_s."""
        if key_id.startswith("rm-") and key_id.count("-") >= 2:  # the whole key was pasted: use its id part
            key_id = key_id.split("-", 2)[1]
        with _store(home, keys_url, config) as store:
            record = store.revoke(key_id)
        typer.echo(f"revoked key {record.key_id} (tenant {record.tenant!r}) at {record.revoked_at.isoformat()}")

    app.add_typer(keys_app, name="keys")
