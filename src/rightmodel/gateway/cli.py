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
        journal_dir: Optional[Path] = typer.Option(None, "--journal-dir", help="Ledger journal directory (default: --home/ledger-journal; with --workers, one subdirectory per worker)."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="ONNX Runtime threads per specialist (default: all cores, divided among --workers)."),
        workers: int = typer.Option(1, "--workers", min=1, help="Gateway processes sharing the port, rate limits and budgets (default 1)."),
        limits_url: Optional[str] = typer.Option(None, "--limits-url", envvar="RIGHTMODEL_LIMITS_URL",
                                                 help="Shared rate limits and budgets (default with --workers: SQLite limits.db in --home; PostgreSQL for several machines)."),
        ray: bool = typer.Option(False, "--ray", help="Deploy on Ray Serve: an ingress deployment (this gateway) and one deployment per specialist (needs rightmodel[ray]; docs/scale.md)."),
        address: Optional[str] = typer.Option(None, "--address", help="With --ray: an existing Ray cluster (host:port); default: ray.address of the file, else a new cluster on loopback."),
        log_level: str = typer.Option("warning", "--log-level"),
    ) -> None:
        """Serve the OpenAI-compatible gateway (chat completions, embeddings, classify, models)."""
        from rightmodel.gateway.launch import ServeOptions, run

        options = ServeOptions(
            config=str(config) if config else None, host=host, port=port, home=str(home) if home else None, db_url=db_url,
            ledger_url=ledger_url, keys_url=keys_url, limits_url=limits_url, journal_dir=str(journal_dir) if journal_dir else None,
            threads=threads, log_level=log_level, workers=workers, ray=ray, ray_address=address,
        )
        if address and not ray:
            raise typer.BadParameter("--address is for --ray (a Ray cluster to deploy on)", param_hint="--address")
        if ray:
            if workers > 1:
                raise typer.BadParameter("--workers and --ray do not mix: under Ray, replicas come from the constellation (ray.ingress.replicas)", param_hint="--workers")
            import logging

            from rightmodel.gateway.ray_launch import serve_on_ray

            logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            raise typer.Exit(serve_on_ray(options, echo=lambda line: typer.echo(line, err=True)))
        if workers > 1:
            import logging

            from rightmodel.gateway.supervisor import supervise

            logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            code = supervise(options)
            # Everything durable is the workers' and they are gone: end now rather than spend a
            # second in interpreter teardown (measured: 1.2 s of the stop bounded by drain_s + 2 s).
            from rightmodel.gateway.server import _hard_exit

            _hard_exit(code)
        if not run(options):
            raise typer.Exit(1)
