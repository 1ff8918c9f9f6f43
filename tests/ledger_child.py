"""A gateway stand-in for the ledger's crash tests, run as a real child process.

    python tests/ledger_child.py DB_URL JOURNAL_DIR N [--fsize BYTES] [--segment-bytes BYTES]

Starts a Ledger, records N rows with ids ``req-child-000000`` ..., prints one line
``recorded {stats json}`` and then sleeps until the test kills it (SIGKILL: no cleanup runs).
``--fsize`` sets RLIMIT_FSIZE first, so journal writes beyond that size fail with EFBIG (Python
ignores SIGXFSZ) — a real write failure, as on a full disk.

``--unwritable-window`` instead records the N rows while no file can grow at all (soft
RLIMIT_FSIZE 0: journal and database both fail), then lifts the limit, flushes, closes, and
prints ``recorded {"during": stats, "after": stats, "flushed": bool}`` and exits.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import datetime, timezone

from rightmodel.ledger import Ledger, LedgerRecord


def child_record(i: int) -> LedgerRecord:
    return LedgerRecord(
        request_id=f"req-child-{i:06d}",
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
        endpoint="/v1/chat/completions",
        route="specialist",
        reason="confident",
        task="support-intent",
        model="support-intent@v3",
        tokens_in=i,
        tokens_out=2 * i,
        latency_ms=1.5,
        extra={"i": i, "pad": "x" * 200},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("journal_dir")
    parser.add_argument("n", type=int)
    parser.add_argument("--fsize", type=int)
    parser.add_argument("--segment-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--unwritable-window", action="store_true")
    args = parser.parse_args()
    if args.unwritable_window:
        return unwritable_window(args)
    if args.fsize:
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize, args.fsize))
    ledger = Ledger(args.db_url, args.journal_dir, retry_max_s=0.5,
                    segment_bytes=args.segment_bytes)
    ledger.start()
    for i in range(args.n):
        ledger.record(child_record(i))
    print("recorded", json.dumps(ledger.stats()), flush=True)
    while True:  # wait for SIGKILL
        time.sleep(60)


def unwritable_window(args: argparse.Namespace) -> None:
    ledger = Ledger(args.db_url, args.journal_dir, retry_max_s=0.2)
    ledger.start()
    assert ledger.flush()
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    for i in range(args.n):
        ledger.record(child_record(i))
    during = ledger.stats()
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    flushed = ledger.flush(timeout=30)
    after = ledger.stats()
    ledger.close()
    print("recorded", json.dumps({"during": during, "after": after, "flushed": flushed}),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
