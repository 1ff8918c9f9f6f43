"""The report as a rich table (people), JSON or CSV (programs; stdlib only)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rightmodel.report.aggregate import FIELDS, NONE_LABEL, Report

FORMATS = ("table", "json", "csv")
TABLE_WIDTH_NOT_A_TERMINAL = 200  # piped or redirected: wide enough that no column is cut


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_csv(report: Report) -> str:
    """One header line, a line per group, then the total line (``row`` = group|total). A
    missing group key and every null value are empty cells. The per-version section and the
    drift flags are in the JSON and table forms (``--by version`` gives versions as rows here)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["row", report.by, *FIELDS])
    for g in report.groups:
        writer.writerow(["group", _cell(g["group"]), *(_cell(g[f]) for f in FIELDS)])
    writer.writerow(["total", "", *(_cell(report.total[f]) for f in FIELDS)])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value


# -- table ------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.1f}")


def _usd(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}" if abs(value) >= 0.01 else f"{value:.2e}"


# (header, field, formatter) per column after the group column; the table splits into the
# "traffic" and "money" parts when the whole row does not fit the terminal.
TRAFFIC = (
    ("requests", "requests", lambda v: f"{v:,}"),
    ("local\nshare", "local_share", _pct),
    ("escal.\nrate", "escalation_rate", _pct),
    ("error\nrate", "error_rate", _pct),
    ("p50\nms", "latency_p50_ms", _ms),
    ("p95\nms", "latency_p95_ms", _ms),
    ("p99\nms", "latency_p99_ms", _ms),
    ("feed-\nback", "feedback", lambda v: f"{v:,}"),
    ("accuracy", "accuracy", lambda v: "n/a" if v is None else f"{100 * v:.1f}%"),
)
MONEY = (
    ("cost\n$", "cost_usd", _usd),
    ("fixed\n$", "fixed_cost_usd", lambda v: "–" if v is None else _usd(v)),
    ("frontier\n$", "counterfactual_cost_usd", _usd),
    ("saved\n$", "savings_usd", _usd),
    ("saved\n%", "savings_pct", lambda v: "–" if v is None else f"{v:.1f}%"),
    ("tokens\nin", "tokens_in", lambda v: f"{v:,}"),
    ("tokens\nout", "tokens_out", lambda v: f"{v:,}"),
)
NOTES = (
    "local share: answered by a specialist / answered (embeddings excluded) · escalation rate: "
    "escalated / rows with a task · error rate: status >= 400 / requests · latency: answered "
    "rows, nearest rank · fixed $: monthly fixed cost pro rata (total and days) · frontier $: "
    "the counterfactual, all-frontier cost · saved: frontier - cost - fixed · accuracy: correct / "
    "answers with feedback (n/a: no feedback recorded)"
)
VERSION_COLUMNS = (
    ("consulted", "consulted", lambda v: f"{v:,}"),
    ("answered", "answered", lambda v: f"{v:,}"),
    ("escal.\nrate", "escalation_rate", _pct),
    ("accepted\naccuracy", "accepted_accuracy", _pct),
    ("n", "accepted_feedback", lambda v: f"{v:,}"),
    ("accuracy\n(all)", "accuracy", _pct),
    ("n", "feedback", lambda v: f"{v:,}"),
    ("escalated\naccuracy", "escalated_accuracy", _pct),
    ("n", "escalated_feedback", lambda v: f"{v:,}"),
)


def _table(report: Report, columns, title: str | None, caption: str | None):
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, title_justify="left",
                  caption_justify="left")
    # On a terminal too narrow even for a half table, cells fold rather than lose digits to "…".
    table.add_column(report.by, overflow="fold")
    for header, _field, _fmt in columns:
        table.add_column(header, justify="right", overflow="fold")
    for g in report.groups:
        label = NONE_LABEL if g["group"] is None else escape(str(g["group"]))
        table.add_row(label, *(fmt(g[f]) for _h, f, fmt in columns))
    table.add_section()
    table.add_row("total", *(fmt(report.total[f]) for _h, f, fmt in columns), style="bold")
    return table


def render_table(report: Report, console) -> None:
    from rich.markup import escape
    from rich.measure import Measurement

    since = report.since.strftime("%Y-%m-%d %H:%M:%S UTC") if report.since else "the first row"
    until = report.until.strftime("%Y-%m-%d %H:%M:%S UTC") if report.until else "the newest row"
    title = f"by {report.by}, from {since} to {until}"
    console.print(f"ledger {escape(report.ledger)}", highlight=False, soft_wrap=True)
    whole = _table(report, TRAFFIC + MONEY, title, NOTES)
    natural = Measurement.get(console, console.options.update_width(100_000), whole).maximum
    if natural <= console.width:
        console.print(whole)
    else:
        console.print(_table(report, TRAFFIC, title + " · traffic", None))
        console.print(_table(report, MONEY, title + " · money", NOTES))
    _versions(report, console)
    _shadow(report, console)
    _drift(report, console)


def _shadow(report: Report, console) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    if not report.shadow:
        return
    table = Table(title="candidates in shadow mode (ran beside production, did not answer)", box=box.SIMPLE_HEAD, title_justify="left",
                  caption="agreement: its labels = the answer's, over requests whose answer was a label · coverage: share it "
                          "would have answered (confidence >= its threshold) · accepted agreement: agreement on those", caption_justify="left")
    for header in ("task", "candidate", "shadowed", "compared", "agreement", "coverage", "accepted\nagreement"):
        table.add_column(header, justify="left" if header in ("task", "candidate") else "right", overflow="fold")
    for v in report.shadow:
        table.add_row(escape(str(v["task"] or NONE_LABEL)), escape(str(v["candidate"])), f"{v['shadowed']:,}", f"{v['compared']:,}",
                      _pct(v["agreement"]), _pct(v["coverage"]), _pct(v["accepted_agreement"]))
    console.print(table)


def _versions(report: Report, console) -> None:
    """Each specialist version's live numbers, then its drift flags (or that there are none)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    if not report.versions:
        return
    table = Table(title="specialist versions (live, from the ledger and feedback)", box=box.SIMPLE_HEAD, title_justify="left",
                  caption="accepted accuracy: of the answers it served · accuracy (all): of its own labels, escalated "
                          "requests included · escalated accuracy: of its guesses on escalated requests", caption_justify="left")
    table.add_column("task", overflow="fold")
    table.add_column("version", overflow="fold")
    for header, _f, _fmt in VERSION_COLUMNS:
        table.add_column(header, justify="right", overflow="fold")
    for v in report.versions:
        table.add_row(escape(str(v["task"] or NONE_LABEL)), escape(str(v["specialist"])), *(fmt(v[f]) for _h, f, fmt in VERSION_COLUMNS))
    console.print(table)


def _drift(report: Report, console) -> None:
    from rich.markup import escape

    for flag in report.drift:
        console.print(f"[bold red]DRIFT[/] {escape(flag['message'])}", highlight=False)
