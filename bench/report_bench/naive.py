"""The baseline: the report computed the obvious way, every column of every row through SQLAlchemy,
then Python; and the comparison of its numbers with the report's JSON.

Written independently of rightmodel.report (same definitions: src/rightmodel/report/__init__.py
and versions.py), to check it. Feedback is joined to its request by ``request_id`` (the report
reads the columns copied into ``ledger_feedback`` instead), and a verdict counts in the group of
its request; ``--by version`` groups on the ``specialist`` column; ``--by day`` on the UTC date.
No window, no fixed cost (``fixed_cost_usd`` is 0 in the total and per day, null elsewhere).
"""

from __future__ import annotations

import math
from collections import defaultdict

COLUMN_OF = {"version": "specialist"}
NOTE = "no feedback recorded"


def naive(url: str, by: str) -> dict:
    import sqlalchemy as sa

    from rightmodel.ledger import store

    engine = store.create_engine(url)
    acc: dict = defaultdict(lambda: defaultdict(float))
    lats: dict = defaultdict(list)
    ver: dict = defaultdict(lambda: defaultdict(int))
    column = COLUMN_OF.get(by, by)
    with engine.connect() as conn:
        # SELECT * of the columns this database has (a ledger built before a newer migration lacks its columns).
        have = {c["name"] for c in sa.inspect(conn).get_columns(store.requests.name)}
        verdicts = {f.request_id: f for f in conn.execute(sa.select(store.feedback))}
        for row in conn.execute(sa.select(*(c for c in store.requests.c if c.name in have))):
            key = row.created_at.date().isoformat() if by == "day" else getattr(row, column)
            f = verdicts.get(row.request_id)
            for k in (key, "\0total"):
                a = acc[k]
                a["requests"] += 1
                ok = row.status < 400
                a["answered"] += ok
                a["served_locally"] += ok and row.route == "specialist"
                a["routed"] += ok and row.route != "embeddings"
                a["escalated"] += bool(row.escalated)
                a["task_requests"] += row.task is not None
                a["errors"] += row.status >= 400
                a["cost_usd"] += row.cost_usd or 0.0
                a["counterfactual_cost_usd"] += row.counterfactual_cost_usd or 0.0
                a["tokens_in"] += row.tokens_in
                a["tokens_out"] += row.tokens_out
                if ok and row.latency_ms is not None:
                    lats[k].append(row.latency_ms)
                if f is not None:
                    a["feedback"] += f.correct is not None
                    a["correct"] += f.correct is True
                    a["scored"] += f.score is not None
                    a["score_sum"] += f.score or 0.0
            if row.specialist is not None:  # the versions section: every row a version classified
                v = ver[(row.task, row.specialist)]
                v["consulted"] += 1
                v["answered"] += row.route == "specialist" and row.status < 400
                v["escalated"] += bool(row.escalated)
                if f is not None:
                    served = row.route == "specialist"
                    v["accepted_feedback"] += served and f.correct is not None
                    v["accepted_correct"] += served and f.correct is True
                    v["feedback"] += f.specialist_correct is not None
                    v["specialist_correct"] += f.specialist_correct is True
                    escalated = row.route == "escalated"  # its guesses on escalated requests only
                    v["escalated_feedback"] += escalated and f.specialist_correct is not None
                    v["escalated_correct"] += escalated and f.specialist_correct is True
    engine.dispose()
    ratio = lambda x, y: x / y if y else None  # noqa: E731

    def metrics(a, lat, fixed):
        lat.sort()
        n = len(lat)
        rank = lambda p: lat[max(0, math.ceil(p * n / 100) - 1)] if n else None  # noqa: E731
        savings = a["counterfactual_cost_usd"] - a["cost_usd"] - (fixed or 0.0)
        mean_score = ratio(a["score_sum"], a["scored"])
        return {"requests": int(a["requests"]), "answered": int(a["answered"]), "served_locally": int(a["served_locally"]),
                "local_share": ratio(a["served_locally"], a["routed"]), "escalated": int(a["escalated"]),
                "task_requests": int(a["task_requests"]), "escalation_rate": ratio(a["escalated"], a["task_requests"]),
                "errors": int(a["errors"]), "error_rate": ratio(a["errors"], a["requests"]),
                "latency_p50_ms": rank(50), "latency_p95_ms": rank(95), "latency_p99_ms": rank(99),
                "cost_usd": a["cost_usd"], "fixed_cost_usd": fixed, "actual_cost_usd": a["cost_usd"] + (fixed or 0.0),
                "counterfactual_cost_usd": a["counterfactual_cost_usd"], "savings_usd": savings,
                "savings_rate": savings / a["counterfactual_cost_usd"] if a["counterfactual_cost_usd"] else None,
                "tokens_in": int(a["tokens_in"]), "tokens_out": int(a["tokens_out"]),
                "feedback": int(a["feedback"]), "accuracy": ratio(a["correct"], a["feedback"]), "mean_score": mean_score,
                "accuracy_note": NOTE if not a["feedback"] and mean_score is None else None}

    def version(task, specialist, v):
        return {"task": task, "specialist": specialist, "consulted": v["consulted"], "answered": v["answered"],
                "escalated": v["escalated"], "escalation_rate": ratio(v["escalated"], v["consulted"]),
                "accepted_feedback": v["accepted_feedback"], "accepted_accuracy": ratio(v["accepted_correct"], v["accepted_feedback"]),
                "feedback": v["feedback"], "accuracy": ratio(v["specialist_correct"], v["feedback"]),
                "escalated_feedback": v["escalated_feedback"],
                "escalated_accuracy": ratio(v["escalated_correct"], v["escalated_feedback"])}

    total = metrics(acc.pop("\0total"), lats.pop("\0total", []), 0.0)
    return {"groups": {str(k): metrics(a, lats.get(k, []), 0.0 if by == "day" else None) for k, a in acc.items()},
            "total": total, "versions": [version(t, s, v) for (t, s), v in ver.items()]}


def _cmp(diffs: list[str], where: str, ours: dict, theirs: dict) -> None:
    for k, v in theirs.items():
        if k not in ours:
            diffs.append(f"{where}.{k}: not in the report")
            continue
        o = ours[k]
        if v is None or o is None:
            ok = v is None and o is None
        elif isinstance(v, float):
            ok = math.isclose(o, v, rel_tol=1e-9, abs_tol=2e-9 if "usd" in k else 1e-3 if k.startswith("latency") else 1e-6)
        else:
            ok = o == v
        if not ok:
            diffs.append(f"{where}.{k}: report {o!r}, naive {v!r}")


def same_numbers(report: dict, base: dict) -> list[str]:
    """Differences between the report's JSON and the naive numbers (beyond float rounding): the
    total, every group, and the versions section (keyed by task and version)."""
    diffs: list[str] = []
    _cmp(diffs, "total", report["total"], base["total"])
    ours = {str(g["group"]): g for g in report["groups"]}
    if set(ours) != set(base["groups"]):
        diffs.append(f"groups: report {sorted(ours)}, naive {sorted(base['groups'])}")
    for k in sorted(set(ours) & set(base["groups"])):
        _cmp(diffs, k, ours[k], base["groups"][k])
    ours_v = {(v["task"], v["specialist"]): v for v in report.get("versions", [])}
    base_v = {(v["task"], v["specialist"]): v for v in base["versions"]}
    if set(ours_v) != set(base_v):
        diffs.append(f"versions: report {sorted(map(str, ours_v))}, naive {sorted(map(str, base_v))}")
    for k in sorted(set(ours_v) & set(base_v), key=str):
        _cmp(diffs, f"versions[{k[1]}]", ours_v[k], base_v[k])
    return diffs
