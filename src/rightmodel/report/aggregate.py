"""The report's numbers, computed in SQL where SQL can (see the package docstring for definitions).

One ``GROUP BY`` query gives every count and sum per group; the total row is the sum of the
groups. Percentiles need the values in order and SQLite has no percentile function, so on
SQLite the same ``GROUP BY`` also concatenates each group's latencies (``group_concat``) and
numpy parses and sorts them: one scan of the table. Measured on 1M rows (bench/report.py):
that adds ~0.3 s to the ``GROUP BY``, against ~1.4 s for a second query streaming
``(group, latency_ms)`` rows to Python (still the fallback when a group's string would pass
SQLite's length limit), 1.0-1.3 s for ``ORDER BY group, latency_ms`` and 3 s for
``row_number()`` window functions. On PostgreSQL ``percentile_disc`` does it in the database.
A bounded window uses the ``created_at`` index.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rightmodel.constellation.costs import fixed_cost
from rightmodel.errors import ConfigError
from rightmodel.ledger.store import feedback, requests
from rightmodel.report import versions
from rightmodel.report.drift import Band, drift_flags
from rightmodel.sqlite_engine import safe_url

BY_CHOICES = ("task", "model", "tenant", "day", "route", "version")
COLUMN_OF = {"version": "specialist"}  # --by name -> ledger column, where they differ
PERCENTILES = (50, 95, 99)
ACCURACY_NOTE = "no feedback recorded"
NONE_LABEL = "(none)"

# Output fields, in order (JSON object keys, CSV columns after the group column).
FIELDS = (
    "requests", "answered", "served_locally", "local_share", "escalated", "task_requests",
    "escalation_rate", "errors", "error_rate", "latency_p50_ms", "latency_p95_ms",
    "latency_p99_ms", "cost_usd", "fixed_cost_usd", "actual_cost_usd", "counterfactual_cost_usd",
    "savings_usd", "savings_rate", "tokens_in", "tokens_out", "feedback", "accuracy", "mean_score", "accuracy_note",
)
# Counts and sums read from SQL; a total is the sum of its groups' values.
_SUMS = ("requests", "answered", "served_locally", "routed_answered", "escalated",
         "task_requests", "errors", "cost_usd", "counterfactual_cost_usd", "tokens_in",
         "tokens_out")


@dataclass
class Report:
    by: str
    since: datetime | None
    until: datetime | None
    ledger: str  # the URL, password masked
    generated_at: datetime
    groups: list[dict[str, Any]] = field(default_factory=list)  # each: {"group": key, **FIELDS}
    total: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)  # each: versions.VERSION_FIELDS
    drift: list[dict[str, Any]] = field(default_factory=list)  # drift.drift_flags
    shadow: list[dict[str, Any]] = field(default_factory=list)  # versions.SHADOW_FIELDS: candidates in shadow mode
    fixed_cost_per_month: float = 0.0
    first_row_at: datetime | None = None  # the window's first row: where the span the fixed cost covers starts
    last_row_at: datetime | None = None  # its last row: where that span ends

    def to_dict(self) -> dict[str, Any]:
        iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
        return {
            "by": self.by,
            "since": iso(self.since),
            "until": iso(self.until),
            "ledger": self.ledger,
            "generated_at": iso(self.generated_at),
            "fixed_cost_per_month": self.fixed_cost_per_month,
            "covered_from": iso(self.first_row_at),
            "covered_until": iso(self.last_row_at),
            "groups": self.groups,
            "total": self.total,
            "versions": self.versions,
            "drift": self.drift,
            "shadow": self.shadow,
        }


def build_report(
    engine: Engine,
    by: str = "task",
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    fixed_cost_per_month: float = 0.0,
    bands: Mapping[str, Band] | None = None,
    promised: Mapping[str, float] | None = None,
) -> Report:
    """Aggregate the ledger rows in ``since <= created_at < until`` per ``by`` and in total,
    with accuracy from feedback, the per-version section and its drift flags (``bands``).

    ``fixed_cost_per_month`` (the hardware's cost whatever the traffic) is added pro rata over
    the time the ledger covers in the window, from its first row to its last (``covered_span``):
    to the total, and to each day when ``by`` is day; other groups cannot be charged a share
    (null). Not over ``since``..``until`` or ``now``: a gateway that ran 20 minutes would be
    charged a day's rent in a 24 h window, and two readers of the same rows at different times
    (the CLI, the dashboard) would disagree.

    ConfigError for an unknown ``by``, ``since >= until``, a database that cannot be read or
    one without the ledger table.
    """
    if by not in BY_CHOICES:
        raise ConfigError(f"--by {by!r}: choose one of {', '.join(BY_CHOICES)}")
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    report = Report(by=by, since=since, until=until, ledger=safe_url(engine.url),
                    generated_at=now or datetime.now(timezone.utc), fixed_cost_per_month=fixed_cost_per_month)
    try:
        with engine.connect() as conn, conn.begin():  # one read transaction: one snapshot
            fill_report(conn, report, bands, promised)
    except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:  # sqlite3: the raw latency cursor
        raise ConfigError(f"cannot read the ledger at {report.ledger}: {_first_line(exc)}") from None
    return report


def fill_report(conn: sa.Connection, report: Report, bands: Mapping[str, Band] | None = None,
                promised: Mapping[str, float] | None = None) -> None:
    """Every number of ``report`` (its by, window and fixed cost set), read inside ``conn``'s
    transaction, so a caller can read more in the same snapshot (the dashboard does)."""
    by, since, until = report.by, report.since, report.until
    inspector = sa.inspect(conn)
    if not inspector.has_table(requests.name):
        raise ConfigError(f"{report.ledger} has no ledger table ({requests.name}): is it a "
                          f"rightmodel ledger database?")
    # A ledger no gateway has upgraded to schema 0003 yet has no feedback to read.
    has_feedback = inspector.has_table(feedback.name)
    split = (requests.c.task, requests.c.specialist) if has_feedback else ()
    groups, total, parts = aggregate(conn, _group_key(by, conn.dialect.name), since, until, split)
    sums = versions.feedback_sums(conn, by, since, until) if has_feedback else {}
    report.versions = versions.version_rows(conn, since, until, parts) if has_feedback else []
    columns = {col["name"] for col in inspector.get_columns(requests.name)}
    report.shadow = versions.shadow_rows(conn, since, until) if "shadow_model" in columns else []
    report.first_row_at, report.last_row_at = covered_span(conn, since, until)
    fixed = fixed_share(report.fixed_cost_per_month, report.first_row_at, report.last_row_at)
    report.groups = [
        {"group": key, **metrics(values, sums.get(key), fixed(key) if by == "day" else None)}
        for key, values in _ordered(groups, by)
    ]
    report.total = metrics(total, versions.add_sums(list(sums.values())), fixed(None))
    report.drift = drift_flags(report.versions, bands or {}, promised)


def covered_span(conn: sa.Connection, since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The first and last ``created_at`` of the window's rows (None, None: no row).

    This is the time the fixed monthly cost is spread over: what the ledger shows the gateway
    covered, whatever the window asked for. It depends on the rows only, so every reader of the
    same rows (report, dashboard, CSV) charges the same share at any later time."""
    c, where = requests.c, _window(since, until)
    # Two queries, not one: SQLite answers a lone min() or max() from the created_at index (a
    # seek), but min() and max() together make it scan every row of the window.
    first = conn.execute(sa.select(sa.func.min(c.created_at)).where(*where)).scalar()
    last = conn.execute(sa.select(sa.func.max(c.created_at)).where(*where)).scalar()
    return _as_datetime(first), _as_datetime(last)


def _as_datetime(value: Any) -> datetime | None:
    """SQLite may hand ``min(created_at)`` back as its stored text."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        return _utc(datetime.fromisoformat(value))
    return None


def fixed_share(per_month: float, first: datetime | None, last: datetime | None) -> Callable[..., float]:
    """``share(start, seconds)``: the fixed cost falling in ``[start, start + seconds)`` of the
    covered span ``first``..``last`` (a day given as ``YYYY-MM-DD`` is 86,400 s; None: the whole
    span). One definition for the total, the days of ``--by day`` and the dashboard's buckets, so
    their shares add up to the total."""

    def share(start: datetime | str | None = None, seconds: float | None = None) -> float:
        if not per_month or first is None or last is None:
            return 0.0
        lo, hi = first, last
        if start is not None:
            if isinstance(start, str):
                try:
                    start = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
                except ValueError:
                    return 0.0
                seconds = 86400.0 if seconds is None else seconds
            lo, hi = max(lo, start), min(hi, start + timedelta(seconds=seconds or 0.0))
        return fixed_cost((hi - lo).total_seconds(), per_month)

    return share


# -- SQL ---------------------------------------------------------------------------------------


def _group_key(by: str, dialect: str) -> sa.ColumnElement:
    c = requests.c
    by = COLUMN_OF.get(by, by)
    if dialect == "postgresql":
        if by == "day":
            return sa.func.to_char(sa.func.timezone("UTC", c.created_at), "YYYY-MM-DD")
        return c[by]
    if by in ("task", "tenant"):
        # SQLite's unary + keeps the (task|tenant, created_at) index out of the GROUP BY, so a
        # --since/--until window searches the created_at index instead of scanning a whole index
        # (1M rows, last 24 h of 30 days: 0.003 s instead of 0.065 s; unbounded: same speed).
        return sa.literal_column(f"+{requests.name}.{by}", type_=sa.String)
    if by != "day":
        return c[by]
    # SQLite stores created_at as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (ledger.store.to_row).
    return sa.func.substr(c.created_at, 1, 10, type_=sa.String)


def _window(since: datetime | None, until: datetime | None) -> list[sa.ColumnElement]:
    c = requests.c
    where = []
    if since is not None:
        where.append(c.created_at >= since)
    if until is not None:
        where.append(c.created_at < until)
    return where


def _count_if(cond: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _sum_columns() -> list[sa.ColumnElement]:
    c = requests.c
    answered = c.status < 400
    return [
        sa.func.count().label("requests"),
        _count_if(answered).label("answered"),
        _count_if(sa.and_(answered, c.route == "specialist")).label("served_locally"),
        _count_if(sa.and_(answered, c.route != "embeddings")).label("routed_answered"),
        _count_if(c.escalated).label("escalated"),
        _count_if(c.task.is_not(None)).label("task_requests"),
        _count_if(c.status >= 400).label("errors"),
        sa.func.sum(c.cost_usd).label("cost_usd"),
        sa.func.sum(c.counterfactual_cost_usd).label("counterfactual_cost_usd"),
        sa.func.sum(c.tokens_in).label("tokens_in"),
        sa.func.sum(c.tokens_out).label("tokens_out"),
    ]


def _percentile_columns() -> list[sa.ColumnElement]:
    """PostgreSQL only: nearest-rank percentiles of answered rows' latency, in the database."""
    c = requests.c
    return [
        sa.func.percentile_disc(p / 100).within_group(c.latency_ms).filter(c.status < 400).label(f"p{p}")
        for p in PERCENTILES
    ]


def aggregate(
    conn: sa.Connection, group_key: sa.ColumnElement, since, until, split: Sequence[sa.ColumnElement] = ()
) -> tuple[dict[Any, dict], dict, dict[tuple, dict]]:
    """Sums and latency percentiles per value of ``group_key`` (a column expression over the
    ledger table) and in total; the raw values ``metrics()`` turns into report fields.

    ``split``: more columns to group the sums by in the same scan; their finer sums come back as
    ``parts[(group, *split values)]`` (one pass over a million rows instead of one per view)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        try:
            return _aggregate(conn, group_key, since, until, split, concat_latencies=True)
        except sa.exc.DBAPIError as exc:  # a window whose latencies pass SQLite's string length limit
            if "too big" not in str(exc.orig):
                raise
    return _aggregate(conn, group_key, since, until, split, concat_latencies=False)


def _aggregate(conn: sa.Connection, group_key, since, until, split, concat_latencies: bool):
    dialect = conn.dialect.name
    key = group_key.label("g")
    where = _window(since, until)
    labels = [f"s{i}" for i in range(len(split))]
    split_cols = [col.label(name) for col, name in zip(split, labels)]
    extra = [_latency_concat().label("lat")] if concat_latencies else []
    if dialect == "sqlite":
        # The GROUP BY sorts every row; SQLite's sorter may use helper threads (1M rows: ~20% faster).
        conn.exec_driver_sql(f"PRAGMA threads = {min(4, os.cpu_count() or 1)}")
    query = (sa.select(key, *split_cols, *_sum_columns(), *extra).select_from(requests).where(*where)
             .group_by(key, *split_cols))
    groups: dict[Any, dict] = {}
    parts: dict[tuple, dict] = {}
    latencies: dict[Any, list] = defaultdict(list)
    for row in conn.execute(query):
        values = dict(row._mapping)
        g = values.pop("g")
        if concat_latencies:
            latencies[g].append(values.pop("lat"))
        parts[(g, *(values.pop(name) for name in labels))] = values
        acc = groups.setdefault(g, dict.fromkeys(_SUMS, 0))
        for name in _SUMS:
            acc[name] += values[name] or 0
    total = {name: _add(v.get(name) for v in groups.values()) for name in _SUMS}
    if dialect == "postgresql":
        for row in conn.execute(sa.select(key, *_percentile_columns()).where(*where).group_by(key)):
            values = dict(row._mapping)
            groups.setdefault(values.pop("g"), dict.fromkeys(_SUMS, 0)).update(values)
        row = conn.execute(sa.select(*_percentile_columns()).where(*where)).one()
        total.update(row._mapping)
        return groups, total, parts
    import numpy as np

    if concat_latencies:
        by_group = {g: _parse_concat(texts) for g, texts in latencies.items()}
    else:
        by_group = {g: np.asarray(v, dtype=np.float64) for g, v in _sqlite_latencies(conn, key, where).items()}
    for g, values in groups.items():
        lat = by_group.get(g)
        lat = np.sort(lat) if lat is not None else np.empty(0)
        by_group[g] = lat
        values.update(_ranks(lat))
    total.update(_ranks(np.sort(np.concatenate([np.empty(0), *by_group.values()]))))
    return groups, total, parts


def _latency_concat() -> sa.ColumnElement:
    """SQLite: the answered rows' latencies of a group as one comma-separated string, built in
    the GROUP BY's own scan. SQLite has no percentile function; this is the cheapest way to
    get the values out (1M rows: the GROUP BY takes ~0.3 s more, against ~1.4 s for streaming
    (group, latency) rows to Python). REAL is printed with 15 significant digits, far finer
    than the report's 0.001 ms."""
    c = requests.c
    return sa.func.group_concat(sa.case((sa.and_(c.status < 400, c.latency_ms.is_not(None)), c.latency_ms)))


def _parse_concat(texts: Sequence[str | None]):
    import numpy as np

    arrays = [np.fromstring(t, sep=",") for t in texts if t]
    return np.concatenate(arrays) if arrays else np.empty(0)


def _sqlite_latencies(conn: sa.Connection, key: sa.ColumnElement, where: list) -> dict[Any, list[float]]:
    """``latency_ms`` of answered rows per group, unsorted, read with the driver's own cursor in
    the same transaction: the fallback when a group's latencies are too many for one string."""
    c = requests.c
    query = sa.select(key, c.latency_ms).select_from(requests).where(*where, c.status < 400, c.latency_ms.is_not(None))
    dialect = conn.dialect
    compiled = query.compile(dialect=dialect)
    params = compiled.construct_params()
    args = []
    for name in compiled.positiontup or ():  # SQLite's paramstyle is positional (qmark)
        # Through the column type's bind processor: datetimes become the stored text format.
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        args.append(process(params[name]) if process else params[name])
    out: dict[Any, list[float]] = defaultdict(list)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), tuple(args))
        while True:
            rows = cursor.fetchmany(50_000)
            if not rows:
                break
            for g, latency in rows:
                out[g].append(latency)
    finally:
        cursor.close()
    return out


def _ranks(ordered) -> dict[str, float | None]:
    """Nearest-rank percentiles of sorted values (a list or a numpy array)."""
    n = len(ordered)
    return {f"p{p}": float(ordered[max(0, (p * n + 99) // 100 - 1)]) if n else None for p in PERCENTILES}


# -- results ----------------------------------------------------------------------------------


def _add(values) -> float | int:
    return sum(v for v in values if v is not None)


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den else None


def _money(value: float | None) -> float:
    return round(float(value or 0.0), 9) + 0.0  # + 0.0: no "-0.0"


def _ms(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 3)


def metrics(v: dict[str, Any], feedback_sums: dict[str, Any] | None = None, fixed: float | None = None) -> dict[str, Any]:
    """The report's fields from one group's raw sums (``aggregate``): the one place where cost,
    savings, rates and accuracy are defined. The report's groups and total, the dashboard's
    headline, task view and time buckets, and the CSV all come from here. ``fixed``: the fixed
    cost's share for this group (None: the group cannot carry one)."""
    cost, cf = _money(v.get("cost_usd")), _money(v.get("counterfactual_cost_usd"))
    actual = _money(cost + (fixed or 0.0))
    savings = _money(cf - actual)
    accuracy = versions.accuracy_fields(feedback_sums)
    requests_, answered = int(v.get("requests") or 0), int(v.get("answered") or 0)
    out = {
        "requests": requests_,
        "answered": answered,
        "served_locally": int(v.get("served_locally") or 0),
        "local_share": _ratio(v.get("served_locally") or 0, v.get("routed_answered") or 0),
        "escalated": int(v.get("escalated") or 0),
        "task_requests": int(v.get("task_requests") or 0),
        "escalation_rate": _ratio(v.get("escalated") or 0, v.get("task_requests") or 0),
        "errors": int(v.get("errors") or 0),
        "error_rate": _ratio(v.get("errors") or 0, requests_),
        **{f"latency_p{p}_ms": _ms(v.get(f"p{p}")) for p in PERCENTILES},
        "cost_usd": cost,
        "fixed_cost_usd": None if fixed is None else _money(fixed),
        "actual_cost_usd": actual,
        "counterfactual_cost_usd": cf,
        "savings_usd": savings,
        "savings_rate": _ratio(savings, cf),
        "tokens_in": int(v.get("tokens_in") or 0),
        "tokens_out": int(v.get("tokens_out") or 0),
        **accuracy,
        "accuracy_note": None if accuracy["feedback"] or accuracy["mean_score"] is not None else ACCURACY_NOTE,
    }
    assert tuple(out) == FIELDS
    return out


def _ordered(groups: dict[Any, dict], by: str) -> list[tuple[Any, dict]]:
    """Days in date order; other groups by requests, most first, then name (missing last)."""
    if by == "day":
        return sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    return sorted(groups.items(), key=lambda kv: (-(kv[1]["requests"] or 0), kv[0] is None, str(kv[0] or "")))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
