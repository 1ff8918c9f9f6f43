"""The dashboard's data: the report's numbers over time buckets, plus its task and version views.

One JSON document per window, built from the same SQL as ``rightmodel report`` (aggregate.py),
so the dashboard and the CLI can never disagree: the headline numbers are the report's total,
"escalation rate per task" its ``--by task`` groups, "accuracy per version" its versions
section. Over time: from the window's first row to its end, cut into equal buckets (a round
size giving at most ``MAX_BUCKETS``), each with the report's fields for its rows (``metrics``):
cost, the fixed cost's share of the span the rows cover (the total's share, split, so the
buckets add up to the total), actual and all-frontier cost, latency percentiles, escalations,
and its requests per route.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rightmodel.errors import ConfigError
from rightmodel.ledger.store import requests
from rightmodel.report.aggregate import Report, _first_line, _utc, aggregate, fill_report, fixed_share, metrics
from rightmodel.report.drift import Band
from rightmodel.sqlite_engine import safe_url

MAX_BUCKETS = 120
BUCKET_SIZES_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
                  12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)
SERIES_FIELDS = ("requests", "answered", "served_locally", "escalated", "task_requests", "errors", "cost_usd",
                 "fixed_cost_usd", "actual_cost_usd", "counterfactual_cost_usd", "savings_usd", "latency_p50_ms",
                 "latency_p95_ms", "latency_p99_ms", "tokens_in", "tokens_out")


def bucket_size(span_s: float) -> int:
    """The smallest round bucket that cuts ``span_s`` into at most ``MAX_BUCKETS`` pieces."""
    for size in BUCKET_SIZES_S:
        if span_s / size <= MAX_BUCKETS:
            return size
    return int(span_s // MAX_BUCKETS) + 1


def _bucket_key(size: int, dialect: str) -> sa.ColumnElement:
    """Bucket start, in Unix seconds, of each row's ``created_at``."""
    c = requests.c
    if dialect == "postgresql":
        epoch = sa.func.extract("epoch", c.created_at)
        return sa.cast(sa.func.floor(epoch / size) * size, sa.BigInteger)
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (ledger.store.to_row).
    seconds = sa.cast(sa.func.strftime("%s", sa.func.substr(c.created_at, 1, 19)), sa.Integer)
    return sa.cast(seconds / size, sa.Integer) * size


def build_dashboard(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    fixed_cost_per_month: float = 0.0,
    bands: Mapping[str, Band] | None = None,
    promised: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Everything /dashboard plots for ``since <= created_at < until`` (see the module doc), read
    in one transaction: the headline numbers and the series come from the same snapshot."""
    now = now or datetime.now(timezone.utc)
    report = Report(by="task", since=_utc(since) if since else None, until=_utc(until) if until else None,
                    ledger=safe_url(engine.url), generated_at=now, fixed_cost_per_month=fixed_cost_per_month)
    since, until = report.since, report.until
    try:
        with engine.connect() as conn, conn.begin():
            fill_report(conn, report, bands, promised)
            # The x axis starts at the window's first row (what the ledger covers), not at `since`:
            # a 24 h window over a gateway that ran 20 minutes is not 24 h of empty buckets.
            start = report.first_row_at
            end = max(until or now, report.last_row_at or now)
            size = bucket_size(max(1.0, (end - start).total_seconds())) if start else 60
            buckets, _, parts = aggregate(conn, _bucket_key(size, conn.dialect.name), since, until, (requests.c.route,))
    except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot read the ledger: {_first_line(exc)}") from None
    # Every bucket of the window, empty ones too: time runs evenly on the x axis, costs accrue.
    starts = sorted(int(k) for k in buckets)
    if start is not None:
        first_b = int(start.timestamp()) // size * size
        starts = sorted(set(starts) | set(range(first_b, math.ceil(end.timestamp()), size)))
    routes: dict[str, dict[int, int]] = defaultdict(dict)
    for (b, route), sums in parts.items():
        routes[route][int(b)] = int(sums["requests"] or 0)
    share = fixed_share(fixed_cost_per_month, report.first_row_at, report.last_row_at)
    series = []
    for b in starts:
        at = datetime.fromtimestamp(b, timezone.utc)
        m = metrics(buckets.get(b, {}), fixed=share(at, size))  # the report's function: its shares add up to the total's
        series.append({"t": _iso(at), **{f: m[f] for f in SERIES_FIELDS}})
    data = report.to_dict()
    return {
        "since": data["since"],
        "until": data["until"],
        "generated_at": data["generated_at"],
        "ledger": data["ledger"],
        "bucket_s": size,
        "fixed_cost_per_month": fixed_cost_per_month,
        "covered_from": data["covered_from"],
        "covered_until": data["covered_until"],
        "total": data["total"],
        "tasks": data["groups"],
        "versions": data["versions"],
        "drift": data["drift"],
        "shadow": data["shadow"],
        "series": series,
        "routes": {route: [counts.get(b, 0) for b in starts] for route, counts in sorted(routes.items())},
    }


def _iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")

