"""One definition of every number (issue 21): `rightmodel report --format json`, the same report
as CSV, and a real gateway's /dashboard/data give the same figure for every field, read from one
real SQLite ledger.

The ledger is the issue's case: a gateway that ran 20 minutes, read through the dashboard's
default 24 h window and through a report with no window, with a fixed monthly cost. Before,
the dashboard spread the fixed cost over 24 h ("SAVED $-1.62, -7332%") while the report said
+82%. The comparison is a table of figures (every report field of the total and of each task,
every per-version field, every drift-flag field), each a test case: one figure diverging in
one source fails its case.
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

import httpx
import orjson
import pytest
import yaml

from gateway_proc import running_gateway
from rightmodel.ledger import LedgerRecord, store
from rightmodel.ledger.feedback import find_request, store_feedback
from rightmodel.ledger.record import encode
from rightmodel.report.aggregate import FIELDS
from rightmodel.report.render import DRIFT_COLUMNS
from rightmodel.report.versions import VERSION_FIELDS

NOW = datetime.now(timezone.utc).replace(microsecond=0)
START = NOW - timedelta(minutes=45)  # the gateway ran from here ...
SPAN = timedelta(minutes=20)  # ... for 20 minutes
FIXED_PER_MONTH = 30.0
TASKS = ("intent", "sentiment")
VERSIONS = (("intent", "intent@v1"), ("sentiment", "sentiment@v2"))
DRIFT = (("intent@v1", "accuracy"), ("intent@v1", "escalation_rate"))


def ledger_rows() -> list[LedgerRecord]:
    """60 requests over 20 minutes: specialist answers (a few hundred-thousandths of a dollar),
    escalations, passthrough, embeddings, a refusal and an upstream error."""
    rows = []
    step = SPAN / 59
    for i in range(60):
        at = START + step * i
        kind = i % 10
        base = dict(request_id=f"req_{i:04d}", created_at=at, endpoint="/v1/chat/completions", status=200, tenant="acme",
                    routing_ms=0.2, model_ms=1.0, latency_ms=5.0 + i)
        if kind < 5:  # intent answered locally
            rows.append(LedgerRecord(**base, task="intent", route="specialist", model="intent@v1", specialist="intent@v1",
                                     labels=["card_arrival"], cost_usd=0.0000111, counterfactual_cost_usd=0.000975,
                                     tokens_in=40, tokens_out=3))
        elif kind < 7:  # intent escalated
            rows.append(LedgerRecord(**base, task="intent", route="escalated", escalated=True, model="frontier",
                                     specialist="intent@v1", cost_usd=0.00121, counterfactual_cost_usd=0.00118, tokens_in=45,
                                     tokens_out=12, extra={"specialist": {"model": "intent@v1", "label": "exchange_rate"}}))
        elif kind == 7:  # sentiment answered locally
            rows.append(LedgerRecord(**base, task="sentiment", route="specialist", model="sentiment@v2",
                                     specialist="sentiment@v2", labels=["positive"], cost_usd=0.0000093,
                                     counterfactual_cost_usd=0.00061, tokens_in=25, tokens_out=1))
        elif kind == 8:  # passthrough
            rows.append(LedgerRecord(**base, route="remote", model="frontier", cost_usd=0.0021,
                                     counterfactual_cost_usd=0.0021, tokens_in=120, tokens_out=60))
        else:
            rows.append(LedgerRecord(**{**base, "status": 502, "error": "UpstreamError: bad gateway"}, route="remote",
                                     model="frontier") if i % 20 == 9 else
                        LedgerRecord(**{**base, "endpoint": "/v1/embeddings"}, route="embeddings", model="all-MiniLM-L6-v2",
                                     cost_usd=0.0000021, tokens_in=8))
    return rows


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A real SQLite ledger with the rows and feedback (through the ledger's own judge), and the
    constellation both readers use."""
    home = tmp_path_factory.mktemp("numbers")
    url = f"sqlite:///{home / 'ledger.db'}"
    engine = store.create_engine(url)
    try:
        store.migrate(engine)
        store.insert_rows(engine, [store.to_row(orjson.loads(encode(r))) for r in ledger_rows()])
        for i in range(0, 60, 2):  # every other request judged; intent's answers right 3 times in 5
            row = find_request(engine, f"req_{i:04d}")
            if row["task"] == "intent":
                truth = "card_arrival" if i % 10 in (0, 2, 6) else "lost_or_stolen_card"
            elif row["task"] == "sentiment":
                truth = "positive"
            else:
                continue
            store_feedback(engine, row, labels=[truth], score=None, correct=None)
    finally:
        engine.dispose()
    config = {
        "defaults": {"local_fixed_cost_per_month": FIXED_PER_MONTH},
        "observability": {"dashboard": "open",
                          "drift": {"accuracy_min": 0.9, "escalation_rate_max": 0.2, "min_feedback": 5, "min_requests": 10}},
    }
    path = home / "constellation.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"home": home, "url": url, "config": path}


def report_cli(filled, *args: str) -> str:
    """`rightmodel report` as a real process on the filled ledger and constellation."""
    env = {k: v for k, v in os.environ.items() if k not in ("RIGHTMODEL_LEDGER_URL", "RIGHTMODEL_HOME")}
    done = subprocess.run([sys.executable, "-m", "rightmodel.cli", "report", "--ledger-url", filled["url"],
                           "--config", str(filled["config"]), *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def csv_sections(text: str) -> dict[str, list[dict[str, str]]]:
    """The CSV's sections by their rows' first cell (group/total, version, drift, shadow)."""
    out: dict[str, list[dict[str, str]]] = {}
    for block in text.strip("\n").split("\n\n"):
        for row in csv.DictReader(io.StringIO(block)):
            out.setdefault(row["row"], []).append(row)
    return out


def from_csv(cell: str):
    """A CSV cell back to the JSON value it was written from."""
    if cell == "":
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


@pytest.fixture(scope="module")
def sources(filled):
    """Every reader's document: the report (JSON, no window and 24 h), its CSV, and the
    dashboard's data through a real gateway (its default 24 h window and the whole ledger)."""
    docs = {"report json": json.loads(report_cli(filled, "--format", "json")),
            "report json --since 24h": json.loads(report_cli(filled, "--format", "json", "--since", "24h"))}
    sections = csv_sections(report_cli(filled, "--format", "csv"))
    docs["csv"] = {
        "total": {f: from_csv(sections["total"][0][f]) for f in FIELDS},
        "groups": [{"group": from_csv(g["task"]), **{f: from_csv(g[f]) for f in FIELDS}} for g in sections["group"]],
        "versions": [{f: from_csv(v[f]) for f in VERSION_FIELDS} for v in sections.get("version", [])],
        "drift": [{**{f: from_csv(d[f]) for f in DRIFT_COLUMNS}, "band": [from_csv(d["band_min"]), from_csv(d["band_max"])]}
                  for d in sections.get("drift", [])],
    }
    home = filled["home"]
    args = ("--ledger-url", filled["url"], "--journal-dir", str(home / "journal"))
    with running_gateway(yaml.safe_load(filled["config"].read_text()), home / "gw", extra_args=args) as gw:
        for name, query in (("dashboard data (default 24 h)", ""), ("dashboard data (all)", "?since=all")):
            resp = httpx.get(f"{gw.url}/dashboard/data{query}", timeout=60)
            assert resp.status_code == 200, resp.text
            data = resp.json()
            docs[name] = {**data, "groups": data["tasks"]}
    return docs


def figure(doc: dict, section: str, key, field: str):
    """One figure of a reader's document: ``section`` total|group|version|drift, ``key`` the
    group name, (task, version) or (version, metric)."""
    if section == "total":
        return doc["total"][field]
    if section == "group":
        [row] = [g for g in doc["groups"] if g["group"] == key]
    elif section == "version":
        [row] = [v for v in doc["versions"] if (v["task"], v["specialist"]) == key]
    else:
        [row] = [d for d in doc["drift"] if (d["specialist"], d["metric"]) == key]
    return row[field]


FIGURES = (
    [("total", None, f) for f in FIELDS]
    + [("group", task, f) for task in TASKS for f in FIELDS]
    + [("version", key, f) for key in VERSIONS for f in VERSION_FIELDS]
    + [("drift", key, f) for key in DRIFT for f in ("task", "specialist", "metric", "value", "band", "n", "message")]
)


@pytest.mark.parametrize("section,key,field", FIGURES, ids=[f"{s}-{k}-{f}" for s, k, f in FIGURES])
def test_every_reader_gives_the_same_figure(sources, section, key, field):
    values = {name: figure(doc, section, key, field) for name, doc in sources.items()}
    assert len(set(map(repr, values.values()))) == 1, values


def test_the_ledger_exercises_every_kind_of_figure(sources):
    """The table above would pass vacuously on zeros and nulls: it does not."""
    doc = sources["report json"]
    t = doc["total"]
    assert t["fixed_cost_usd"] > 0 and t["actual_cost_usd"] == pytest.approx(t["cost_usd"] + t["fixed_cost_usd"])
    assert t["savings_usd"] == pytest.approx(t["counterfactual_cost_usd"] - t["actual_cost_usd"])
    assert 0 < t["savings_rate"] < 1 and t["accuracy"] is not None and t["escalation_rate"] is not None
    # Pro rata over the 20 minutes the rows cover, not the 24 h the dashboard asks for.
    assert t["fixed_cost_usd"] == pytest.approx(FIXED_PER_MONTH * SPAN.total_seconds() / (365.25 / 12 * 86400), rel=1e-6)
    assert doc["covered_from"] == START.isoformat().replace("+00:00", "Z")
    assert {(d["specialist"], d["metric"]) for d in doc["drift"]} == set(DRIFT)
    assert {(v["task"], v["specialist"]) for v in doc["versions"]} == set(VERSIONS)
    assert {g["group"] for g in doc["groups"]} == {*TASKS, None}
    assert set(sources) == {"report json", "report json --since 24h", "csv", "dashboard data (default 24 h)", "dashboard data (all)"}


def test_every_rate_is_a_fraction_and_no_number_uses_exponent_notation(sources, filled):
    t = sources["report json"]["total"]
    for field in ("local_share", "escalation_rate", "error_rate", "savings_rate", "accuracy"):
        assert -1 <= t[field] <= 1, field
    assert "savings_pct" not in t
    csv_text = report_cli(filled, "--format", "csv")
    [sentiment] = [g for g in sources["report json"]["groups"] if g["group"] == "sentiment"]
    assert sentiment["cost_usd"] == pytest.approx(6 * 0.0000093)  # below 1e-4: where repr() goes 5.58e-05
    assert ",0.0000558," in csv_text
    table = report_cli(filled)
    for text in (csv_text, table):  # JSON's numbers are numbers: 1.11e-05 is one, for programs
        assert not re.search(r"\d[eE][-+]?\d", text)
    total_line = next(line for line in table.splitlines() if line.strip().startswith("total"))
    from rightmodel.report.render import pct, usd

    assert usd(t["savings_usd"]) in total_line and pct(t["savings_rate"]) in total_line


def test_the_dashboard_series_add_up_to_its_headline(sources):
    data = sources["dashboard data (default 24 h)"]
    for field in ("requests", "cost_usd", "fixed_cost_usd", "actual_cost_usd", "counterfactual_cost_usd", "savings_usd"):
        # Each bucket's money is rounded to 1e-9 dollars like the total's: the sums agree to that.
        assert sum(p[field] for p in data["series"]) == pytest.approx(data["total"][field], abs=1e-9 * len(data["series"])), field
    assert data["series"][0]["t"] <= data["covered_from"]  # the x axis starts at the first row, not 24 h back
