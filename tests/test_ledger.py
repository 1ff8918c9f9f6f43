"""The request ledger on real SQLite files, real journal files and real child processes.

What is checked is the guarantee in ``rightmodel.ledger``'s docstring: a recorded row survives
a SIGKILL, a database outage and a crash between commit and checkpoint, exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from rightmodel.errors import ConfigError
from rightmodel.ledger import Ledger, LedgerRecord, make_request_id
from rightmodel.ledger.journal import CHECKPOINT_NAME, REJECTED_NAME, list_segments, segment_name
from rightmodel.ledger import store
from rightmodel.ledger.record import encode
from rightmodel.sqlite_engine import alembic_config, write

TESTS = Path(__file__).resolve().parent
CHILD = TESTS / "ledger_child.py"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
FAST = {"retry_max_s": 0.3, "ship_interval": 0.01}  # quick retries and shipping for tests


def sample(i: int, **overrides) -> LedgerRecord:
    """A record exercising every field type (None, unicode, nested JSON, bools)."""
    fields = dict(
        request_id=f"req_{i:08d}",
        created_at=T0 + timedelta(milliseconds=i),
        tenant=None if i % 3 == 0 else f"key_{i % 5}",
        endpoint="/v1/chat/completions" if i % 2 else "/v1/embeddings",
        task=None if i % 4 == 0 else "support-intent",
        route=("specialist", "escalated", "remote", "embeddings", "rejected")[i % 5],
        reason=f"confidence 0.{i % 10} vs threshold 0.91 — ünïcode",
        model=None if i % 7 == 0 else "support-intent@v3",
        tokens_in=i,
        tokens_out=2 * i + 1,
        cached_tokens=i % 11,
        latency_ms=i * 0.25 + 0.125,
        routing_ms=0.5,
        model_ms=i * 0.2,
        cost_usd=i * 1e-6,
        counterfactual_cost_usd=i * 3e-6,
        confidence=None if i % 5 == 0 else (i % 100) / 100,
        escalated=i % 5 == 1,
        stream=i % 2 == 0,
        status=200 if i % 9 else 502,
        error=None if i % 9 else "UpstreamError: remote model timed out",
        extra={"i": i, "nested": {"list": [1, 2.5, "x"], "flag": True}},
        privacy_policy=(None, "allow", "redact", "local-only")[i % 4],
        privacy_action=(None, "none", "redacted", "kept_local")[i % 4],
        pii_entities=(None, {}, {"EMAIL_ADDRESS": i % 3 + 1, "PERSON": 1}, {"PHONE_NUMBER": i})[i % 4],
    )
    fields.update(overrides)
    return LedgerRecord(**fields)


def as_row(rec: LedgerRecord) -> dict:
    return {name: getattr(rec, name) for name in rec.__slots__}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def db_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM ledger_requests")]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "db").mkdir()
    return {"db": tmp_path / "db" / "ledger.db", "journal": tmp_path / "journal"}


def open_ledger(paths: dict[str, Path], **kwargs) -> Ledger:
    ledger = Ledger(sqlite_url(paths["db"]), paths["journal"], **{**FAST, **kwargs})
    ledger.start()
    return ledger


def wait_until(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ExclusiveLock:
    """Another process's write lock on the SQLite file, as a long migration or backup holds."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None, timeout=10)
        self.conn.execute("BEGIN EXCLUSIVE")

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM ledger_requests").fetchone()[0]

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


# -- 1. round trip ------------------------------------------------------------------------------


def test_round_trip_1000_rows_fields_intact(paths) -> None:
    records = [sample(i) for i in range(1000)]
    with open_ledger(paths) as ledger:
        started = time.perf_counter()
        for rec in records:
            ledger.record(rec)
        per_record_us = (time.perf_counter() - started) / len(records) * 1e6
        print(f"\nLedger.record(): {per_record_us:.1f} µs per call (1000 calls, incl. os.write)")
        assert ledger.flush(timeout=20)
        rows = ledger.rows()
        stats = ledger.stats()
        assert ledger.rows(since=T0 + timedelta(milliseconds=10),
                           until=T0 + timedelta(milliseconds=20)) == [
            as_row(r) for r in records[10:20]]
        naive_since = (T0 + timedelta(milliseconds=995)).replace(tzinfo=None)  # taken as UTC
        assert [r["request_id"] for r in ledger.rows(since=naive_since)] == [
            r.request_id for r in records[995:]]
        assert len(ledger.rows(limit=7)) == 7
    assert rows == [as_row(r) for r in records]
    assert all(r["created_at"].tzinfo is not None for r in rows)
    assert stats["recorded"] == stats["shipped"] == 1000
    assert stats["pending"] == 0 and stats["db_up"] is True and stats["last_error"] is None


def test_defaults_request_ids_and_odd_values(paths) -> None:
    ids = [make_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 30 and i.startswith("req_") for i in ids)
    assert ids == sorted(ids)  # time-ordered (same process, same clock)
    minimal = LedgerRecord(endpoint="/v1/models", route="rejected")
    cet = timezone(timedelta(hours=1))
    odd = LedgerRecord(
        endpoint="/v1/chat/completions", route="remote",
        created_at=datetime(2025, 3, 1, 13, 0, tzinfo=cet),  # stored as 12:00 UTC
        tenant="t\x00enant",  # NUL: PostgreSQL refuses it in text; stripped
        latency_ms=float("nan"), confidence=float("inf"),  # not storable as numbers → NULL
        extra={1: "int key", "when": T0, "path": Path("/x")},  # orjson's fallbacks
    )
    with open_ledger(paths) as ledger:
        ledger.record(minimal)
        ledger.record(odd)
        assert ledger.flush()
        rows = {r["request_id"]: r for r in ledger.rows()}
    assert minimal.request_id.startswith("req_")
    got = rows[minimal.request_id]
    assert got["status"] == 200 and got["reason"] == "" and got["extra"] == {}
    assert abs(got["created_at"] - minimal.created_at) < timedelta(milliseconds=1)
    got = rows[odd.request_id]
    assert got["created_at"] == T0 and got["tenant"] == "tenant"
    assert got["latency_ms"] is None and got["confidence"] is None
    assert got["extra"] == {"1": "int key", "when": "2025-03-01T12:00:00Z", "path": "/x"}


# -- 2. SIGKILL ---------------------------------------------------------------------------------


def start_child(paths, n: int, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, dict]:
    err = open(tmp_path / "child.err", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), sqlite_url(paths["db"]), str(paths["journal"]), str(n),
         *extra],
        stdout=subprocess.PIPE, stderr=err, text=True, cwd=TESTS,
    )
    line = proc.stdout.readline()
    err.close()
    if not line.startswith("recorded"):
        proc.kill()
        proc.wait()
        raise AssertionError(f"child failed: {line!r}\n{(tmp_path / 'child.err').read_text()}")
    return proc, json.loads(line.split(" ", 1)[1])


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stdout.close()


def test_sigkill_while_database_locked_loses_nothing(paths, tmp_path: Path) -> None:
    open_ledger(paths).close()  # the schema exists; now another process locks the database
    lock = ExclusiveLock(paths["db"])
    n = 3000
    try:
        proc, child_stats = start_child(paths, n, tmp_path)
        try:
            assert child_stats["recorded"] == n
            # The directory is the child's: a second ledger on it, from this process, is refused.
            with pytest.raises(ConfigError, match="in use by another ledger"):
                Ledger(sqlite_url(paths["db"]), paths["journal"]).start()
            assert lock.count() == 0  # nothing reached the database
        finally:
            kill(proc)
    finally:
        lock.release()
    with open_ledger(paths) as ledger:
        assert ledger.flush(timeout=30)
        stats = ledger.stats()
    ids = db_ids(paths["db"])
    assert len(ids) == n and set(ids) == {f"req-child-{i:06d}" for i in range(n)}
    assert stats["recovered"] == n and stats["recorded"] == 0


def test_journal_write_failures_start_a_new_segment_and_lose_nothing(paths, tmp_path) -> None:
    """RLIMIT_FSIZE makes journal writes fail with EFBIG mid-line in the child (its database
    writes fail too, so everything is shipped after the kill, from the journal)."""
    open_ledger(paths).close()
    n = 2000  # ~450 bytes a line: ~900 KB of journal against a 150 KB per-file limit
    proc, child_stats = start_child(paths, n, tmp_path, "--fsize", str(150_000))
    kill(proc)
    assert child_stats["journal_errors"] >= 5
    assert child_stats["dropped"] == child_stats["in_memory"] == 0  # all made it to the journal
    with open_ledger(paths) as ledger:
        assert ledger.flush(timeout=30)
        stats = ledger.stats()
    ids = db_ids(paths["db"])
    assert len(ids) == n and set(ids) == {f"req-child-{i:06d}" for i in range(n)}
    assert stats["skipped_lines"] >= 1  # torn tails the failed writes left behind


def test_journal_unwritable_rows_are_held_in_memory_and_shipped(paths, tmp_path) -> None:
    """No file can grow for a while (journal and database alike): record() still returns,
    the rows wait in memory, and are shipped once writes work again."""
    open_ledger(paths).close()
    n = 500
    proc, result = start_child(paths, n, tmp_path, "--unwritable-window")
    assert proc.wait(timeout=60) == 0
    proc.stdout.close()
    during, after = result["during"], result["after"]
    assert during["in_memory"] == n and during["journal_errors"] >= 1 and during["dropped"] == 0
    assert result["flushed"] and after["in_memory"] == 0 and after["shipped"] == n
    ids = db_ids(paths["db"])
    assert len(ids) == n and set(ids) == {f"req-child-{i:06d}" for i in range(n)}


# -- 3. crash between commit and checkpoint -------------------------------------------------------


@pytest.mark.parametrize("damage", ["older_offset", "missing", "garbage"])
def test_reshipping_after_commit_without_checkpoint_makes_no_duplicates(paths, damage) -> None:
    checkpoint = paths["journal"] / CHECKPOINT_NAME
    with open_ledger(paths) as ledger:
        for i in range(100):
            ledger.record(sample(i))
        assert ledger.flush()
        older = checkpoint.read_bytes()
        for i in range(100, 300):
            ledger.record(sample(i))
        assert ledger.flush()
    # As if the process died after the database commit but before the checkpoint was written.
    if damage == "older_offset":
        checkpoint.write_bytes(older)
    elif damage == "missing":
        checkpoint.unlink()
    else:
        checkpoint.write_bytes(b"\x00\x00\x00")  # torn by a machine crash
    with open_ledger(paths) as ledger:
        assert ledger.flush()
        stats = ledger.stats()
        rows = ledger.rows()
    assert stats["recovered"] == (200 if damage == "older_offset" else 300)
    assert rows == [as_row(sample(i)) for i in range(300)]


# -- 4. database unavailable under continuous recording ------------------------------------------


class Recorder(threading.Thread):
    """Records continuously (a few thousand rows a second) until stopped."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(daemon=True)
        self.ledger = ledger
        self.ids: list[str] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        i = 0
        try:
            while not self.halt.is_set():
                rec = sample(i, request_id=make_request_id())
                self.ledger.record(rec)  # must never raise, whatever the database does
                self.ids.append(rec.request_id)
                i += 1
                if i % 20 == 0:
                    time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def finish(self) -> list[str]:
        self.halt.set()
        self.join(timeout=10)
        assert self.error is None, self.error
        return self.ids


def test_database_outages_under_load_lose_and_duplicate_nothing(paths, tmp_path) -> None:
    db_dir, away = paths["db"].parent, tmp_path / "db-moved-away"
    ledger = open_ledger(paths)
    recorder = Recorder(ledger)
    recorder.start()
    try:
        wait_until(lambda: ledger.stats()["shipped"] > 100, what="first rows shipped")
        # Outage 1: another process holds SQLite's write lock for a while.
        lock = ExclusiveLock(paths["db"])
        try:
            wait_until(lambda: ledger.stats()["db_up"] is False, what="db_up False (locked)")
            assert "locked" in ledger.stats()["last_error"]
            time.sleep(0.3)
        finally:
            lock.release()
        wait_until(lambda: ledger.stats()["db_up"] is True, what="recovery from the lock")
        # Outage 2: the database's directory disappears (unmounted volume, moved for a restore).
        os.rename(db_dir, away)
        try:
            wait_until(lambda: ledger.stats()["db_up"] is False, what="db_up False (missing)")
            assert "unable to open database file" in ledger.stats()["last_error"]
            time.sleep(0.3)
        finally:
            os.rename(away, db_dir)
        wait_until(lambda: ledger.stats()["db_up"] is True, what="recovery from the move")
        time.sleep(0.2)
    finally:
        ids = recorder.finish()
    assert ledger.flush(timeout=30)
    stats = ledger.stats()
    ledger.close()
    stored = db_ids(paths["db"])
    print(f"\nrecorded {len(ids)} rows through two outages")
    assert len(stored) == len(ids) == stats["recorded"] == stats["shipped"]
    assert set(stored) == set(ids)


def test_database_file_deleted_later_rows_go_to_the_new_file(paths) -> None:
    """A pooled connection must not go on committing into a deleted (still open) file."""
    with open_ledger(paths) as ledger:
        for i in range(100):
            ledger.record(sample(i))
        assert ledger.flush()
        for suffix in ("", "-wal", "-shm"):  # rm ledger.db*
            Path(f"{paths['db']}{suffix}").unlink(missing_ok=True)
        for i in range(100, 200):
            ledger.record(sample(i))
        assert ledger.flush(timeout=20)
    assert sorted(db_ids(paths["db"])) == [sample(i).request_id for i in range(100, 200)]


def test_close_with_database_down_keeps_rows_for_the_next_start(paths) -> None:
    open_ledger(paths).close()
    lock = ExclusiveLock(paths["db"])
    try:
        ledger = open_ledger(paths)  # starts fine: the schema check is a read
        for i in range(50):
            ledger.record(sample(i))
        assert not ledger.flush(timeout=0.5)
        ledger.close(timeout=1)  # warns; the rows stay in the journal
        assert ledger.stats()["pending"] == 50
        with pytest.raises(RuntimeError, match="closed"):
            ledger.record(sample(99))
        assert lock.count() == 0
    finally:
        lock.release()
    with open_ledger(paths) as again:
        assert again.flush()
        assert again.stats()["recovered"] == 50
    assert sorted(db_ids(paths["db"])) == [sample(i).request_id for i in range(50)]


def test_start_with_the_database_missing_creates_schema_when_it_appears(tmp_path) -> None:
    db = tmp_path / "not-yet" / "ledger.db"
    ledger = Ledger(sqlite_url(db), tmp_path / "journal", **FAST)
    ledger.start()  # database directory missing: not an error, rows wait
    try:
        ledger.record(sample(1))
        assert not ledger.flush(timeout=0.3)
        assert ledger.stats()["db_up"] is False
        db.parent.mkdir()
        assert ledger.flush(timeout=10)
        assert [r["request_id"] for r in ledger.rows()] == [sample(1).request_id]
    finally:
        ledger.close()


# -- 5. torn and unreadable journal lines ---------------------------------------------------------


def test_torn_last_line_is_skipped_with_a_warning(paths, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="rightmodel.ledger")
    with open_ledger(paths) as ledger:
        for i in range(5):
            ledger.record(sample(i))
        assert ledger.flush()
    (segment,) = list_segments(paths["journal"])
    # What a crashed writer can leave: more rows, a garbled line, and half of its last line.
    with open(paths["journal"] / segment_name(segment), "ab") as f:
        f.write(encode(sample(5)) + b"{not json\n" + encode(sample(6)) + encode(sample(7)))
        f.write(encode(sample(8))[:60])
    with open_ledger(paths) as ledger:
        assert ledger.flush()
        stats = ledger.stats()
    assert sorted(db_ids(paths["db"])) == [sample(i).request_id for i in range(8)]
    assert stats["skipped_lines"] == 2 and stats["recovered"] == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("ends in a torn line" in m for m in messages)
    assert any("unreadable line" in m for m in messages)


# -- privacy fields (schema 0002) ---------------------------------------------------------------

PRIVACY_FIELDS = ("privacy_policy", "privacy_action", "pii_entities")
LATER_FIELDS = (*PRIVACY_FIELDS, "specialist", "labels", "shadow_model", "shadow_labels", "shadow_confidence",
                "shadow_accepted", "shadow_agree")  # columns added after 0001 (0002-0004)


def migrate_to(db: Path, revision: str, downgrade: bool = False) -> None:
    """Bring the SQLite ledger at ``db`` to ``revision`` (as an older release would have left it)."""
    from alembic import command

    engine = store.create_engine(sqlite_url(db))
    try:
        cfg = alembic_config(store.MIGRATIONS_DIR)
        with write(engine) as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if downgrade else command.upgrade)(cfg, revision)
    finally:
        engine.dispose()


def columns_and_version(db: Path) -> tuple[set[str], list[str]]:
    with sqlite3.connect(db) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(ledger_requests)")}
        version = [r[0] for r in conn.execute(
            f"SELECT version_num FROM {store.ALEMBIC_VERSION_TABLE}")]
    return columns, version


def old_journal_line(rec: LedgerRecord) -> bytes:
    """The line a release before the privacy fields wrote for ``rec``."""
    data = orjson.loads(encode(rec))
    for name in LATER_FIELDS:
        del data[name]
    return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)


def test_privacy_fields_round_trip_and_odd_values_never_reject_a_row(paths) -> None:
    odd = [
        sample(0, privacy_policy="redact", privacy_action="redacted",  # exact counts in disguise
               pii_entities={"EMAIL_ADDRESS": 2.0, "PERSON": " 3", "PHONE_NUMBER": True,
                             "IBAN": "many", "NEG": -1, "INF": float("inf"), "NAN": float("nan"),
                             "HALF": 0.5, "BIG": 2**70, "x" * 100: 1, "NESTED": {"a": 1}}),
        sample(1, pii_entities=["EMAIL_ADDRESS"]),  # not a mapping: NULL
        sample(2, pii_entities="EMAIL_ADDRESS"),
        sample(3, privacy_policy="local-only" * 5, privacy_action="kept_local\x00" + "y" * 50),
        sample(4, privacy_policy=7, privacy_action=["refused"]),  # not strings: their text
    ]
    with open_ledger(paths) as ledger:
        for rec in odd:
            ledger.record(rec)
        assert ledger.flush()
        rows = {r["request_id"]: r for r in ledger.rows()}
        stats = ledger.stats()
    assert stats["rejected"] == 0 and stats["shipped"] == len(odd)
    assert rows[odd[0].request_id]["pii_entities"] == {"EMAIL_ADDRESS": 2, "PERSON": 3, "x" * 64: 1}
    assert rows[odd[0].request_id]["privacy_action"] == "redacted"
    assert rows[odd[1].request_id]["pii_entities"] is None
    assert rows[odd[2].request_id]["pii_entities"] is None
    assert rows[odd[3].request_id]["privacy_policy"] == ("local-only" * 5)[:16]
    assert rows[odd[3].request_id]["privacy_action"] == ("kept_local" + "y" * 50)[:32]
    assert (rows[odd[4].request_id]["privacy_policy"], rows[odd[4].request_id]["privacy_action"]) \
        == ("7", "['refused']")
    with sqlite3.connect(paths["db"]) as conn:  # None is SQL NULL (detection did not run), not 'null'
        nulls = {r[0] for r in conn.execute(
            "SELECT request_id FROM ledger_requests WHERE pii_entities IS NULL")}
    assert nulls == {odd[1].request_id, odd[2].request_id, odd[4].request_id}


def test_a_0001_database_with_rows_and_old_journal_lines_upgrade_in_place(paths) -> None:
    """A ledger left by a release before the privacy fields: its database (rows at 0001) and its
    unshipped journal lines (without the keys) both carry over, the old rows with NULLs."""
    migrate_to(paths["db"], "0001")
    old = [sample(i) for i in range(20)]
    rows = [store.to_row(orjson.loads(old_journal_line(r))) for r in old[:10]]
    engine = store.create_engine(sqlite_url(paths["db"]))
    with write(engine) as conn:
        conn.execute(sa.insert(store.requests), [
            {k: v for k, v in row.items() if k not in LATER_FIELDS} for row in rows])
    engine.dispose()
    assert columns_and_version(paths["db"])[1] == ["0001"]
    paths["journal"].mkdir()  # unshipped lines the old release journaled before it stopped
    (paths["journal"] / segment_name(1)).write_bytes(b"".join(map(old_journal_line, old[10:])))

    new = sample(20, privacy_policy="redact", privacy_action="redacted",
                 pii_entities={"EMAIL_ADDRESS": 2, "PERSON": 1})
    with open_ledger(paths) as ledger:
        ledger.record(new)
        assert ledger.flush()
        got = ledger.rows()
        assert ledger.stats()["rejected"] == 0
    columns, version = columns_and_version(paths["db"])
    assert version == ["0004"] and set(LATER_FIELDS) <= columns
    assert got == [{**as_row(r), **dict.fromkeys(LATER_FIELDS)} for r in old] + [as_row(new)]

    # And back: downgrading drops the columns and keeps every row (SQLite rebuilds the table).
    migrate_to(paths["db"], "0001", downgrade=True)
    columns, version = columns_and_version(paths["db"])
    assert version == ["0001"] and not set(LATER_FIELDS) & columns
    assert sorted(db_ids(paths["db"])) == [r.request_id for r in [*old, new]]
    with sqlite3.connect(paths["db"]) as conn:
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(ledger_requests)")}
    assert {"ix_ledger_requests_created_at", "ix_ledger_requests_task_created_at",
            "ix_ledger_requests_tenant_created_at"} <= indexes


# -- rows the database refuses ------------------------------------------------------------------


def test_rows_the_database_refuses_are_quarantined_not_blocking(paths) -> None:
    with open_ledger(paths) as ledger:
        conn = sqlite3.connect(paths["db"], isolation_level=None)  # a rule this database has
        conn.execute("CREATE TRIGGER refuse_999 BEFORE INSERT ON ledger_requests "
                     "WHEN NEW.status = 999 BEGIN SELECT RAISE(ABORT, 'status 999'); END")
        conn.close()
        for i in range(10):
            ledger.record(sample(i, status=999 if i == 3 else 200))
        ledger.record(sample(10, tokens_in="many"))  # wrong type: cannot be stored as-is
        assert ledger.flush()
        stats = ledger.stats()
    assert sorted(db_ids(paths["db"])) == [sample(i).request_id for i in range(10) if i != 3]
    rejected = [orjson.loads(line) for line in
                (paths["journal"] / REJECTED_NAME).read_bytes().splitlines()]
    assert sorted(r["record"]["request_id"] for r in rejected) == [
        sample(3).request_id, sample(10).request_id]
    assert stats["rejected"] == 2 and stats["shipped"] == 9


# -- segments -----------------------------------------------------------------------------------


def test_segments_rotate_and_shipped_ones_are_deleted(paths) -> None:
    with open_ledger(paths, segment_bytes=4096) as ledger:
        for i in range(500):
            ledger.record(sample(i))
        assert ledger.flush()
        remaining = list_segments(paths["journal"])
        assert ledger.stats()["shipped"] == 500
    assert len(remaining) <= 2  # the one being written (and possibly its predecessor)
    assert len(db_ids(paths["db"])) == 500


# -- 8. one ledger per journal directory; configuration errors -----------------------------------


def test_second_ledger_on_the_same_journal_dir_is_refused(paths) -> None:
    first = open_ledger(paths)
    try:
        second = Ledger(sqlite_url(paths["db"]), paths["journal"])
        with pytest.raises(ConfigError, match="in use by another ledger"):
            second.start()
    finally:
        first.close()
    open_ledger(paths).close()  # released on close


@pytest.mark.parametrize("url, message", [
    ("sqlite://", "not an in-memory one"),
    ("mysql://u@localhost/x", "only SQLite and PostgreSQL"),
    ("no url at all", "cannot use ledger database URL"),
])
def test_unusable_database_urls_are_config_errors(tmp_path, url, message) -> None:
    with pytest.raises(ConfigError, match=message):
        Ledger(url, tmp_path / "journal")


def test_record_before_start_is_a_usage_error(paths) -> None:
    ledger = Ledger(sqlite_url(paths["db"]), paths["journal"])
    with pytest.raises(RuntimeError, match="start"):
        ledger.record(sample(0))
    ledger.close()
