"""The report as a rich table (people), JSON or CSV (programs; stdlib only)."""

from __future__ import annotations

import csv
import io
import json
import math
from decimal import Decimal
from typing import Any

from rightmodel.report.aggregate import FIELDS, NONE_LABEL, Report
from rightmodel.report.versions import SHADOW_FIELDS, VERSION_FIELDS

FORMATS = ("table", "json", "csv")
TABLE_WIDTH_NOT_A_TERMINAL = 200  # piped or redirected: wide enough that no column is cut


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


DRIFT_COLUMNS = ("task", "specialist", "metric", "value", "band_min", "band_max", "n", "message")


def render_csv(report: Report) -> str:
    """Sections, each a header line (first cell ``row``) then its lines, separated by an empty
    line: the main table (``row`` = group|total), the specialist versions (``version``), the
    drift flags (``drift``; the band as ``band_min``, ``band_max``) and the shadow candidates
    (``shadow``). A section's header is there even when it has no line, so a program can split on
    the first cell. The same figures as the JSON: rates as fractions, money in dollars, written
    in plain decimal notation (never ``1.11e-05``); a missing group key and every null value are
    empty cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["row", report.by, *FIELDS])
    for g in report.groups:
        writer.writerow(["group", _cell(g["group"]), *(_cell(g[f]) for f in FIELDS)])
    writer.writerow(["total", "", *(_cell(report.total[f]) for f in FIELDS)])
    sections = (
        ("version", VERSION_FIELDS, report.versions),
        ("drift", DRIFT_COLUMNS, [{**d, "band_min": d["band"][0], "band_max": d["band"][1]} for d in report.drift]),
        ("shadow", SHADOW_FIELDS, report.shadow),
    )
    for kind, columns, rows in sections:
        writer.writerow([])
        writer.writerow(["row", *columns])
        for r in rows:
            writer.writerow([kind, *(_cell(r[c]) for c in columns)])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell: empty for null, floats in positional notation (their shortest exact form)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return "0.0" if value == 0 else format(Decimal(repr(value)), "f")  # 0.0, never -0.0
    return value


# -- table ------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.1f}")


def usd(value: float | None) -> str:
    """Dollars as people read them, never in exponent notation: ``$1,234.56``, ``$0.0371``,
    ``$0.000111``, ``$0.04``, ``-$1.62``: cents, and below a dollar up to three significant
    digits, trailing zeros dropped past the cents. The dashboard's
    ``fmtUsd`` (gateway/dashboard_assets/dashboard.js) is the same rule, so both print the same."""
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    a = abs(value)
    decimals = 2 if a >= 1 else min(12, max(2, 2 - math.floor(math.log10(a))))
    text = f"{a:,.{decimals}f}"
    while decimals > 2 and text.endswith("0"):
        text, decimals = text[:-1], decimals - 1
    return ("-$" if value < 0 else "$") + text


def pct(value: float | None) -> str:
    """A rate (a fraction in JSON) as a percentage with one decimal; the dashboard's ``fmtPct``."""
    return "–" if value is None else f"{100 * value:.1f}%"


_pct = pct

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
    ("cost", "cost_usd", usd),
    ("fixed", "fixed_cost_usd", usd),
    ("all-\nfrontier", "counterfactual_cost_usd", usd),
    ("saved", "savings_usd", usd),
    ("saved\n%", "savings_rate", pct),
    ("tokens\nin", "tokens_in", lambda v: f"{v:,}"),
    ("tokens\nout", "tokens_out", lambda v: f"{v:,}"),
)
NOTES = (
    "local share: answered by a specialist / answered (embeddings excluded) · escalation rate: "
    "escalated / rows with a task · error rate: status >= 400 / requests · latency: answered "
    "rows, nearest rank · fixed: monthly fixed cost over the rows' span, first to last (total and "
    "days) · saved: all-frontier - cost - fixed · accuracy: correct / answers with feedback (n/a: "
    "no feedback recorded)"
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
