"""A router version's evaluation card: JSON for tools, Markdown for the reviewer who promotes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_JSON = "card.json"
CARD_MD = "card.md"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def write_card(card: dict[str, Any], directory: Path) -> None:
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2))
    (directory / CARD_MD).write_text(render_markdown(card))


def render_markdown(card: dict[str, Any]) -> str:
    d, m, ev = card["data"], card["metrics"], card["evaluation"]
    lines = [
        f"# {card['name']} — learned router card ({card['router_kind']})",
        "",
        f"- routes between strong `{d['strong_model']}` (mean quality {d['strong_mean']:.3f}) and weak "
        f"`{d['weak_model']}` ({d['weak_mean']:.3f}); strong better on {_pct(d['strong_better'])} of prompts, "
        f"weak better on {_pct(d['weak_better'])}, tie on {_pct(d['ties'])}",
        f"- trained on {d['rows']} rows ({d['unique_prompts']} distinct prompts, {d['groups']} groups) from "
        f"`{d['source']}` (sha256 {card['data_hash'][:12]}…); skipped: {d['skipped'] or 'none'}",
        f"- encoder: {card.get('encoder') or 'none (TF-IDF only)'}",
        f"- hyperparameters: {json.dumps(card['params'])}, chosen by {ev['inner']}",
        "",
        "## Held-out routing quality",
        "",
        f"{ev['split']}. Scores are RouteLLM's (Ong et al. 2024): PGR = (quality − weak) / (strong − weak); "
        "APGR = area under PGR over the strong-call share; CPT(x) = strong-call share needed for PGR x. "
        "Full sweep: every distinct score is a threshold, equal scores are routed together; "
        "10 bins: RouteLLM's quantile thresholds.",
        "",
        "| | APGR | CPT(50%) | CPT(80%) |",
        "|---|---|---|---|",
    ]
    for label, key in (("this router, full sweep", "sweep"), ("this router, 10 bins", "bins10"),
                       ("random", "random"), ("oracle", "oracle")):
        r = m[key]
        lines.append(f"| {label} | {_num(r['apgr'])} | {_pct(r['cpt50'])} | {_pct(r['cpt80'])} |")
    lines += ["", "## Thresholds (strong iff score >= threshold)", "", "| strong share | threshold | held-out PGR |", "|---|---|---|"]
    for row in card["thresholds"]:
        lines.append(f"| {_pct(row['share'])} | {row['threshold']:.4f} | {row['pgr']:.3f} |")
    lat = card.get("latency") or {}
    if lat:
        lines += ["", f"Routing latency, one prompt at a time on this machine: p50 {lat['p50_ms']:.2f} ms, "
                  f"p99 {lat['p99_ms']:.2f} ms ({lat['n']} prompts)."]
    lines += ["", f"Plot: `{card['plot']}`." if card.get("plot") else "", ""]
    return "\n".join(lines)
