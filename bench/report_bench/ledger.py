"""The seeded ledger bench/report.py measures: ``ledger_requests`` rows shaped like the gateway's
(schema 0003 included) and ``ledger_feedback`` verdicts on a share of the task requests.

Requests (``rnd``, seeded with --seed; the same draws as before schema 0003, so the request
columns of 0002 are unchanged for a seed): 20 tenants (Zipf-like), 6 specialist tasks, 3 remote
models; 70% of requests have a task (72% of those answered by the specialist, 26% escalated, 2%
escalation_unavailable), 24% remote passthrough, 5% embeddings, 1% rejected; 2% of remote calls
fail (502/504). Reasons, extra and privacy fields look like the gateway's.

Schema 0003 columns (``lrnd``, a second generator seeded from --seed, so they add draws without
moving the request ones), as gateway/chat.py writes them:

- ``specialist`` = the task's version (``TASKS``) on specialist, escalated and
  escalation_unavailable rows; NULL elsewhere.
- ``labels``: a JSON list of one label drawn from the task's label set (``LABELS``) on specialist
  rows; on escalation_unavailable rows too (chat.py sets ``t.labels`` before it finds the
  confidence too low: the row carries the guess); on escalated rows whose frontier answer matched
  a label of the task (75% of the answered ones, ``settle_remote``). The specialist's guess on an
  escalated row is ``extra.specialist.label``. escalation_unavailable rows name the version as
  model, as the gateway does.

Feedback (``FEEDBACK_SHARE`` = 5% of the answered task requests, ~35k rows on 1M): one row per
request, the request's tenant/task/route/model/specialist copied in, ``request_created_at`` the
request's time, ``created_at`` 1 min to 6 h later (at most the ledger's end). Kinds: 75% a label
(verdicts computed as ledger/feedback.judge does: ``correct`` = the answer's labels equal the
given one, or NULL when the answer had none; ``specialist_correct`` = the specialist's label or
guess equals it), 10% the client's own ``correct`` with a score (``specialist_correct`` follows
``correct`` on specialist rows only), 15% a score alone (no verdict). The true label agrees with
the specialist's answer 93% of the time on specialist rows, with its guess 60% on escalated and
unavailable ones, and with the frontier's answer 95%.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

TENANTS = [f"tenant-{i:02d}" for i in range(20)]
TASKS = {"support-intent": "support-intent@v3", "sentiment": "sentiment@v5", "contract-clauses": "contract-clauses@v2",
         "spam": "spam@v7", "language-id": "language-id@v1", "toxicity": "toxicity@v4"}
LABELS = {"support-intent": ("card_arrival", "card_lost", "refund_request", "balance_inquiry", "change_pin", "top_up_failed"),
          "sentiment": ("positive", "neutral", "negative"),
          "contract-clauses": ("limitation_of_liability", "termination", "governing_law", "arbitration", "unilateral_change"),
          "spam": ("spam", "ham"),
          "language-id": ("en", "de", "fr", "es", "it", "nl", "pt"),
          "toxicity": ("ok", "toxic", "insult", "threat")}
REMOTES = {"gpt-4o": (2.5e-6, 10e-6), "claude-sonnet": (3e-6, 15e-6), "gpt-4o-mini": (0.15e-6, 0.6e-6)}
FRONTIER = "gpt-4o"  # defaults.frontier: the counterfactual price
EMBEDDER = "all-MiniLM-L6-v2"
LOCAL_PER_HOUR = 0.50  # local_cost_per_hour, USD
FEEDBACK_SHARE = 0.05  # of answered task requests
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how the ledger stores created_at on SQLite (store.to_row via SQLAlchemy)

COLUMNS = ("request_id", "created_at", "tenant", "endpoint", "task", "route", "reason", "model", "tokens_in",
           "tokens_out", "cached_tokens", "latency_ms", "routing_ms", "model_ms", "cost_usd",
           "counterfactual_cost_usd", "confidence", "escalated", "stream", "status", "error", "extra",
           "privacy_policy", "privacy_action", "pii_entities", "specialist", "labels")
FEEDBACK_COLUMNS = ("request_id", "created_at", "request_created_at", "tenant", "task", "route", "model", "specialist",
                    "labels", "score", "correct", "specialist_correct")


def _other(lrnd: random.Random, labels: tuple[str, ...], but: str) -> str:
    return lrnd.choice([x for x in labels if x != but])


def _feedback(lrnd: random.Random, route: str, task: str, answer: list[str] | None, guess: str) -> tuple:
    """(labels JSON, score, correct, specialist_correct) for one request, as ledger/feedback.judge stores them."""
    kind = lrnd.random()
    if kind < 0.15:  # a score alone: no verdict
        return None, round(lrnd.random() ** 0.5, 3), None, None
    if kind < 0.25:  # the client's own verdict, with a score
        correct = lrnd.random() < (0.9 if route != "escalation_unavailable" else 0.3)
        return None, round(lrnd.random(), 3), int(correct), int(correct) if route == "specialist" else None
    labels = LABELS[task]
    if route == "specialist":
        truth = guess if lrnd.random() < 0.93 else _other(lrnd, labels, guess)
    elif answer is not None and route == "escalated":  # the frontier's answer matched a label
        truth = answer[0] if lrnd.random() < 0.95 else _other(lrnd, labels, answer[0])
    else:
        truth = guess if lrnd.random() < 0.60 else _other(lrnd, labels, guess)
    correct = None if answer is None else int(answer == [truth])
    return json.dumps([truth]), None, correct, int(guess == truth)


def build_ledger(path: Path, rows: int, days: int, seed: int, end: dt.datetime) -> dict:
    """A seeded ledger at ``path`` (replaced); returns what was built."""
    from rightmodel.ledger import store

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = store.create_engine(f"sqlite:///{path}")
    store.migrate(engine)
    engine.dispose()
    rnd = random.Random(seed)
    lrnd = random.Random(f"labels-and-feedback-{seed}")
    start = end - dt.timedelta(days=days)
    span = (end - start).total_seconds()
    t0 = time.perf_counter()
    # Diurnal shape: traffic at hour h of the day is proportional to 1 + 0.8 sin(...), peak 15:00 UTC.
    times = []
    while len(times) < rows:
        s = rnd.random() * span
        hour = ((start.timestamp() + s) % 86400) / 3600
        if rnd.random() * 1.8 < 1 + 0.8 * math.sin((hour - 9) / 24 * 2 * math.pi):
            times.append(s)
    times.sort()
    tenant_w = [1 / (i + 1) for i in range(len(TENANTS))]
    tasks, remotes = list(TASKS), list(REMOTES)
    fin, fout = REMOTES[FRONTIER]
    data, fb = [], []
    routes: dict[str, int] = defaultdict(int)
    kinds: dict[str, int] = defaultdict(int)
    for i, s in enumerate(times):
        ts = start + dt.timedelta(seconds=s)
        tenant = rnd.choices(TENANTS, tenant_w)[0]
        endpoint, task, model, conf, escalated, status, error = "/v1/chat/completions", None, None, None, 0, 200, None
        tin, tout, cached, cost, cf = rnd.randint(20, 800), 0, 0, 0.0, 0.0
        extra, reason = "{}", ""
        policy = action = pii = None
        specialist = answer = guess = None
        r = rnd.random()
        if r < 0.01:
            route, status = "rejected", rnd.choice((400, 401, 413, 429, 429, 429))
            tenant = None if status == 401 else tenant
            error = {400: "InvalidRequest: messages must be a non-empty list", 401: "AuthenticationError: invalid API key",
                     413: "PayloadTooLarge: body over 1048576 bytes", 429: "RateLimited: rpm limit 600 reached"}[status]
            lat, tin = rnd.uniform(0.1, 2.0), 0
        elif r < 0.06:
            route, endpoint, model, reason = "embeddings", "/v1/embeddings", EMBEDDER, "embeddings endpoint"
            lat = rnd.lognormvariate(math.log(15), 0.4)
            cost = lat / 3.6e6 * LOCAL_PER_HOUR
        elif r < 0.30:
            route, model = "remote", rnd.choice(remotes)
            reason = f"model {model} requested"
        else:
            task, conf = rnd.choice(tasks), rnd.random() ** 0.3
            specialist, guess = TASKS[task], lrnd.choice(LABELS[task])
            q = rnd.random()
            if q < 0.72:
                route, model = "specialist", TASKS[task]
                reason = f"task {task} (metadata.task); confidence {conf:.4f} >= threshold 0.9100"
                extra = '{"estimated":"counterfactual tokens"}'
                answer = [guess]
            elif q < 0.74:
                route, model = "escalation_unavailable", TASKS[task]
                reason = (f"task {task} (metadata.task); confidence {conf:.4f} < threshold 0.9100 and no "
                          "escalation target is configured")
                extra = json.dumps({"best_guess": guess, "specialist": {"model": specialist, "label": guess, "labels": [guess]}},
                                   separators=(",", ":"))
                answer = [guess]  # chat.py: t.labels is set before the threshold check sends it here
            else:
                route, escalated, model = "escalated", 1, rnd.choice(remotes)
                reason = f"task {task} (metadata.task); confidence {conf:.4f} < threshold 0.9100, escalated to {model}"
                extra = json.dumps({"specialist": {"model": specialist, "label": guess, "compute_ms": 6.1}},
                                   separators=(",", ":"))
        if route in ("specialist", "escalation_unavailable"):
            lat = rnd.lognormvariate(math.log(8), 0.5)
            tout = rnd.randint(1, 10) if route == "specialist" else 0
            cost = lat * 0.8 / 3.6e6 * LOCAL_PER_HOUR
            cf = tin * fin + max(tout, 3) * fout
        elif route in ("remote", "escalated"):
            lat = rnd.lognormvariate(math.log(900), 0.6)
            local = 6.1 / 3.6e6 * LOCAL_PER_HOUR if escalated else 0.0
            if rnd.random() < 0.02:
                status = rnd.choice((502, 504))
                error = "UpstreamError: upstream returned 502" if status == 502 else "Timeout: upstream did not answer in 60 s"
                tin, cost = 0, local
                lat = lat * 3
            else:
                tout = rnd.randint(10, 600)
                cached = rnd.choice((0, 0, 0, tin // 2))
                pin, pout = REMOTES[model]
                cost = local + tin * pin + tout * pout
                cf = tin * fin + tout * fout
                if escalated and lrnd.random() < 0.75:  # settle_remote: the frontier's answer is one of the labels
                    answer = [guess if lrnd.random() < 0.6 else _other(lrnd, LABELS[task], guess)]
        if route not in ("rejected",) and rnd.random() < 0.6:
            policy = rnd.choice(("redact", "redact", "allow", "local-only"))
            if rnd.random() < 0.05:
                pii = '{"EMAIL_ADDRESS":1}'
                action = {"redact": "redacted", "allow": "allowed", "local-only": "kept_local"}[policy]
            else:
                action = "none"
        routes[route] += 1
        ns = int(ts.timestamp() * 1e9)
        request_id = f"req_{ns:016x}{rnd.getrandbits(40):010x}"
        created = ts.strftime(TIME_FORMAT)
        data.append((request_id, created, tenant, endpoint, task, route, reason, model, tin, tout, cached, lat,
                     rnd.uniform(0.05, 0.6), lat * 0.9, cost, cf, conf, escalated, int(rnd.random() < 0.2), status, error,
                     extra, policy, action, pii, specialist, None if answer is None else json.dumps(answer)))
        if specialist is not None and status < 400 and lrnd.random() < FEEDBACK_SHARE:
            labels, score, correct, specialist_correct = _feedback(lrnd, route, task, answer, guess)
            kinds["label" if labels else "score only" if correct is None else "correct + score"] += 1
            given = min(end, ts + dt.timedelta(seconds=lrnd.uniform(60, 6 * 3600)))
            fb.append((request_id, given.strftime(TIME_FORMAT), created, tenant, task, route, model, specialist,
                       labels, score, correct, specialist_correct))
    generated = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")  # the bench's own write speed; not what is measured
    with con:
        con.executemany(f"INSERT INTO ledger_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", data)
        con.executemany(f"INSERT INTO ledger_feedback ({', '.join(FEEDBACK_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(FEEDBACK_COLUMNS))})", fb)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    inserted = time.perf_counter()
    engine = store.create_engine(f"sqlite:///{path}")
    sample = store.fetch_rows(engine, limit=3)  # the ledger's own reader understands the rows
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM ledger_requests").scalar()
        nf = conn.exec_driver_sql("SELECT count(*) FROM ledger_feedback").scalar()
        # ... and the 0003 columns: a specialist row's labels decode to a list, a verdict to a boolean.
        row = conn.execute(store.requests.select().where(store.requests.c.route == "specialist").limit(1)).first()
        frow = conn.execute(store.feedback.select().where(store.feedback.c.labels.is_not(None)).limit(1)).first()
    engine.dispose()
    assert n == rows and sample and sample[0]["created_at"].tzinfo is not None, (n, sample[:1])
    assert nf == len(fb) and row is not None and isinstance(row.labels, list) and row.specialist in TASKS.values(), (nf, row)
    assert frow is not None and isinstance(frow.labels, list) and frow.specialist_correct in (True, False), frow
    con = sqlite3.connect(path)
    indexes = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='ledger_requests'")]
    con.close()
    return {"rows": rows, "days": days, "seed": seed, "first": start.isoformat(), "end": end.isoformat(),
            "routes": dict(sorted(routes.items(), key=lambda kv: -kv[1])),
            "feedback_rows": len(fb), "feedback_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
            "generate_s": round(generated - t0, 1), "insert_s": round(inserted - generated, 1),
            "file_mb": round(path.stat().st_size / 2**20, 1), "indexes": indexes, "analyzed": False}


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (only this file; nothing else on the machine)."""
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
