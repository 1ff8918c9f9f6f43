"""The request ledger: one SQL row per gateway request, written off the hot path but durably.

``Ledger.record()`` serialises the row and appends it, with one ``os.write``, to a local
append-only journal file (``journal_dir/journal-<seq>.jsonl``); it never touches the database.
A shipper thread copies journal rows into SQL (SQLite or PostgreSQL, table ``ledger_requests``)
in batches with ``INSERT ... ON CONFLICT (request_id) DO NOTHING``, then advances a checkpoint
file (``checkpoint.json``, replaced atomically). A separate thread fsyncs the journal every
``fsync_interval`` seconds (separate so a slow database call cannot delay it). Rows normally
reach the database about ``ship_interval`` (50 ms) after ``record()``.

Guarantee, for every row whose ``record()`` call has returned:

- **Process killed** (SIGKILL, OOM kill, crash): the row is not lost. Its line reached the
  kernel before ``record()`` returned and the page cache outlives the process; the next
  ``start()`` on the same ``journal_dir`` ships everything after the checkpoint.
- **Database down** (SQLite locked or its directory gone; PostgreSQL stopped or unreachable)
  for any length of time, including across restarts: the row waits in the journal while the
  shipper retries with capped exponential backoff (0.1 s doubling to ``retry_max_s``). Zero
  rows lost, zero duplicated: a row re-shipped after a crash between commit and checkpoint
  hits its primary key and is skipped.
- **Machine crash / power loss**: the rows recorded in the last ``fsync_interval`` seconds
  (default 0.2 s; plus the time one fsync takes) may be lost; everything older was fsynced.
  A line torn by the crash is skipped with a warning.

Rows are keyed by ``request_id``: two records with the same id keep the first.

Limits. SQLite must be on a local file system; the ledger sets ``synchronous=FULL`` on it, so
a commit (after which journal segments may be deleted) is itself durable. On PostgreSQL commit
durability is the server's (``synchronous_commit``). If the journal itself cannot be written
(disk full, I/O error) rows are held in memory (up to 100,000) and shipped from there: safe
against a database outage, not against a crash (``stats()["in_memory"]``, ``journal_errors``).
A deleted SQLite file is recreated (empty) at the next attempt and later rows go there; the
ledger never keeps committing into a file that was deleted or replaced under it.
A row the database refuses for its content (a constraint, a bad type) is appended to
``journal_dir/rejected.jsonl`` instead of blocking the rows behind it. Each process needs a
``journal_dir`` of its own (it is locked; a second user gets ``ConfigError``).
"""

from rightmodel.ledger.ledger import Ledger
from rightmodel.ledger.record import LedgerRecord, make_request_id

__all__ = ["Ledger", "LedgerRecord", "make_request_id"]
