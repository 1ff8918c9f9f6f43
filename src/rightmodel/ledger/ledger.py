"""The ``Ledger`` facade: journal on the hot path, SQL in the background (see the package doc)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rightmodel.errors import ConfigError
from rightmodel.ledger import store
from rightmodel.ledger.journal import (
    DEFAULT_SEGMENT_BYTES,
    DirLock,
    JournalReader,
    JournalWriter,
    Syncer,
    list_segments,
    pending_bytes,
    read_checkpoint,
)
from rightmodel.ledger.record import LedgerRecord, encode
from rightmodel.ledger.shipper import Shipper

log = logging.getLogger("rightmodel.ledger")

STOP_GRACE_S = 2.0


class Ledger:
    """One row per gateway request: journaled synchronously, shipped to SQL asynchronously.

    ``journal_dir`` belongs to one process at a time (enforced with a lock). ``ship_interval``
    is how long the shipper lets rows gather after a wake-up before one INSERT (batching keeps
    its CPU share small at thousands of requests per second); ``segment_bytes`` is the size at
    which the journal moves to a new file, so shipped files can be deleted; ``stamp`` is merged
    into every row's ``extra`` (``serve --workers`` stamps each row with the worker that wrote it).
    """

    def __init__(
        self,
        database_url: str,
        journal_dir: str | Path,
        *,
        fsync_interval: float = 0.2,
        batch_size: int = 500,
        retry_max_s: float = 30.0,
        ship_interval: float = 0.05,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        stamp: dict[str, Any] | None = None,
    ) -> None:
        if fsync_interval <= 0:
            raise ConfigError(f"fsync_interval must be > 0 seconds, not {fsync_interval}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, not {batch_size}")
        if retry_max_s <= 0:
            raise ConfigError(f"retry_max_s must be > 0 seconds, not {retry_max_s}")
        if ship_interval < 0:
            raise ConfigError(f"ship_interval must be >= 0 seconds, not {ship_interval}")
        if segment_bytes < 1:
            raise ConfigError(f"segment_bytes must be >= 1, not {segment_bytes}")
        self.database_url = database_url
        self.journal_dir = Path(journal_dir).expanduser().absolute()
        self._fsync_interval = fsync_interval
        self._batch_size = batch_size
        self._retry_max_s = retry_max_s
        self._ship_interval = ship_interval
        self._segment_bytes = segment_bytes
        self._stamp = dict(stamp) if stamp else None  # added to every row's extra (e.g. which worker wrote it)
        self._engine = store.create_engine(database_url)  # lazy: no connection yet
        self._wake = threading.Event()
        self._dir_lock: DirLock | None = None
        self._writer: JournalWriter | None = None
        self._syncer: Syncer | None = None
        self._shipper: Shipper | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Lock the journal dir, migrate the schema, and start shipping (old rows first).

        The database being down does not stop the start: rows then wait in the journal, and
        the shipper creates the schema once the database answers. Only configuration problems
        (journal dir unusable or in use, bad URL) raise ``ConfigError``.
        """
        if self._writer is not None or self._closed:
            raise RuntimeError("Ledger.start() may be called once")
        try:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            self._dir_lock = DirLock(self.journal_dir)
        except OSError as exc:
            raise ConfigError(f"cannot use ledger journal directory {self.journal_dir}: "
                              f"{exc}") from None
        try:
            self._start_locked()
        except BaseException:
            self._dir_lock.release()
            self._dir_lock = None
            raise

    def _start_locked(self) -> None:
        directory = self.journal_dir
        checkpoint = read_checkpoint(directory)
        existing = list_segments(directory)
        first_own = max([0, *existing, checkpoint[0] if checkpoint else 0]) + 1
        if checkpoint is not None:
            start = checkpoint
        else:
            start = (existing[0], 0) if existing else (first_own, 0)
        backlog = pending_bytes(directory, start)
        if backlog:
            log.info("ledger: %d journal bytes from an earlier run not yet acknowledged by the "
                     "database; shipping them first", backlog)
        schema_ready, db_up, last_error = False, False, None
        try:
            store.migrate(self._engine)
            schema_ready = db_up = True
        except sa.exc.SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            last_error = f"{type(cause).__name__}: {cause}"[:500]
            log.warning("ledger: database %s unavailable at start (%s); rows will wait in the "
                        "journal %s", store.safe_url(self.database_url), last_error, directory)
        try:
            self._writer = JournalWriter(directory, first_own, self._segment_bytes)
        except OSError as exc:
            raise ConfigError(f"cannot write ledger journal in {directory}: {exc}") from None
        self._shipper = Shipper(
            self._engine, directory, JournalReader(directory, start), self._writer, self._wake,
            batch_size=self._batch_size, retry_max_s=self._retry_max_s,
            ship_interval=self._ship_interval, schema_ready=schema_ready, db_up=db_up,
            last_error=last_error,
        )
        self._syncer = Syncer(self._writer, self._fsync_interval)
        self._syncer.start()
        self._shipper.start()

    def __enter__(self) -> Ledger:
        """Starts the ledger unless ``start()`` was already called; ``close()`` on exit."""
        if self._writer is None:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- hot path -----------------------------------------------------------------------------

    def record(self, rec: LedgerRecord) -> None:
        """Journal one row; returns once its line is in the kernel (survives a process kill).

        Thread-safe, a few microseconds: one ``orjson.dumps`` and one ``os.write``. The
        database is never touched here, so database trouble cannot slow or fail a request.
        """
        writer = self._writer
        if writer is None:
            raise RuntimeError("Ledger.start() has not been called")
        if self._stamp is not None:
            rec.extra = {**self._stamp, **(rec.extra or {})}
        writer.append(encode(rec))
        if not self._wake.is_set():
            self._wake.set()

    # -- waiting and shutdown -----------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row recorded so far is in the database; False on timeout."""
        if self._writer is None or self._shipper is None:
            return True
        target, spilled = self._writer.position()
        if self._closed:
            return self._shipper.reached(target, spilled)
        return self._shipper.wait_for(target, spilled, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush (up to ``timeout``), fsync, stop the threads, release the journal dir.

        May take up to ``STOP_GRACE_S`` longer than ``timeout`` if a database call is in flight.

        Rows the database has not taken by then stay in the journal and are shipped by the
        next ``start()`` on this directory: closing with the database down loses nothing.
        """
        if self._closed:
            return
        deadline = time.monotonic() + timeout
        if self._writer is None or self._shipper is None or self._syncer is None:
            self._closed = True
            self._engine.dispose()
            return
        if not self.flush(timeout):
            log.warning("ledger: closing with %d rows not yet in the database; they stay in "
                        "%s for the next start", self.stats()["pending"], self.journal_dir)
        self._closed = True
        # A database call in flight is given STOP_GRACE_S to return (SQLite's busy timeout is
        # shorter), so a close with the database down normally ends with the thread stopped.
        stopped = self._shipper.stop(max(STOP_GRACE_S, deadline - time.monotonic()))
        self._syncer.stop()
        self._writer.close()  # final fsync; record() now raises
        lock, engine = self._dir_lock, self._engine

        def release() -> None:
            engine.dispose()
            if lock is not None:
                lock.release()

        if not stopped:
            log.warning("ledger: shipper still inside a database call at close; the journal "
                        "directory stays locked until it returns")
        self._shipper.when_exited(release)

    # -- reading ------------------------------------------------------------------------------

    @property
    def engine(self) -> sa.engine.Engine:
        """The ledger database, for readers (reports, the dashboard) and for feedback, which is
        written straight to SQL (ledger/feedback.py). Never for request rows: use record(). (One
        exception: a generative shadow's three verdict columns are filled in after its row was
        shipped: ledger/shadow_outcomes.py.)"""
        return self._engine

    def rows(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows in the database with ``since <= created_at < until``, oldest first.

        Only what has been shipped: call ``flush()`` first to include the latest records.
        Naive datetimes are taken as UTC; ``created_at`` comes back timezone-aware (UTC).
        """
        return store.fetch_rows(self._engine, since, until, limit)

    def stats(self) -> dict[str, Any]:
        """Counters for health checks: how much is recorded, shipped, waiting, and why."""
        writer, shipper = self._writer, self._shipper
        if writer is None or shipper is None:
            return {"recorded": 0, "shipped": 0, "recovered": 0, "pending": 0, "rejected": 0,
                    "skipped_lines": 0, "journal_errors": 0, "in_memory": 0, "dropped": 0,
                    "db_up": None, "last_error": None}
        return {
            "recorded": writer.recorded,
            "shipped": shipper.shipped,
            "recovered": shipper.recovered,
            "pending": max(0, writer.recorded - shipper.own_done - writer.dropped),
            "rejected": shipper.rejected,
            "skipped_lines": shipper.skipped_lines,
            "journal_errors": writer.journal_errors,
            "in_memory": len(writer.spill),
            "dropped": writer.dropped,
            "db_up": shipper.db_up,
            "last_error": shipper.last_error,
        }
