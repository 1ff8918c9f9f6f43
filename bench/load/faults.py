"""The fault schedule of bench/load.py: what goes wrong, when, and the driver that makes it happen.

Faults are injected at the upstream (tests/upstream_server.py `/_control`), except the ledger
outage: another SQLite connection holding `BEGIN EXCLUSIVE` on the ledger's file.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Fault:
    """One thing that goes wrong: at `at` (fraction of the run), for `seconds` or `count` calls."""

    name: str
    at: float
    how: str
    upstream_fault: str | None = None  # tests/upstream_server.py fault name
    seconds: float | None = None  # a window: every upstream call in it gets the fault
    count: int | None = None  # or: the next `count` upstream calls
    ledger_outage: bool = False
    started_at: float | None = None
    ended_at: float | None = None

    def record(self, t0: float) -> dict[str, Any]:
        return {
            "name": self.name, "how": self.how, "at_fraction": self.at, "upstream_fault": self.upstream_fault,
            "seconds": self.seconds, "count": self.count, "ledger_outage": self.ledger_outage,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "started_at_s": round(self.started_at - t0, 1) if self.started_at else None,
            "ended_at_s": round(self.ended_at - t0, 1) if self.ended_at else None,
        }


def schedule(outage_s: float, concurrency: int) -> list[Fault]:
    return [
        Fault("429 burst", 0.08, "every upstream call answers 429 (Retry-After: 1) for 2 s", "429", seconds=2),
        Fault("5xx storm", 0.17, "every upstream call answers 500 for 3 s", "500", seconds=3),
        Fault("stalls", 0.27, f"the next {2 * concurrency} upstream calls never answer (the model's timeout_s ends them)", "stall",
              count=2 * concurrency),
        Fault("dropped connections", 0.35, "every upstream call has its connection closed without a response for 2 s", "drop", seconds=2),
        Fault("ledger DB outage", 0.42, f"another connection holds BEGIN EXCLUSIVE on the ledger's SQLite file for {outage_s:g} s",
              ledger_outage=True, seconds=outage_s),
        Fault("slow streams", 0.62, "50 ms between the upstream's stream events for 5 s", "slow-stream:50", seconds=5),
        Fault("cut streams", 0.70, "the next 200 upstream calls stop after 2 content chunks and close (streams: in-band error; "
              "non-streamed: a truncated body)", "cut-stream", count=200),
        Fault("slow upstream", 0.78, "the upstream waits 300 ms before every answer for 3 s", "slow:300", seconds=3),
    ]


class FaultDriver:
    """Begins and ends each fault of one phase at its time."""

    def __init__(self, faults: list[Fault], upstream_url: str, ledger_db: Path, duration: float,
                 http_json: Callable[..., tuple[int, Any]], problems: list[str], log: Callable[[str], None]) -> None:
        self.faults = faults
        self.upstream_url = upstream_url
        self.ledger_db = ledger_db
        self.duration = duration
        self.http_json = http_json
        self.problems = problems
        self.log = log
        self.db_lock: sqlite3.Connection | None = None

    def set_fault(self, fault: str | None, count: int = -1) -> None:
        s, _ = self.http_json("POST", self.upstream_url + "/_control", {"fault": fault, "count": count if fault else 0})
        if s != 200:
            self.problems.append(f"could not set upstream fault {fault!r} (HTTP {s})")

    def begin(self, f: Fault) -> None:
        f.started_at = time.time()
        if f.ledger_outage:
            self.db_lock = sqlite3.connect(self.ledger_db, timeout=10, isolation_level=None)
            self.db_lock.execute("BEGIN EXCLUSIVE")
        else:
            self.set_fault(f.upstream_fault, f.count if f.count is not None else -1)
        self.log(f"fault: {f.name} ({f.how})")

    def end(self, f: Fault) -> None:
        if f.ledger_outage:
            self.release()
        elif f.seconds is not None:
            self.set_fault(None)
        f.ended_at = time.time()
        self.log(f"fault over: {f.name}")

    def run(self, t0: float, loadgen: subprocess.Popen, on_early_exit: Callable[[], Exception]) -> None:
        """Begin and end every fault at its time; count faults end when the next one begins."""
        actions: list[tuple[float, Callable[[], None]]] = []
        for i, f in enumerate(self.faults):
            start = t0 + f.at * self.duration
            actions.append((start, lambda f=f: self.begin(f)))
            if f.seconds is not None:
                actions.append((start + f.seconds, lambda f=f: self.end(f)))
            else:  # a count fault: cleared (if not used up) just before the next fault
                nxt = t0 + (self.faults[i + 1].at if i + 1 < len(self.faults) else 0.9) * self.duration
                actions.append((nxt - 0.01, lambda f=f: (self.set_fault(None), setattr(f, "ended_at", time.time()))))
        for at, action in sorted(actions, key=lambda x: x[0]):
            while time.time() < at:
                if loadgen.poll() is not None:
                    raise on_early_exit()
                time.sleep(min(0.05, max(0.0, at - time.time())))
            action()

    def release(self) -> None:
        """Give the ledger's database back (also on failure)."""
        if self.db_lock is not None:
            try:
                self.db_lock.execute("ROLLBACK")
                self.db_lock.close()
            except sqlite3.Error:
                pass
            self.db_lock = None
