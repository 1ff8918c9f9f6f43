"""`rightmodel report`: golden numbers on a hand-made ledger, every --by and --format, time
windows, an empty ledger, bad input (one line, exit 2), and the same numbers on PostgreSQL.

The rows go in the way the gateway's go: ``LedgerRecord`` → journal encoding → ``store.to_row``
→ ``store.insert_rows``. Expected values are worked out by hand in the comments of ``ROWS``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from rightmodel.errors import ConfigError
from rightmodel.ledger import LedgerRecord, store
from rightmodel.ledger.record import encode
from rightmodel.report import build_report, parse_time
from rightmodel.report.aggregate import FIELDS, _ranks

from pg_server import pg_server, pg_url  # noqa: F401  (fixtures)

D1 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
D2 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # exactly midnight: tests the bounds
D3 = datetime(2026, 11, 3, 23, 59, 59, 999999, tzinfo=timezone.utc)
ERR = "UpstreamError: bad gateway"


def rec(i: int, at: datetime, **kw) -> LedgerRecord:
    base = dict(request_id=f"req_{i:04d}", created_at=at, endpoint="/v1/chat/completions", status=200,
                routing_ms=0.2, model_ms=1.0)
    return LedgerRecord(**{**base, **kw})


# Ten rows over three UTC days. Answered = status < 400.
ROWS = [
    # day 1: task "intent"
    rec(1, D1, task="intent", route="specialist", model="intent@v1", tenant="acme", latency_ms=10,
        cost_usd=0.001, counterfactual_cost_usd=0.010, tokens_in=100, tokens_out=5),
    rec(2, D1 + timedelta(minutes=1), task="intent", route="specialist", model="intent@v1", tenant="acme",
        latency_ms=20, cost_usd=0.001, counterfactual_cost_usd=0.010, tokens_in=100, tokens_out=5),
    rec(3, D1 + timedelta(minutes=2), task="intent", route="escalated", escalated=True, model="gpt-4o",
        tenant="acme", latency_ms=500, cost_usd=0.011, counterfactual_cost_usd=0.012, tokens_in=200, tokens_out=50),
    rec(4, D1 + timedelta(minutes=3), task="intent", route="escalation_unavailable", model=None, tenant="beta",
        latency_ms=30, cost_usd=0.001, counterfactual_cost_usd=0.008, tokens_in=80, tokens_out=0),
    # day 2: no task
    rec(5, D2, route="remote", model="gpt-4o", tenant="beta", latency_ms=800, cost_usd=0.02,
        counterfactual_cost_usd=0.02, tokens_in=300, tokens_out=100),
    rec(6, D2 + timedelta(hours=1), route="remote", model="gpt-4o", tenant="beta", status=502, error=ERR,
        latency_ms=1000),
    rec(7, D2 + timedelta(hours=2), route="embeddings", endpoint="/v1/embeddings", model="all-MiniLM-L6-v2",
        tenant="acme", latency_ms=15, cost_usd=0.0001, tokens_in=40),
    rec(8, D2 + timedelta(hours=3), route="rejected", status=429, error="RateLimited: slow down", latency_ms=1),
    # day 3: task "sentiment"
    rec(9, D3 - timedelta(hours=1), task="sentiment", route="specialist", model="sentiment@v2", tenant="acme",
        latency_ms=40, cost_usd=0.002, counterfactual_cost_usd=0.005, tokens_in=50, tokens_out=2),
    rec(10, D3, task="sentiment", route="escalated", escalated=True, model="claude-sonnet", tenant="beta",
        status=504, error=ERR, latency_ms=2000, cost_usd=0.001),
]

# Hand-computed. Answered latencies: 10 15 20 30 40 500 800 (n=7): p50 = 4th = 30, p95 = p99 = 7th.
TOTAL = {
    "requests": 10, "answered": 7, "served_locally": 3, "local_share": 0.5,  # 3 / 6 (embeddings out)
    "escalated": 2, "task_requests": 6, "escalation_rate": 0.333333, "errors": 3, "error_rate": 0.3,
    "latency_p50_ms": 30.0, "latency_p95_ms": 800.0, "latency_p99_ms": 800.0,
    "cost_usd": 0.0371, "fixed_cost_usd": 0.0, "actual_cost_usd": 0.0371, "counterfactual_cost_usd": 0.065, "savings_usd": 0.0279,
    "savings_rate": 0.429231,
    "tokens_in": 870, "tokens_out": 162, "feedback": 0, "accuracy": None, "mean_score": None, "accuracy_note": "no feedback recorded",
}
INTENT = {  # rows 1-4; also the 2026-11-01 day
    "requests": 4, "answered": 4, "served_locally": 2, "local_share": 0.5, "escalated": 1,
    "task_requests": 4, "escalation_rate": 0.25, "errors": 0, "error_rate": 0.0,
    "latency_p50_ms": 20.0, "latency_p95_ms": 500.0, "latency_p99_ms": 500.0,
    "cost_usd": 0.014, "fixed_cost_usd": None, "actual_cost_usd": 0.014, "counterfactual_cost_usd": 0.04, "savings_usd": 0.026,
    "savings_rate": 0.65,
    "tokens_in": 480, "tokens_out": 60, "feedback": 0, "accuracy": None, "mean_score": None, "accuracy_note": "no feedback recorded",
}
NO_TASK = {  # rows 5-8; also the 2026-11-02 day
    "requests": 4, "answered": 2, "served_locally": 0, "local_share": 0.0, "escalated": 0,
    "task_requests": 0, "escalation_rate": None, "errors": 2, "error_rate": 0.5,
    "latency_p50_ms": 15.0, "latency_p95_ms": 800.0, "latency_p99_ms": 800.0,
    "cost_usd": 0.0201, "fixed_cost_usd": None, "actual_cost_usd": 0.0201, "counterfactual_cost_usd": 0.02, "savings_usd": -0.0001,
    "savings_rate": -0.005,
    "tokens_in": 340, "tokens_out": 100, "feedback": 0, "accuracy": None, "mean_score": None, "accuracy_note": "no feedback recorded",
}
SENTIMENT = {  # rows 9-10; also the 2026-11-03 day
    "requests": 2, "answered": 1, "served_locally": 1, "local_share": 1.0, "escalated": 1,
    "task_requests": 2, "escalation_rate": 0.5, "errors": 1, "error_rate": 0.5,
    "latency_p50_ms": 40.0, "latency_p95_ms": 40.0, "latency_p99_ms": 40.0,
    "cost_usd": 0.003, "fixed_cost_usd": None, "actual_cost_usd": 0.003, "counterfactual_cost_usd": 0.005, "savings_usd": 0.002,
    "savings_rate": 0.4,
    "tokens_in": 50, "tokens_out": 2, "feedback": 0, "accuracy": None, "mean_score": None, "accuracy_note": "no feedback recorded",
}


def fill(url: str, rows: list[LedgerRecord]) -> None:
    engine = store.create_engine(url)
    try:
        store.migrate(engine)
        store.insert_rows(engine, [store.to_row(orjson.loads(encode(r))) for r in rows])
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "ledger.db"
    url = f"sqlite:///{path}"
    fill(url, ROWS)
    return url


@pytest.fixture(scope="module")
def engine(ledger):
    e = store.create_engine(ledger)
    yield e
    e.dispose()


def as_total(group: dict) -> dict:
    """A group's expected values as a total row (totals carry the fixed cost share: 0 here)."""
    return {**group, "fixed_cost_usd": 0.0}


def groups(report) -> dict:
    return {g["group"]: {k: v for k, v in g.items() if k != "group"} for g in report.groups}


def test_totals_and_by_task(engine):
    r = build_report(engine, "task")
    assert r.total == TOTAL
    assert [g["group"] for g in r.groups] == ["intent", None, "sentiment"]  # most requests first, missing last on a tie
    assert groups(r) == {"intent": INTENT, None: NO_TASK, "sentiment": SENTIMENT}


def test_by_day_matches_the_task_groups_of_this_ledger(engine):
    r = build_report(engine, "day")
    assert [g["group"] for g in r.groups] == ["2026-11-01", "2026-11-02", "2026-11-03"]  # date order
    assert groups(r) == {"2026-11-01": as_total(INTENT), "2026-11-02": as_total(NO_TASK), "2026-11-03": as_total(SENTIMENT)}
    assert r.total == TOTAL


def test_by_route(engine):
    r = build_report(engine, "route")
    assert [g["group"] for g in r.groups] == [
        "specialist", "escalated", "remote", "embeddings", "escalation_unavailable", "rejected"]
    g = groups(r)
    assert g["specialist"]["local_share"] == 1.0 and g["specialist"]["requests"] == 3
    assert g["specialist"]["latency_p50_ms"] == 20.0 and g["specialist"]["latency_p99_ms"] == 40.0
    assert g["escalated"]["escalation_rate"] == 1.0 and g["escalated"]["error_rate"] == 0.5
    assert g["escalated"]["latency_p50_ms"] == 500.0  # the failed one (2000 ms) is not in latency
    assert g["embeddings"]["local_share"] is None  # nothing routed: no share, not 0
    assert g["embeddings"]["savings_rate"] is None and g["embeddings"]["savings_usd"] == -0.0001
    assert g["rejected"] == {**g["rejected"], "errors": 1, "error_rate": 1.0, "answered": 0,
                             "latency_p50_ms": None, "cost_usd": 0.0}
    assert g["escalation_unavailable"]["served_locally"] == 0 and g["escalation_unavailable"]["local_share"] == 0.0
    assert r.total == TOTAL


def test_by_tenant(engine):
    r = build_report(engine, "tenant")
    assert [g["group"] for g in r.groups] == ["acme", "beta", None]
    g = groups(r)
    # acme: rows 1 2 3 7 9; answered latencies 10 15 20 40 500
    assert g["acme"]["requests"] == 5 and g["acme"]["served_locally"] == 3
    assert g["acme"]["local_share"] == 0.75  # 3 of 4 (the embeddings row is not routed)
    assert (g["acme"]["latency_p50_ms"], g["acme"]["latency_p95_ms"]) == (20.0, 500.0)
    assert g["acme"]["cost_usd"] == 0.0151 and g["acme"]["counterfactual_cost_usd"] == 0.037
    # beta: rows 4 5 6 10
    assert g["beta"]["errors"] == 2 and g["beta"]["escalation_rate"] == 0.5 and g["beta"]["local_share"] == 0.0
    assert g[None]["requests"] == 1 and g[None]["error_rate"] == 1.0
    assert r.total == TOTAL


def test_by_model(engine):
    r = build_report(engine, "model")
    assert [g["group"] for g in r.groups] == [
        "gpt-4o", "intent@v1", None, "all-MiniLM-L6-v2", "claude-sonnet", "sentiment@v2"]
    g = groups(r)
    assert g["gpt-4o"]["requests"] == 3 and g["gpt-4o"]["errors"] == 1
    assert (g["gpt-4o"]["latency_p50_ms"], g["gpt-4o"]["latency_p99_ms"]) == (500.0, 800.0)
    assert g["intent@v1"]["local_share"] == 1.0 and g["intent@v1"]["savings_usd"] == 0.018
    assert r.total == TOTAL


@pytest.mark.parametrize("by", ["task", "model", "tenant", "day", "route"])
def test_groups_add_up_to_the_total(engine, by):
    r = build_report(engine, by)
    for name in ("requests", "answered", "served_locally", "escalated", "task_requests", "errors",
                 "tokens_in", "tokens_out"):
        assert sum(g[name] for g in r.groups) == r.total[name], name
    for name in ("cost_usd", "counterfactual_cost_usd", "savings_usd"):
        assert sum(g[name] for g in r.groups) == pytest.approx(r.total[name], abs=1e-9), name


@pytest.mark.parametrize("by", ["task", "tenant", "day"])
def test_latencies_too_long_for_one_sqlite_string_fall_back_to_streaming(tmp_path, by):
    """SQLite percentiles come from group_concat in the GROUP BY; a window whose latencies pass
    SQLite's string length limit must give the same report through the streaming fallback."""
    import random
    import sqlite3

    import sqlalchemy as sa

    rng = random.Random(3)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fill(url, [rec(i, D1 + timedelta(minutes=i), task=rng.choice(["a", "b"]), tenant=rng.choice(["x", "y"]),
                   route="specialist", model="a@v1", latency_ms=round(rng.uniform(1, 999), 3), cost_usd=0.001)
               for i in range(600)])
    limit = 2000  # longer than any stored value; shorter than ~300 latencies joined by commas
    normal, tight = store.create_engine(url), store.create_engine(url)
    sa.event.listen(tight, "connect", lambda dbapi, _record: dbapi.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit))
    try:
        with tight.connect() as conn:  # the limit is real: one group's latencies do not fit
            with pytest.raises(sa.exc.DataError):
                conn.exec_driver_sql("SELECT group_concat(latency_ms) FROM ledger_requests").fetchall()
        narrow, usual = build_report(tight, by), build_report(normal, by)
    finally:
        tight.dispose()
        normal.dispose()
    assert narrow.total["latency_p95_ms"] is not None
    assert (narrow.groups, narrow.total, narrow.versions) == (usual.groups, usual.total, usual.versions)


def test_nearest_rank_percentiles():
    assert _ranks([]) == {"p50": None, "p95": None, "p99": None}
    assert _ranks([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    assert _ranks([float(i) for i in range(1, 101)]) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert _ranks([float(i) for i in range(1, 1001)]) == {"p50": 500.0, "p95": 950.0, "p99": 990.0}
    assert _ranks([1.0, 2.0]) == {"p50": 1.0, "p95": 2.0, "p99": 2.0}


def test_windows_since_inclusive_until_exclusive(engine):
    r = build_report(engine, "task", since=D2, until=D2 + timedelta(days=1))
    assert groups(r) == {None: NO_TASK} and r.total == as_total(NO_TASK)
    assert build_report(engine, "task", until=D2).total == as_total(INTENT)  # row 5 at exactly D2 is out
    r = build_report(engine, "day", since=D2)
    assert [g["group"] for g in r.groups] == ["2026-11-02", "2026-11-03"]
    r = build_report(engine, "day", since=D3)  # the last row, at 23:59:59.999999
    assert r.total["requests"] == 1
    # an offset is honoured: 01:00+01:00 is D2
    since = parse_time("2026-11-02T01:00:00+01:00", D3, "--since")
    assert build_report(engine, "task", since=since, until=parse_time("2026-11-03", D3, "--until")).total == as_total(NO_TASK)


def test_time_forms():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    assert parse_time("24h", now, "--since") == now - timedelta(hours=24)
    assert parse_time("7d", now, "--since") == now - timedelta(days=7)
    assert parse_time("2w", now, "--since") == now - timedelta(weeks=2)
    assert parse_time("90m", now, "--since") == now - timedelta(minutes=90)
    assert parse_time("2026-11-01", now, "--since") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_time("2026-11-01T12:30:00Z", now, "--since") == datetime(2026, 11, 1, 12, 30, tzinfo=timezone.utc)
    for bad in ("yesterday", "7 days", "-7d", "2026-13-01", ""):
        with pytest.raises(ConfigError, match="--since"):
            parse_time(bad, now, "--since")


def test_empty_ledger_and_empty_window(tmp_path, engine):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fill(url, [])
    e = store.create_engine(url)
    try:
        for r in (build_report(e, "task"), build_report(engine, "task", since=datetime(2030, 1, 1, tzinfo=timezone.utc))):
            assert r.groups == []
            assert r.total["requests"] == 0 and r.total["cost_usd"] == 0.0
            assert all(r.total[k] is None for k in ("local_share", "escalation_rate", "error_rate",
                                                    "latency_p50_ms", "savings_rate", "accuracy"))
    finally:
        e.dispose()
    out = cli("--ledger-url", url, "--format", "csv")
    assert out.splitlines()[1].startswith("total,,0,0,0,,0,0,,0,,,,,0.0,0.0,0.0,0.0,0.0,,0,0,0,,,no feedback recorded")
    assert "total" in cli("--ledger-url", url)


def test_bad_arguments_to_build_report(engine):
    with pytest.raises(ConfigError, match="--by"):
        build_report(engine, "week")
    with pytest.raises(ConfigError, match="must be before"):
        build_report(engine, "task", since=D2, until=D1)


# -- through the command line -----------------------------------------------------------------


def cli(*args: str) -> str:
    """`rightmodel report ...` in this process (the app main() runs); its stdout."""
    from typer.testing import CliRunner

    from rightmodel.cli import build_app

    env = {"RIGHTMODEL_LEDGER_URL": None, "RIGHTMODEL_HOME": None, "COLUMNS": "240"}
    result = CliRunner().invoke(build_app(), ["report", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`rightmodel report ...` as a real process, through main() (errors, exit codes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RIGHTMODEL_LEDGER_URL", "RIGHTMODEL_HOME")}
    return subprocess.run([sys.executable, "-m", "rightmodel.cli", "report", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60)


@pytest.mark.parametrize("by", ["task", "model", "tenant", "day", "route"])
def test_json_output(ledger, by):
    out = json.loads(cli("--ledger-url", ledger, "--by", by, "--format", "json"))
    assert out["by"] == by and out["since"] is None and out["until"] is None
    assert out["ledger"] == ledger
    assert out["total"] == TOTAL
    assert all(list(g) == ["group", *FIELDS] for g in out["groups"])
    expected = [INTENT, NO_TASK, SENTIMENT]
    if by == "day":
        expected = [as_total(g) for g in expected]
    if by in ("task", "day"):
        assert [{k: v for k, v in g.items() if k != "group"} for g in out["groups"]] == expected


@pytest.mark.parametrize("by", ["task", "model", "tenant", "day", "route"])
def test_csv_output(ledger, by):
    out = cli("--ledger-url", ledger, "--by", by, "--format", "csv")
    main, versions, drift, shadow = out.split("\n\n")  # sections: a header each, even when empty
    assert versions.startswith("row,task,specialist,consulted,") and drift.startswith("row,task,specialist,metric,value,band_min")
    assert shadow.startswith("row,task,candidate,")
    rows = list(csv.DictReader(io.StringIO(main)))
    assert list(rows[0]) == ["row", by, *FIELDS]
    assert [r["row"] for r in rows] == ["group"] * (len(rows) - 1) + ["total"]
    total = rows[-1]
    assert total[by] == "" and total["requests"] == "10" and total["local_share"] == "0.5"
    assert total["latency_p50_ms"] == "30.0" and total["savings_rate"] == "0.429231"
    assert not re.search(r"\d[eE][-+]?\d", out)  # numbers in plain decimals, never exponent notation
    assert total["accuracy"] == "" and total["accuracy_note"] == "no feedback recorded"
    assert sum(int(r["requests"]) for r in rows[:-1]) == 10
    if by == "task":
        assert [r["task"] for r in rows[:-1]] == ["intent", "", "sentiment"]
        assert rows[1]["escalation_rate"] == "" and rows[1]["error_rate"] == "0.5"


@pytest.mark.parametrize("by", ["task", "model", "tenant", "day", "route"])
def test_table_output(ledger, by):
    out = cli("--ledger-url", ledger, "--by", by)
    assert f"by {by}, from the first row to the newest row" in out
    lines = out.splitlines()
    total = next(line for line in lines if line.strip().startswith("total"))
    assert total.split()[1:] == ["10", "50.0%", "33.3%", "30.0%", "30.0", "800", "800", "0", "n/a",  # requests .. accuracy
                                 "$0.0371", "$0", "$0.065", "$0.0279", "42.9%", "870", "162"]  # cost .. tokens out
    assert "(n/a: no feedback recorded)" in " ".join(out.split())
    if by in ("task", "model", "tenant"):
        assert "(none)" in out


def test_table_on_a_narrow_terminal_splits_and_never_cuts_digits(engine):
    from rich.console import Console

    from rightmodel.report.render import render_table

    report = build_report(engine, "task")
    report.total = {**report.total, "tokens_in": 123_456_789_012}
    buf = io.StringIO()
    render_table(report, Console(file=buf, width=90))
    out = buf.getvalue()
    assert "· traffic" in out and "· money" in out and "…" not in out
    assert all(len(line) <= 90 for line in out.splitlines())
    assert "123,456,789,012" in out and "no feedback recorded" in out
    buf = io.StringIO()
    render_table(report, Console(file=buf, width=60))  # too narrow even for half: cells fold
    assert "…" not in buf.getvalue()


def test_cli_window_options(ledger):
    out = json.loads(cli("--ledger-url", ledger, "--since", "2026-11-02", "--until", "2026-11-03T00:00:00Z", "--format", "json"))
    assert out["since"] == "2026-11-02T00:00:00Z" and out["until"] == "2026-11-03T00:00:00Z"
    assert out["total"] == as_total(NO_TASK)


def test_relative_since(tmp_path):
    now = datetime.now(timezone.utc)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fill(url, [rec(1, now - timedelta(hours=2), route="specialist", task="t", latency_ms=5),
               rec(2, now - timedelta(days=3), route="specialist", task="t", latency_ms=7),
               rec(3, now - timedelta(days=10), route="specialist", task="t", latency_ms=9)])
    count = lambda since: json.loads(cli("--ledger-url", url, "--since", since, "--format", "json"))["total"]["requests"]  # noqa: E731
    assert (count("24h"), count("7d"), count("30d"), count("30m")) == (1, 2, 3, 0)


def test_ledger_found_like_serve_finds_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    fill(f"sqlite:///{home / 'ledger.db'}", ROWS[:2])
    elsewhere = tmp_path / "other.db"
    fill(f"sqlite:///{elsewhere}", ROWS[:3])
    total = lambda *a: json.loads(cli(*a, "--format", "json"))["total"]["requests"]  # noqa: E731
    assert total("--home", str(home)) == 2
    conf = tmp_path / "c.yaml"
    conf.write_text(f"version: 1\nstorage:\n  home: {home}\n")
    assert total("--config", str(conf)) == 2  # storage.home
    conf.write_text(f"version: 1\nstorage:\n  home: {home}\n  ledger_url: sqlite:///{elsewhere}\n")
    assert total("--config", str(conf)) == 3  # storage.ledger_url wins over the home
    assert total("--config", str(conf), "--ledger-url", f"sqlite:///{home / 'ledger.db'}") == 2  # the option wins
    assert run("--format", "json", cwd=home.parent).returncode == 2  # ./.rightmodel/ledger.db: none here
    (tmp_path / ".rightmodel").mkdir()
    fill(f"sqlite:///{tmp_path / '.rightmodel' / 'ledger.db'}", ROWS[:1])
    done = run("--format", "json", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["total"]["requests"] == 1


def test_bad_input_is_one_line_and_exit_2(ledger, tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database")
    cases = [
        (["--ledger-url", ledger, "--since", "yesterday"], "--since 'yesterday' is not a time"),
        (["--ledger-url", ledger, "--until", "soon"], "--until 'soon' is not a time"),
        (["--ledger-url", ledger, "--by", "week"], "--by 'week': choose one of task, model, tenant, day, route"),
        (["--ledger-url", ledger, "--format", "xml"], "--format 'xml': choose one of table, json, csv"),
        (["--ledger-url", ledger, "--since", "2026-11-03", "--until", "2026-11-01"], "must be before --until"),
        (["--home", str(tmp_path / "nowhere")], "no ledger database at"),
        (["--ledger-url", f"sqlite:///{garbage}"], "cannot read the ledger"),
        (["--ledger-url", "postgresql+psycopg://nobody@127.0.0.1:9/none"], "cannot read the ledger"),
        (["--ledger-url", "mysql://x/y"], "only SQLite and PostgreSQL"),
    ]
    for args, message in cases:
        done = run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == "", args
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "nowhere").exists()  # nothing created by a read


def test_postgresql_gives_the_same_numbers(engine, pg_url):  # noqa: F811
    fill(pg_url, ROWS)
    pg = store.create_engine(pg_url)
    try:
        for by in ("task", "model", "tenant", "day", "route"):
            ours, theirs = build_report(engine, by), build_report(pg, by)
            assert theirs.total == ours.total, by
            assert theirs.groups == ours.groups, by
        window = build_report(pg, "task", since=D2, until=D2 + timedelta(days=1))
        assert window.total == as_total(NO_TASK)
    finally:
        pg.dispose()


def test_fixed_monthly_cost_is_spread_over_the_time_the_rows_cover(engine):
    """Pro rata over the window's first row to its last, not over since..until or now: a 24 h
    window over a gateway that ran 20 minutes is charged 20 minutes (issue 21's -7332%)."""
    per_month = 365.25 / 12  # the calendar-average month (constellation/costs.py): exactly $1 a day
    span_days = (D3 - D1).total_seconds() / 86400  # D1 10:00 .. D3 23:59:59.999999: 2.58 days
    since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 4, tzinfo=timezone.utc)
    r = build_report(engine, "day", since=since, until=until, fixed_cost_per_month=per_month)
    assert r.total["fixed_cost_usd"] == pytest.approx(span_days)
    assert r.to_dict()["covered_from"] == "2026-11-01T10:00:00Z" and r.to_dict()["covered_until"] == "2026-11-03T23:59:59.999999Z"
    assert r.total["actual_cost_usd"] == pytest.approx(TOTAL["cost_usd"] + span_days)
    assert r.total["savings_usd"] == pytest.approx(TOTAL["counterfactual_cost_usd"] - TOTAL["cost_usd"] - span_days)
    assert r.total["savings_rate"] == pytest.approx(r.total["savings_usd"] / TOTAL["counterfactual_cost_usd"], abs=1e-6)
    # Each day carries the part of the covered span inside it; the days add up to the total.
    assert [g["fixed_cost_usd"] for g in r.groups] == pytest.approx([14 / 24, 1.0, 1.0], abs=1e-6)
    assert sum(g["fixed_cost_usd"] for g in r.groups) == pytest.approx(r.total["fixed_cost_usd"])
    # Half a day asked for, four rows three minutes apart in it: three minutes charged.
    half = build_report(engine, "task", since=since, until=since + timedelta(hours=12), fixed_cost_per_month=per_month)
    assert half.total["fixed_cost_usd"] == pytest.approx(3 / 1440) and all(g["fixed_cost_usd"] is None for g in half.groups)
    # Whatever the window's nominal length or the time of reading: the same rows, the same share.
    for window in ({}, {"since": since - timedelta(days=30)}, {"now": D3 + timedelta(days=300)}):
        assert build_report(engine, "task", fixed_cost_per_month=per_month, **window).total == r.total
    one_row = build_report(engine, "task", since=D2, until=D2 + timedelta(minutes=1), fixed_cost_per_month=per_month)
    assert one_row.total["requests"] == 1 and one_row.total["fixed_cost_usd"] == 0.0  # one row covers no time


def test_dollars_print_as_dollars_and_rates_as_percentages():
    from rightmodel.report.render import pct, usd

    cases = [(0.000111, "$0.000111"), (1.11e-4, "$0.000111"), (0.0371, "$0.0371"), (0.5, "$0.50"), (0.04, "$0.04"), (0.0001, "$0.0001"), (1.5, "$1.50"),
             (1234.567, "$1,234.57"), (-1.62, "-$1.62"), (-0.00012345, "-$0.000123"), (0.0, "$0"), (2e-9, "$0.000000002"), (1.2345e-9, "$0.00000000123"),
             (None, "–")]
    assert [usd(v) for v, _ in cases] == [text for _, text in cases]
    assert [pct(v) for v in (0.82, -72.0, 0.0, None)] == ["82.0%", "-7200.0%", "0.0%", "–"]


def test_drift_flags_need_evidence_and_name_the_band():
    from rightmodel.report.drift import DEFAULT_BAND_KEY, Band, drift_flags

    def version(task, **kw):
        base = {"task": task, "specialist": f"{task}@v1", "consulted": 100, "escalation_rate": 0.1,
                "accepted_feedback": 40, "accepted_accuracy": 0.95}
        return {**base, **kw}

    bands = {DEFAULT_BAND_KEY: Band(accuracy_min=0.9, escalation_rate_max=0.3, min_feedback=30, min_requests=50),
             "strict": Band(accuracy_min=0.99, escalation_rate_min=0.2)}
    assert drift_flags([version("a")], bands) == []  # inside the default band
    flags = drift_flags([version("a", accepted_accuracy=0.8, escalation_rate=0.5)], bands)
    assert [(f["metric"], f["value"], f["band"]) for f in flags] == [("accuracy", 0.8, [0.9, None]), ("escalation_rate", 0.5, [None, 0.3])]
    assert drift_flags([version("a", accepted_accuracy=0.5, accepted_feedback=29, consulted=49, escalation_rate=0.9)], bands) == []
    strict = drift_flags([version("strict")], bands)  # its own band, not the default
    assert [f["metric"] for f in strict] == ["accuracy", "escalation_rate"] and "< 20.0%" in strict[1]["message"]
    assert drift_flags([version("a", accepted_accuracy=0.1)], {}) == []  # no band configured: no flags


def test_a_version_is_held_to_the_target_its_threshold_promised():
    from rightmodel.report.drift import DEFAULT_BAND_KEY, Band, drift_flags, wilson_upper

    # the bound: a proportion's one-sided 95% Wilson upper limit
    assert wilson_upper(0, 0) == 1.0 and wilson_upper(40, 40) == 1.0
    assert 0.05 < wilson_upper(0, 50) < 0.06  # no success in 50: the true rate is below ~5.4%
    assert wilson_upper(95, 100) > 0.95 > wilson_upper(85, 100)

    def version(acc, n, ref="a@v1"):
        return {"task": "a", "specialist": ref, "consulted": 500, "escalation_rate": 0.1, "accepted_feedback": n, "accepted_accuracy": acc}

    bands = {DEFAULT_BAND_KEY: Band()}  # nothing configured: only the promise is checked
    promised = {"a@v1": 0.99}
    assert drift_flags([version(39 / 40, 40)], bands, promised) == []  # one miss in 40 does not refute 99%
    flags = drift_flags([version(0.9, 200)], bands, promised)  # 180 of 200 right: 99% is refuted
    assert [(f["metric"], f["band"]) for f in flags] == [("accuracy_vs_target", [0.99, None])]
    assert "below the 99.0% its threshold promised" in flags[0]["message"] and "200 verdicts" in flags[0]["message"]
    assert drift_flags([version(0.5, 29)], bands, promised) == []  # under min_feedback: not judged yet
    assert drift_flags([version(0.9, 200, ref="b@v1")], bands, promised) == []  # no known promise
    assert drift_flags([version(0.9, 200)], {DEFAULT_BAND_KEY: Band(below_target=False)}, promised) == []  # switched off
