"""The settings a gateway process runs with beyond its constellation (paths, threads), and the
ledger URL they give. `rightmodel report` and `rightmodel router` read the same ledger the
gateway writes, so they resolve it here too, without the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightmodel.constellation.config import Constellation


@dataclass
class GatewaySettings:
    """Process-level settings that are not part of the constellation (paths, threads)."""

    home: Path
    registry_url: str | None = None
    ledger_url: str | None = None
    journal_dir: Path | None = None
    inference_threads: int | None = None
    load_embedder: bool | None = None  # None: only when a task recognises by examples
    limits_url: str | None = None  # shared rate limits and budgets (cluster/limits_store.py); None: in memory
    worker: int | None = None  # this process's index under `serve --workers N` (None: a lone gateway)
    instance: str | None = None  # this process's name in the shared limits store (the supervisor's choice)
    version_poll_s: float | None = 2.0  # how often the registry is asked which version each stage names; None: never

    @classmethod
    def from_constellation(cls, c: Constellation, home: Path | None = None, **overrides: Any) -> "GatewaySettings":
        root = Path(home or c.storage.home)
        return cls(
            home=root,
            registry_url=overrides.pop("registry_url", None) or c.storage.registry_url,
            ledger_url=overrides.pop("ledger_url", None) or c.storage.ledger_url,
            journal_dir=overrides.pop("journal_dir", None) or (Path(c.storage.journal_dir) if c.storage.journal_dir else None),
            **overrides,
        )


def ledger_url_of(settings: GatewaySettings) -> str:
    """The ledger a gateway with these settings writes (and `rightmodel report` reads)."""
    return settings.ledger_url or f"sqlite:///{(settings.home / 'ledger.db').resolve()}"
