"""Measurements in one Python process on the bench's ledger (no CLI start-up): how to get
percentiles out of SQLite, three ways; and ``rightmodel.report.series.build_dashboard``, what the
gateway's GET /dashboard/data runs, over the whole ledger and the last 7 days / 24 hours.
"""

from __future__ import annotations

import datetime as dt
import resource
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from itertools import groupby
from pathlib import Path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile_strategies(path: Path, runs: int) -> list[dict]:
    """Seconds to get every group's latency percentiles out of SQLite, three ways (plus the
    GROUP BY of counts and sums, for scale). SQL + Python, no CLI start-up."""
    con = sqlite3.connect(path)
    where = "status < 400 AND latency_ms IS NOT NULL"
    ranks = " OR ".join(f"rn = max(1, (n * {p} + 99) / 100)" for p in (50, 95, 99))

    def stream_sort(g):
        out = defaultdict(list)
        for k, v in con.execute(f"SELECT {g}, latency_ms FROM ledger_requests WHERE {where}"):
            out[k].append(v)
        for v in out.values():
            v.sort()
        merged = sorted(x for v in out.values() for x in v)
        return len(out), len(merged)

    def order_by(g):
        rows = con.execute(f"SELECT {g}, latency_ms FROM ledger_requests WHERE {where} ORDER BY 1, 2").fetchall()
        n = sum(1 for _ in groupby(rows, key=lambda r: r[0]))
        merged = sorted(r[1] for r in rows)  # the total still needs all values in order
        return n, len(merged)

    def window(g):
        sql = (f"SELECT g, rn, lat FROM (SELECT {g} AS g, latency_ms AS lat, row_number() OVER (PARTITION BY {g} "
               f"ORDER BY latency_ms) AS rn, count(*) OVER (PARTITION BY {g}) AS n FROM ledger_requests WHERE {where}) "
               f"WHERE {ranks}")
        total = (f"SELECT rn, lat FROM (SELECT latency_ms AS lat, row_number() OVER (ORDER BY latency_ms) AS rn, "
                 f"count(*) OVER () AS n FROM ledger_requests WHERE {where}) WHERE {ranks}")
        rows = con.execute(sql).fetchall()
        con.execute(total).fetchall()
        return len({r[0] for r in rows}), None

    def concat(g):
        import numpy as np

        rows = con.execute(f"SELECT {g}, group_concat(CASE WHEN {where} THEN latency_ms END) FROM ledger_requests GROUP BY 1").fetchall()
        arrays = [np.sort(np.fromstring(t, sep=",")) for _, t in rows if t]
        return len(rows), len(np.sort(np.concatenate(arrays)))

    def group_by(g):
        rows = con.execute(f"SELECT {g}, count(*), sum(CASE WHEN status < 400 THEN 1 ELSE 0 END), sum(cost_usd), "
                           f"sum(counterfactual_cost_usd), sum(tokens_in), sum(tokens_out) FROM ledger_requests GROUP BY 1").fetchall()
        return len(rows), None

    out = []
    for by, g in (("task", "task"), ("day", "substr(created_at, 1, 10)")):
        for name, fn in (("group_concat in the GROUP BY, numpy parses and sorts [used]", concat),
                         ("stream (group, latency), sort in Python [the fallback]", stream_sort),
                         ("ORDER BY group, latency in SQLite", order_by),
                         ("row_number() window functions, ranks only", window),
                         ("for scale: the GROUP BY of counts and sums", group_by)):
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                fn(g)
                times.append(time.perf_counter() - t)
            out.append({"by": by, "strategy": name, "median_s": round(statistics.median(times), 3),
                        "max_s": round(max(times), 3)})
            log(f"  percentiles by {by}: {name}: {out[-1]['median_s']} s")
    con.close()
    return out


DASHBOARD_WINDOWS = (("all", None), ("7d", dt.timedelta(days=7)), ("24h", dt.timedelta(hours=24)))


def dashboard(url: str, now: dt.datetime, runs: int) -> dict:
    """Seconds for ``build_dashboard(engine, since, None, now)`` per window (``runs`` calls each
    after one warm-up call, in this process, engine created once as the gateway does), and one
    more call split into its parts: the report ``--by task`` it embeds and the time-bucketed
    aggregate split by route (the same calls series.py makes, timed apart).
    Checks the series add up: bucket requests and route counts sum to the total's requests."""
    import json

    import sqlalchemy as sa

    from rightmodel.ledger import store
    from rightmodel.report import series
    from rightmodel.report.aggregate import aggregate, build_report

    engine = store.create_engine(url)
    out = []
    for name, back in DASHBOARD_WINDOWS:
        since = None if back is None else now - back
        doc = series.build_dashboard(engine, since, None, now)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            doc = series.build_dashboard(engine, since, None, now)
            times.append(time.perf_counter() - t)
        total = doc["total"]["requests"]
        consistent = (sum(p["requests"] for p in doc["series"]) == total
                      and sum(sum(v) for v in doc["routes"].values()) == total)
        parts = {}
        t = time.perf_counter()
        build_report(engine, "task", since, None, now=now)
        parts["report_by_task_s"] = round(time.perf_counter() - t, 3)
        with engine.connect() as conn, conn.begin():
            key = series._bucket_key(doc["bucket_s"], conn.dialect.name)
            t = time.perf_counter()
            aggregate(conn, key, since, None, (store.requests.c.route,))
            parts["buckets_and_routes_aggregate_s"] = round(time.perf_counter() - t, 3)
        out.append({"window": name, "since": None if since is None else since.isoformat(), "requests": total,
                    "bucket_s": doc["bucket_s"], "buckets": len(doc["series"]), "json_bytes": len(json.dumps(doc)),
                    "runs_s": [round(x, 3) for x in times], "median_s": round(statistics.median(times), 3),
                    "max_s": round(max(times), 3), "parts": parts, "series_add_up": consistent})
        log(f"  build_dashboard {name}: median {out[-1]['median_s']} s, max {out[-1]['max_s']} s, {parts}")
    engine.dispose()
    return {"windows": out, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def report_parts(url: str, runs: int, bys=("task", "version", "day")) -> dict:
    """Each query ``build_report`` runs, timed apart on the whole ledger (no window), then
    ``build_report`` whole: where the report's time goes, without interpreter start-up."""
    import sqlalchemy as sa

    from rightmodel.ledger import store
    from rightmodel.report import aggregate as ag
    from rightmodel.report import versions

    engine = store.create_engine(url)
    r = store.requests.c
    out = []

    def timeit(by, part, fn):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out.append({"by": by, "part": part, "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)})
        log(f"  report part [{by}] {part}: {out[-1]['median_s']} s")

    split = (r.task, r.specialist)
    for by in bys:
        with engine.connect() as conn, conn.begin():
            key = ag._group_key(by, conn.dialect.name)
            timeit(by, "aggregate(): one GROUP BY (group, task, specialist): counts, sums, group_concat of latencies; "
                       "numpy parses and sorts them [used]", lambda: ag.aggregate(conn, key, None, None, split))
            timeit(by, "for scale: the same GROUP BY without the latencies", lambda: conn.execute(
                sa.select(key.label("g"), *[c.label(f"s{i}") for i, c in enumerate(split)], *ag._sum_columns())
                .select_from(store.requests).group_by("g", "s0", "s1")).all())
            timeit(by, "for scale: the fallback, (group, latency_ms) streamed + sort per group", lambda: [
                v.sort() for v in ag._sqlite_latencies(conn, key.label("g"), []).values()])
            timeit(by, "feedback_sums (ledger_feedback)", lambda: versions.feedback_sums(conn, by, None, None))
            if by == bys[0]:
                parts = ag.aggregate(conn, key, None, None, split)[2]
                timeit("any", "versions: version_rows() from the GROUP BY's parts + verdicts", lambda: versions.version_rows(conn, None, None, parts))
                timeit("any", "shadow_rows() (partial index of shadowed rows)", lambda: versions.shadow_rows(conn, None, None))
                timeit("any", "min(created_at)", lambda: conn.execute(sa.select(sa.func.min(r.created_at))).scalar())
        timeit(by, "build_report() whole", lambda: ag.build_report(engine, by))
    engine.dispose()
    return {"runs": runs, "parts": out}
