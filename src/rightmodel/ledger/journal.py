"""The local append-only journal: segment files, the shipped-up-to checkpoint and the dir lock.

Layout of ``journal_dir``::

    .lock                       flock'ed by the one process that owns the directory
    journal-000000000042.jsonl  one JSON line per record; appended with O_APPEND
    checkpoint.json             {"segment": 42, "offset": 1234}: all before it is in the database
    rejected.jsonl              rows the database refused (kept, never silently dropped)

A process only ever appends to a segment it created itself: ``JournalWriter`` starts a fresh
segment on open and after any write error. So a line torn by a crash can only be the last line
of a segment nobody writes to any more, and ``JournalReader`` skips it with a warning.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rightmodel.errors import ConfigError

log = logging.getLogger("rightmodel.ledger")

SEGMENT_RE = re.compile(r"^journal-(\d{12})\.jsonl$")
CHECKPOINT_NAME = "checkpoint.json"
LOCK_NAME = ".lock"
REJECTED_NAME = "rejected.jsonl"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
# Rows kept in memory when the journal itself cannot be written (disk full, I/O error).
SPILL_MAX_ROWS = 100_000
REOPEN_RETRY_S = 1.0  # after a failed segment open, how long record() waits before trying again
READ_CHUNK = 256 * 1024
FILE_MODE = 0o640

Position = tuple[int, int]  # (segment number, byte offset)


def segment_name(seq: int) -> str:
    return f"journal-{seq:012d}.jsonl"


def list_segments(directory: Path) -> list[int]:
    """Segment numbers present in the directory, ascending."""
    seqs = []
    for name in os.listdir(directory):
        m = SEGMENT_RE.match(name)
        if m:
            seqs.append(int(m.group(1)))
    return sorted(seqs)


def fsync_dir(directory: Path) -> None:
    """Make created/renamed/deleted directory entries durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirLock:
    """Exclusive ownership of a journal directory (``flock``, so it dies with the process).

    Two writers would interleave segments and race on the checkpoint; a second ``Ledger`` on
    the same directory, in this process or another, gets a ``ConfigError`` instead.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(
                    f"ledger journal directory {directory} is in use by another ledger (lock "
                    f"{self.path} is held); every gateway process needs a journal_dir of its own"
                ) from None
            raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


# -- checkpoint -------------------------------------------------------------------------------


def read_checkpoint(directory: Path) -> Position | None:
    """The saved position, or None when there is none or it is unreadable (then re-ship all:
    inserts are idempotent, so starting too early only costs time)."""
    path = directory / CHECKPOINT_NAME
    try:
        data = orjson.loads(path.read_bytes())
        return int(data["segment"]), int(data["offset"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ledger checkpoint %s is unreadable (%s); re-shipping the whole journal "
                    "(duplicates are ignored by request_id)", path, exc)
        return None


def write_checkpoint(directory: Path, position: Position) -> None:
    """Atomically replace the checkpoint. Not fsynced: a checkpoint lost in a machine crash only
    means re-shipping rows the database already has, which the insert ignores."""
    path = directory / CHECKPOINT_NAME
    tmp = directory / (CHECKPOINT_NAME + ".tmp")
    tmp.write_bytes(orjson.dumps({"segment": position[0], "offset": position[1]}))
    os.replace(tmp, path)


# -- writer -----------------------------------------------------------------------------------


class JournalWriter:
    """Appends encoded records to the newest segment; called on the gateway's hot path.

    ``append`` is one ``os.write`` under a lock (plus, rarely, a segment rotation). It never
    fsyncs and never raises: if the journal cannot be written the line is kept in a bounded
    in-memory spill that the shipper sends to the database directly.
    """

    def __init__(self, directory: Path, first_seq: int, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.first_seq = first_seq  # segments >= this one were written by this process
        self._lock = threading.Lock()
        self.seq = first_seq  # segment being appended to (or to be created next if _fd is None)
        self.size = 0  # bytes appended to segment ``seq``
        self.written = 0  # total bytes appended by this writer (the syncer compares)
        self.recorded = 0
        self.journal_errors = 0
        self.dropped = 0
        self.spill: list[bytes] = []
        self.spill_added = 0
        self._sealed_fds: list[int] = []  # rotated-out descriptors, fsynced+closed by sync()
        self._fd: int | None = None
        self._retry_open_at = 0.0
        self._closed = False
        self._synced = 0  # value of ``written`` at the last fsync
        self._dir_synced_seq = -1  # newest segment whose directory entry was fsynced
        self._open_segment()
        if self._fd is None:
            raise ConfigError(f"cannot create a journal segment in {directory}")

    def _open_segment(self) -> None:
        """Open segment ``self.seq`` fresh (O_EXCL: never append after someone else's bytes)."""
        while True:
            path = self.directory / segment_name(self.seq)
            try:
                self._fd = os.open(
                    path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                    FILE_MODE,
                )
                self.size = 0
                return
            except FileExistsError:
                self.seq += 1
            except OSError as exc:
                self._fd = None
                self._retry_open_at = time.monotonic() + REOPEN_RETRY_S
                self.journal_errors += 1
                log.error("ledger journal: cannot create %s: %s; keeping rows in memory", path, exc)
                return

    def _seal(self) -> None:
        """Stop writing to the current segment; the next write goes to a new one."""
        if self._fd is not None:
            self._sealed_fds.append(self._fd)
            self._fd = None
        self.seq += 1
        self.size = 0

    def append(self, line: bytes) -> None:
        """Write one line durably-to-the-kernel before returning (see the module docstring)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            self.recorded += 1
            if self._fd is None and time.monotonic() >= self._retry_open_at:
                self._open_segment()
            if self._fd is not None:
                try:
                    self._write(line)
                    if self.size >= self.segment_bytes:
                        self._seal()
                        self._open_segment()
                    return
                except OSError as exc:
                    self._write_failed(exc)
                # One immediate retry in a fresh segment (a per-file size limit, say), unless
                # writes keep failing: then rows go to memory and a new segment is tried later.
                if time.monotonic() >= self._retry_open_at:
                    self._open_segment()
                    if self._fd is not None:
                        try:
                            self._write(line)
                            return
                        except OSError as exc:
                            self._write_failed(exc)
                    self._retry_open_at = time.monotonic() + REOPEN_RETRY_S
            self._keep_in_memory(line)

    def _write_failed(self, exc: OSError) -> None:
        """Seal the segment, which may now end in a torn line (the reader skips it)."""
        self.journal_errors += 1
        if self.journal_errors <= 3 or self.journal_errors % 100 == 0:
            log.error("ledger journal write to segment %d failed (%s, %d failures so far); "
                      "starting a new segment", self.seq, exc, self.journal_errors)
        self._seal()

    def _write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            n = os.write(self._fd, view)  # type: ignore[arg-type]  # checked by the caller
            view = view[n:]
            self.size += n
            self.written += n

    def _keep_in_memory(self, line: bytes) -> None:
        if len(self.spill) < SPILL_MAX_ROWS:
            self.spill.append(line)
            self.spill_added += 1
        else:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("ledger: journal unwritable and %d rows already held in memory; "
                          "%d rows dropped so far", SPILL_MAX_ROWS, self.dropped)

    def position(self) -> tuple[Position, int]:
        """(journal end position, rows spilled so far): what ``flush`` has to wait for."""
        with self._lock:
            return (self.seq, self.size), self.spill_added

    def take_spill(self) -> list[bytes]:
        """A copy of the in-memory rows (removed only by ``release_spill`` after a commit)."""
        with self._lock:
            return list(self.spill)

    def release_spill(self, count: int) -> None:
        with self._lock:
            del self.spill[:count]

    def sync(self) -> None:
        """fsync everything appended so far (called by the syncer thread, never the hot path)."""
        with self._lock:
            fd, sealed, written, seq = self._fd, self._sealed_fds, self.written, self.seq
            self._sealed_fds = []
        for old in sealed:
            try:
                os.fsync(old)
            except OSError as exc:
                log.error("ledger journal fsync failed: %s", exc)
            os.close(old)
        if fd is not None:
            try:
                os.fsync(fd)  # fd is only closed by close(), which stops the syncer first
            except OSError as exc:
                log.error("ledger journal fsync failed: %s", exc)
        if sealed or seq != self._dir_synced_seq:
            fsync_dir(self.directory)  # new segment files must survive a crash too
            self._dir_synced_seq = seq
        self._synced = written

    def dirty(self) -> bool:
        return self.written != self._synced or bool(self._sealed_fds)

    def close(self) -> None:
        """fsync and close. Called once, after the syncer and shipper threads have stopped."""
        with self._lock:
            self._closed = True
        self.sync()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class Syncer:
    """A thread that fsyncs the journal every ``interval`` seconds when something was written.

    Separate from the shipper so a database call that blocks for seconds cannot stretch the
    window of rows a machine crash could lose.
    """

    def __init__(self, writer: JournalWriter, interval: float) -> None:
        self._writer = writer
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rightmodel-ledger-fsync",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if self._writer.dirty():
                try:
                    self._writer.sync()
                except Exception:  # noqa: BLE001 - keep syncing; the error is logged
                    log.exception("ledger journal fsync failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- reader -----------------------------------------------------------------------------------


@dataclass
class Batch:
    """Rows read from one segment, and the position just after the last line consumed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # unreadable or torn lines passed over (counted once the batch commits)
    end: Position = (0, 0)
    caught_up: bool = False  # nothing more to read right now


class JournalReader:
    """Reads complete lines after a position, in segment order; used by the shipper thread only.

    A segment is finished once the writer has moved past it (``seq < writer.seq``); only then
    are trailing bytes without a newline treated as a torn line and skipped. In the segment
    still being written, an incomplete last line is just a write in progress.
    """

    def __init__(self, directory: Path, start: Position) -> None:
        self.directory = directory
        self.position = start
        self._fd: int | None = None
        self._fd_seq = -1

    def read(self, max_rows: int, writer_seq: int) -> Batch:
        seq, offset = self.position
        sealed = seq < writer_seq  # read before reading data: see the class docstring
        batch = Batch(end=(seq, offset))
        fd = self._open(seq)
        pos = offset
        if fd is not None:
            while len(batch.rows) + batch.skipped < max_rows:
                chunk = os.pread(fd, READ_CHUNK, pos)
                if not chunk:
                    break
                last_nl = chunk.rfind(b"\n")
                if last_nl < 0:
                    if len(chunk) == READ_CHUNK:  # one line longer than a chunk: read it whole
                        chunk = self._read_line(fd, pos)
                        last_nl = chunk.rfind(b"\n")
                    if last_nl < 0:
                        break
                start = 0
                while start <= last_nl and len(batch.rows) + batch.skipped < max_rows:
                    nl = chunk.index(b"\n", start)
                    self._parse(chunk[start:nl], seq, pos + start, batch)
                    start = nl + 1
                pos += start
            batch.end = (seq, pos)
            if len(batch.rows) + batch.skipped >= max_rows:
                return batch
            if sealed:
                tail = os.fstat(fd).st_size - pos
                if tail > 0:
                    batch.skipped += 1
                    log.warning("ledger journal %s ends in a torn line (%d bytes at offset %d, "
                                "from a crash or failed write); skipped",
                                segment_name(seq), tail, pos)
        if not sealed:
            batch.caught_up = True
            return batch
        batch.end = (self._next_segment(seq), 0)
        return batch

    def _parse(self, line: bytes, seq: int, offset: int, batch: Batch) -> None:
        raw = line.lstrip(b"\x00")  # a crash can leave zero-filled blocks before good lines
        if not raw.strip():
            return
        try:
            row = orjson.loads(raw)
            if not isinstance(row, dict) or not isinstance(row.get("request_id"), str):
                raise ValueError("not a ledger record")
        except ValueError as exc:
            batch.skipped += 1
            log.warning("ledger journal %s: unreadable line at offset %d skipped (%s)",
                        segment_name(seq), offset, exc)
            return
        batch.rows.append(row)

    def _read_line(self, fd: int, pos: int) -> bytes:
        parts = []
        while True:
            chunk = os.pread(fd, READ_CHUNK, pos)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            if b"\n" in chunk:
                return b"".join(parts)
            pos += len(chunk)

    def _open(self, seq: int) -> int | None:
        if self._fd_seq == seq:
            return self._fd
        self.close()
        try:
            self._fd = os.open(self.directory / segment_name(seq), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # not created yet, or deleted by hand: nothing to read there
        self._fd_seq = seq
        return self._fd

    def _next_segment(self, seq: int) -> int:
        later = [s for s in list_segments(self.directory) if s > seq]
        return later[0] if later else seq + 1

    def advance(self, position: Position) -> None:
        """Move past rows now committed (after the checkpoint was written)."""
        if position[0] != self.position[0]:
            self.close()
        self.position = position

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._fd_seq = None, -1


def delete_segments_before(directory: Path, seq: int) -> None:
    """Remove segments entirely behind the checkpoint."""
    for old in list_segments(directory):
        if old >= seq:
            break
        try:
            os.unlink(directory / segment_name(old))
        except FileNotFoundError:
            pass


def pending_bytes(directory: Path, position: Position) -> int:
    """Journal bytes after ``position``: a measure of the backlog."""
    total = 0
    for seq in list_segments(directory):
        if seq < position[0]:
            continue
        try:
            size = (directory / segment_name(seq)).stat().st_size
        except FileNotFoundError:
            continue
        total += max(0, size - position[1]) if seq == position[0] else size
    return total
