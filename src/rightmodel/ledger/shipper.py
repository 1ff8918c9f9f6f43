"""The background thread that copies journal rows into the SQL database.

Order of operations per batch: read complete lines after the checkpoint → one INSERT ... ON
CONFLICT (request_id) DO NOTHING transaction → rewrite the checkpoint → delete segments now
wholly behind it. A crash anywhere in between re-ships rows the database may already have,
which the conflict clause turns into no-ops: at-least-once shipping, exactly-once rows.

Database errors never lose rows: the batch stays unacknowledged in the journal, the error is
logged, and the thread retries with exponential backoff (0.1 s doubling to ``retry_max_s``).
A row the database refuses for its content (a constraint or data error, not an outage) would
block the journal forever if retried, so it is isolated and appended to ``rejected.jsonl``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rightmodel.ledger import store
from rightmodel.ledger.journal import (
    REJECTED_NAME,
    JournalReader,
    JournalWriter,
    Position,
    delete_segments_before,
    write_checkpoint,
)

log = logging.getLogger("rightmodel.ledger")

BACKOFF_START_S = 0.1
IDLE_POLL_S = 1.0  # safety net: look at the journal at least this often even without a wake-up
ROW_ERRORS = (sa.exc.DataError, sa.exc.IntegrityError)  # the row's fault, not the database's


class Shipper:
    """Owns the journal reader and the checkpoint; runs in one daemon thread."""

    def __init__(
        self,
        engine: Engine,
        directory: Path,
        reader: JournalReader,
        writer: JournalWriter,
        wake: threading.Event,
        *,
        batch_size: int,
        retry_max_s: float,
        ship_interval: float,
        schema_ready: bool,
        db_up: bool | None,
        last_error: str | None,
    ) -> None:
        self._engine = engine
        self._dir = directory
        self._reader = reader
        self._writer = writer
        self._wake = wake  # set by record(): there is something new to ship
        self._nudge = threading.Event()  # set by flush()/close(): ship now, skip waits
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._batch_size = batch_size
        self._retry_max_s = retry_max_s
        self._ship_interval = ship_interval
        self._schema_ready = schema_ready
        self.position: Position = reader.position  # everything before it is in the database
        self.spill_shipped = 0
        self.shipped = 0  # rows committed (or found already there) by this process
        self.recovered = 0  # of which from segments an earlier process wrote
        self.own_done = 0  # rows of this process's own segments/spill fully dealt with
        self.rejected = 0
        self.skipped_lines = 0
        self.db_up = db_up
        self.last_error = last_error
        self._down_since: float | None = time.monotonic() if db_up is False else None
        self._exit_lock = threading.Lock()
        self._exited = False
        self._on_exit: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="rightmodel-ledger-shipper",
                                        daemon=True)

    # -- control (other threads) --------------------------------------------------------------

    def start(self) -> None:
        self._wake.set()  # first round right away: ship what an earlier run left behind
        self._thread.start()

    def wait_for(self, target: Position, spill_target: int, timeout: float) -> bool:
        """Block until the checkpoint reaches ``target`` and the spill count ``spill_target``."""
        deadline = time.monotonic() + timeout
        self._nudge.set()  # once: a flush during an outage must not turn backoff into a spin
        self._wake.set()
        with self._progress:
            while not self.reached(target, spill_target):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return self.reached(target, spill_target)
                self._progress.wait(remaining)
        return True

    def reached(self, target: Position, spill_target: int) -> bool:
        return self.position >= target and self.spill_shipped >= spill_target

    def stop(self, timeout: float) -> bool:
        """Ask the thread to stop and wait; False if it is still inside a database call."""
        self._stop.set()
        self._nudge.set()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def when_exited(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now if the thread has exited, else as its last act."""
        with self._exit_lock:
            if not self._exited:
                self._on_exit = callback
                return
        callback()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                if failures:
                    delay = min(self._retry_max_s, BACKOFF_START_S * 2 ** (failures - 1))
                    self._nudge.wait(delay)
                else:
                    self._wake.wait(IDLE_POLL_S)
                    if not self._nudge.is_set() and self._ship_interval > 0:
                        self._nudge.wait(self._ship_interval)  # let a batch gather
                # Cleared before reading the journal, so a line appended after this point
                # sets the event again and is picked up by the next round.
                self._wake.clear()
                self._nudge.clear()
                if self._stop.is_set():
                    break
                try:
                    self._ship_until_caught_up()
                except Exception as exc:  # noqa: BLE001 - never let the thread die; retry
                    failures += 1
                    self._failed(exc, failures)
                    continue
                if failures or self.db_up is not True:
                    self._recovered()
                failures = 0
        finally:
            self._reader.close()
            with self._exit_lock:
                self._exited = True
                callback = self._on_exit
            with self._progress:
                self._progress.notify_all()
            if callback is not None:
                callback()

    def _failed(self, exc: Exception, failures: int) -> None:
        self._schema_ready = False  # the database may have been replaced: check before retrying
        cause = getattr(exc, "orig", None) or exc
        self.last_error = f"{type(cause).__name__}: {cause}"[:500]
        if isinstance(exc, sa.exc.SQLAlchemyError):
            if self.db_up is not False:
                self._down_since = time.monotonic()
            self.db_up = False
        delay = min(self._retry_max_s, BACKOFF_START_S * 2 ** (failures - 1))
        log.warning("ledger: shipping to %s failed (attempt %d: %s); rows wait in the journal, "
                    "retrying in %.1f s", store.safe_url(self._engine.url), failures,
                    self.last_error, delay)
        with self._progress:
            self._progress.notify_all()  # let a flush() waiting on a dead database re-check

    def _recovered(self) -> None:
        if self.db_up is False and self._down_since is not None:
            log.warning("ledger: database reachable again after %.1f s; shipping resumed",
                        time.monotonic() - self._down_since)
        self.db_up = True
        self.last_error = None
        self._down_since = None

    def _ship_until_caught_up(self) -> None:
        if not self._schema_ready:  # also how an outage's end is noticed, even with no rows
            store.migrate(self._engine)
            self._schema_ready = True
        while not self._stop.is_set():
            batch = self._reader.read(self._batch_size, self._writer.seq)
            start = self._reader.position
            if batch.end == start and not batch.rows:
                break
            rejected = self._store(batch.rows)
            write_checkpoint(self._dir, batch.end)
            self._reader.advance(batch.end)
            if batch.end[0] != start[0]:
                delete_segments_before(self._dir, batch.end[0])
            done = len(batch.rows) + batch.skipped
            if start[0] >= self._writer.first_seq:
                self.own_done += done
            else:
                self.recovered += len(batch.rows) - rejected
            self.skipped_lines += batch.skipped
            with self._progress:
                self.position = batch.end
                self._progress.notify_all()
            if batch.caught_up:
                break
        self._ship_spill()

    def _ship_spill(self) -> None:
        lines = self._writer.take_spill()
        if not lines:
            return
        rows = []
        for line in lines:
            try:
                rows.append(orjson.loads(line))
            except ValueError:  # cannot happen for lines we encoded; count it as skipped
                self.skipped_lines += 1
        self._store(rows)
        self._writer.release_spill(len(lines))
        self.own_done += len(lines)
        with self._progress:
            self.spill_shipped += len(lines)
            self._progress.notify_all()

    # -- database -----------------------------------------------------------------------------

    def _store(self, data: list[dict[str, Any]]) -> int:
        """Insert the rows (raising on outages); returns how many were quarantined instead."""
        good: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        bad: list[tuple[dict[str, Any], str]] = []
        for item in data:
            try:
                good.append(store.to_row(item))
                sources.append(item)
            except (ValueError, TypeError, KeyError) as exc:
                bad.append((item, f"invalid record: {exc}"))
        refused: list[tuple[dict[str, Any], str]] = []
        if good:
            try:
                store.insert_rows(self._engine, good)
            except ROW_ERRORS:
                refused = self._insert_one_by_one(good, sources)
        if bad or refused:
            self._quarantine(bad + refused)
        self.shipped += len(good) - len(refused)
        return len(bad) + len(refused)

    def _insert_one_by_one(
        self, rows: list[dict[str, Any]], sources: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], str]]:
        """After a batch failed for its content: find the rows at fault, keep the rest."""
        bad = []
        for row, source in zip(rows, sources):
            try:
                store.insert_rows(self._engine, [row])
            except ROW_ERRORS as exc:
                cause = getattr(exc, "orig", None) or exc
                bad.append((source, f"refused by the database: {type(cause).__name__}: {cause}"))
        return bad

    def _quarantine(self, bad: list[tuple[dict[str, Any], str]]) -> None:
        """Append refused rows to rejected.jsonl (fsynced) before the checkpoint moves on."""
        now = datetime.now(timezone.utc).isoformat()
        payload = b"".join(
            orjson.dumps({"rejected_at": now, "error": why[:1000], "record": item},
                         option=orjson.OPT_APPEND_NEWLINE, default=str)
            for item, why in bad
        )
        with open(self._dir / REJECTED_NAME, "ab") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        self.rejected += len(bad)
        for item, why in bad[:5]:
            log.error("ledger: row %s cannot be stored (%s); kept in %s",
                      item.get("request_id"), why[:300], self._dir / REJECTED_NAME)
