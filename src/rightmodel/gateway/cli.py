"""`rightmodel serve` and `rightmodel config check|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def add_gateway_commands(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Validate and inspect constellation files.", no_args_is_help=True)

    @config_app.command("check")
    def check(file: Path = typer.Argument(..., help="Constellation YAML file.")) -> None:
        """Validate a constellation file; every error is printed with its key path."""
        from rightmodel.constellation.config import load_constellation, missing_secrets

        c = load_constellation(file)
        console = Console()
        for warning in missing_secrets(c):
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        console.print(
            f"[green]ok[/] {file}: {len(c.specialists())} specialist(s), {len(c.remote_models())} remote model(s), "
            f"{len(c.tasks)} task(s)",
            highlight=False,
        )

    @config_app.command("show")
    def show(file: Path = typer.Argument(..., help="Constellation YAML file.")) -> None:
        """Print the validated file with defaults filled in (keys are never in it: only env var names)."""
        import yaml

        from rightmodel.constellation.config import load_constellation

        typer.echo(yaml.safe_dump(load_constellation(file).to_public_dict(), sort_keys=False))

    app.add_typer(config_app, name="config")

    @app.command()
    def serve(
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Constellation YAML (default: every production specialist in --home, by task name)."),
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port", min=0, max=65535),
        home: Optional[Path] = typer.Option(None, "--home", envvar="RIGHTMODEL_HOME", help="Registry directory (default: storage.home of the file, else ./.rightmodel)."),
        db_url: Optional[str] = typer.Option(None, "--db-url", envvar="RIGHTMODEL_DATABASE_URL", help="Registry index URL."),
        ledger_url: Optional[str] = typer.Option(None, "--ledger-url", envvar="RIGHTMODEL_LEDGER_URL", help="Ledger database URL (default: SQLite in --home)."),
        keys_url: Optional[str] = typer.Option(None, "--keys-url", envvar="RIGHTMODEL_KEYS_URL", help="API key store URL (default: storage.keys_url, else SQLite keys.db in --home)."),
        journal_dir: Optional[Path] = typer.Option(None, "--journal-dir", help="Ledger journal directory (default: --home/ledger-journal)."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="ONNX Runtime threads per specialist (default: all cores)."),
        log_level: str = typer.Option("warning", "--log-level"),
    ) -> None:
        """Serve the OpenAI-compatible gateway (chat completions, embeddings, classify, models)."""
        import logging
        import signal

        from rightmodel.constellation.config import load_constellation
        from rightmodel.constellation.settings import GatewaySettings
        from rightmodel.gateway.app import create_app
        from rightmodel.gateway.server import GatewayServer, server_config
        from rightmodel.gateway.state import default_constellation, preflight

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if config is not None:
            constellation = load_constellation(config)
        else:
            constellation = default_constellation(home or Path(".rightmodel"), db_url)
        if keys_url:
            constellation = constellation.model_copy(update={"storage": constellation.storage.model_copy(update={"keys_url": keys_url})})
        settings = GatewaySettings.from_constellation(
            constellation, home=home, registry_url=db_url, ledger_url=ledger_url, journal_dir=journal_dir, inference_threads=threads
        )
        preflight(constellation, settings)
        app = create_app(constellation, settings)
        names = ", ".join([*constellation.tasks, *constellation.remote_models()]) or "nothing (no production specialists, no models)"
        typer.echo(f"rightmodel gateway on http://{host}:{port}/v1 serving: {names}", err=True)
        # uvicorn drains and shuts down on SIGINT/SIGTERM, then re-raises the signal with the handler
        # it found: make that a no-op so a graceful stop exits 0 (the CLI's default turns it into 130).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        # Connection limits (header bytes, idle, slow headers and bodies) and a stop bounded by
        # drain_s even when abandoned work is still running: gateway/server.py.
        defaults = constellation.defaults
        server = GatewayServer(server_config(app, host=host, port=port, log_level=log_level, defaults=defaults), defaults.drain_s)
        server.run()
        if getattr(server, "started", False) is False:
            raise typer.Exit(1)
