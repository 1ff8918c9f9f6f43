"""Journal slots for gateway replicas whose names the gateway does not choose (Ray Serve).

Under `serve --workers N` the supervisor gives worker K the journal directory `worker-K` and
restarts a dead worker on it, so the successor ships what the dead one left. Ray Serve restarts a
dead replica under a new random id, so an ingress replica picks its index itself: the lowest K
whose slot lock (`<journal root>/slots/K`, an flock that dies with its process) it can take. A
replica killed with SIGKILL frees its slot; the replica Ray starts in its place takes it, ships the
journal rows left there before serving (the ledger does that at start), and expires the
reservations the dead one held in the shared limits store (its name is kept in the slot).
Journals of slots nobody takes again (fewer replicas after a scale-down) are shipped by the next
replica that starts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightmodel.errors import ConfigError

log = logging.getLogger("rightmodel.cluster")

SLOTS_DIR = "slots"
INSTANCE_FILE = "instance"
MAX_SLOTS = 256


@dataclass
class Slot:
    index: int
    previous_instance: str | None  # the last holder's name in the limits store, if it left one
    lock: Any  # held for the life of the process

    def record(self, instance: str) -> None:
        """Leave this holder's name for whoever takes the slot after it."""
        (self.lock.path.parent / INSTANCE_FILE).write_text(instance)


def claim_slot(root: Path) -> Slot:
    """Take the lowest free slot under the journal root `root` (ConfigError if all are taken)."""
    from rightmodel.ledger.journal import DirLock

    for index in range(MAX_SLOTS):
        directory = root / SLOTS_DIR / str(index)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            lock = DirLock(directory)
        except ConfigError:
            continue
        previous = directory / INSTANCE_FILE
        return Slot(index, (previous.read_text().strip() or None) if previous.exists() else None, lock)
    raise ConfigError(f"all {MAX_SLOTS} gateway journal slots under {root / SLOTS_DIR} are in use")


def ship_orphans(root: Path, ledger_url: str, mine: int) -> int:
    """Ship the journals of slots no live process holds (their rows reach the ledger once: inserts
    are idempotent by request id). Returns how many directories were shipped."""
    from rightmodel.gateway.launch import WORKER_DIR, journal_backlog
    from rightmodel.ledger import Ledger
    from rightmodel.ledger.journal import DirLock

    shipped = 0
    if not root.is_dir():
        return 0
    for path in sorted(root.iterdir()):
        m = re.fullmatch(WORKER_DIR.format(r"(\d+)"), path.name)
        if m is None or int(m.group(1)) == mine or not path.is_dir() or not journal_backlog(path):
            continue
        slot_dir = root / SLOTS_DIR / m.group(1)
        slot_dir.mkdir(parents=True, exist_ok=True)
        try:
            slot_lock = DirLock(slot_dir)  # a live replica holds it: its own ledger ships these rows
        except ConfigError:
            continue
        try:
            ledger = Ledger(ledger_url, path)
            try:
                ledger.start()
            except ConfigError:  # a process outside the slots (a `--workers` worker) holds it
                continue
            try:
                if ledger.flush(10):
                    shipped += 1
                else:
                    log.warning("ledger: rows of %s are not all shipped yet; they stay there", path)
            finally:
                ledger.close()
        finally:
            slot_lock.release()
    return shipped
