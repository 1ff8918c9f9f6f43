"""Numbers and the Markdown page of bench/load.py, from its raw records (no I/O but reading them).

Kept apart from the orchestration so the page can be re-rendered from a results JSON
(`python bench/load/report.py bench/results/load.json > bench/results/load.md`).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for benchlib when run alone
from benchlib import fmt  # noqa: E402

PERCENTILES = (50, 99)


def pct(sorted_vals: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None for an empty one)."""
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def latency(records: list[dict[str, Any]]) -> dict[str, float | None]:
    ms = sorted(r["ms"] for r in records)
    return {f"p{p}_ms": _round(pct(ms, p)) for p in PERCENTILES} | {"max_ms": _round(ms[-1] if ms else None)}


def _round(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(v, nd)


def group(records: list[dict[str, Any]], seconds: float | None = None) -> dict[str, Any]:
    """Counts, outcome mix and latency of a set of records."""
    ok = [r for r in records if r["outcome"] == "ok"]
    out: dict[str, Any] = {
        "requests": len(records),
        "ok": len(ok),
        "ok_pct": _round(100.0 * len(ok) / len(records), 2) if records else None,
        "accepted": sum(1 for r in records if r["rid"]),
        "errors": dict(Counter(r["outcome"] for r in records if r["outcome"] != "ok").most_common()),
        "ok_latency": latency(ok),
        "all_latency": latency(records),
    }
    if seconds:
        out["req_per_s"] = _round(len(records) / seconds, 1)
        out["ok_per_s"] = _round(len(ok) / seconds, 1)
    return out


def segments(records: list[dict[str, Any]], events: list[dict[str, Any]], t0: float, t_end: float) -> list[dict[str, Any]]:
    """The run cut at each fault's start: each segment holds the fault and the recovery after it."""
    cuts = [(t0, "warm-up, no faults")] + [(e["started_at"], e["name"]) for e in events if e.get("started_at")]
    cuts.sort()
    out = []
    for i, (start, name) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else t_end
        rs = [r for r in records if start <= r["t"] < end]
        out.append({"segment": name, "from_s": round(start - t0, 1), "to_s": round(end - t0, 1), **group(rs, end - start)})
    return out


def timeline(records: list[dict[str, Any]], samples: list[dict[str, Any]], t0: float, t_end: float, step: float = 5.0) -> list[dict[str, Any]]:
    """Per `step` seconds: requests sent, ok, errors, p99 of ok, and the ledger backlog seen by /readyz."""
    rows = []
    t = t0
    while t < t_end:
        rs = [r for r in records if t <= r["t"] < t + step]
        ss = [s for s in samples if t <= s["t"] < t + step]
        ok = sorted(r["ms"] for r in rs if r["outcome"] == "ok")
        rows.append({
            "at_s": round(t - t0),
            "req_per_s": round(len(rs) / step, 1),
            "ok_per_s": round(len(ok) / step, 1),
            "errors": len(rs) - len(ok),
            "ok_p99_ms": _round(pct(ok, 99), 1),
            "ledger_pending_max": max((s["pending"] for s in ss if s.get("pending") is not None), default=None),
            "db_up": None if not ss else all(s.get("db_up") is not False for s in ss),
            "gateway_cpu_pct": _round(max((s.get("gateway_cpu_pct") or 0 for s in ss), default=None), 0) if ss else None,
        })
        t += step
    return rows


def analyse(records: list[dict[str, Any]], events: list[dict[str, Any]], samples: list[dict[str, Any]], t0: float, t_end: float) -> dict[str, Any]:
    seconds = max(t_end - t0, 1e-9)
    kinds = sorted({r["kind"] for r in records})
    return {
        "total": group(records, seconds),
        "by_kind": {k: group([r for r in records if r["kind"] == k], seconds) for k in kinds},
        "segments": segments(records, events, t0, t_end),
        "timeline": timeline(records, samples, t0, t_end),
    }


def analyse_hostile(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """What the hostile requests got, by kind and variant: counts by outcome, time to the answer."""
    out: dict[str, Any] = {"requests": len(records), "per_s": _round(len(records) / max(seconds, 1e-9), 1),
                           "five_xx": sum(1 for r in records if r["status"] >= 500), "by_kind": {}}
    for kind in sorted({r["kind"] for r in records}):
        rs = [r for r in records if r["kind"] == kind]
        out["by_kind"][kind] = {
            "requests": len(rs),
            "outcomes": dict(Counter(r["outcome"] for r in rs).most_common()),
            "variants": sorted({r.get("variant", "") for r in rs}),
            "latency": latency(rs),
        }
    return out


def _rss(samples: list[dict[str, Any]], skip: float = 0.2) -> list[float]:
    """RSS samples after the first `skip` of the run (the steady state, not the start-up)."""
    vals = [s["rss_mb"] for s in samples if s.get("rss_mb")]
    return sorted(vals[int(len(vals) * skip):])


def compare(base: dict[str, Any], hot: dict[str, Any], fraction: float, rate: float) -> dict[str, Any]:
    """Normal clients' latency and the gateway's RSS without and with hostile clients."""
    def kinds(result: dict[str, Any]) -> dict[str, Any]:
        a = result["analysis"]
        return {"total": a["total"], **a["by_kind"]}

    b, h = kinds(base), kinds(hot)
    normal = {}
    for kind in b:
        if kind not in h:
            continue
        bl, hl = b[kind]["ok_latency"], h[kind]["ok_latency"]
        normal[kind] = {
            "without": {"p50_ms": bl["p50_ms"], "p99_ms": bl["p99_ms"], "ok_per_s": b[kind].get("ok_per_s"), "ok_pct": b[kind]["ok_pct"]},
            "with": {"p50_ms": hl["p50_ms"], "p99_ms": hl["p99_ms"], "ok_per_s": h[kind].get("ok_per_s"), "ok_pct": h[kind]["ok_pct"]},
            "p99_ratio": _round(hl["p99_ms"] / bl["p99_ms"], 2) if bl["p99_ms"] and hl["p99_ms"] else None,
        }
    steady, during = _rss(base["samples"]), _rss(hot["samples"])
    steady_mb = steady[len(steady) // 2] if steady else None
    peak = max((s["rss_mb"] for s in hot["samples"] if s.get("rss_mb")), default=None)
    return {
        "fraction": fraction,
        "rate_per_s": _round(rate, 1),
        "normal": normal,
        "rss": {"steady_mb": steady_mb, "baseline_peak_mb": max(steady, default=None),
                "hostile_median_mb": during[len(during) // 2] if during else None, "hostile_peak_mb": peak,
                "peak_ratio": _round(peak / steady_mb, 2) if peak and steady_mb else None},
        "hostile": hot.get("hostile_analysis"),
        "ledger_500_rows": {"without": base["ledger"].get("rows_500"), "with": hot["ledger"].get("rows_500")},
    }


# ----------------------------------------------------------------------------- Markdown


n = fmt  # the shared table formatter (bench/benchlib.py)


def errors_text(errors: dict[str, int], limit: int = 6) -> str:
    if not errors:
        return "none"
    items = list(errors.items())
    text = ", ".join(f"{k}: {n(v)}" for k, v in items[:limit])
    return text + (f", {len(items) - limit} more kinds" if len(items) > limit else "")


def render(result: dict[str, Any]) -> str:
    """The page: one run, or (--hostile) the comparison, then the run with hostile clients in full."""
    if "phases" not in result:
        return render_phase(result)
    hot = {**result["phases"]["hostile"], "checks": result.get("checks", []), "problems": result.get("problems", [])}
    return render_comparison(result) + "\n" + render_phase(hot, title="## The run with hostile clients", level="##")


def render_comparison(result: dict[str, Any]) -> str:
    m, c = result["meta"], result["comparison"]
    L = [
        "# Load with faults, without and with hostile clients",
        "",
        f"Measured {m.get('date_utc')} by `{m.get('command')}` (run {m.get('run_id')}). Two runs of {m.get('duration_s')} s, each with fresh "
        f"processes, the same {m.get('concurrency')} closed-loop clients (mix `{m.get('mix')}`) and the same fault schedule; the second adds "
        f"hostile clients (bench/load/hostile.py) starting {n(c['rate_per_s'])} requests/s, {c['fraction'] * 100:g}% of the normal clients' "
        "rate in the first run: bodies trickled at 1 byte/s, oversize batches and conversations, JSON nested 1,000 deep, in turn. "
        "Machine, code and processes as in the full page of the second run below.",
        "",
        "## Normal clients",
        "",
        "| kind | p50 ms without | p50 ms with | p99 ms without | p99 ms with | p99 with ÷ without | answered/s without | answered/s with |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for kind, k in c["normal"].items():
        L.append(f"| {kind} | {n(k['without']['p50_ms'], 2)} | {n(k['with']['p50_ms'], 2)} | {n(k['without']['p99_ms'], 2)} | "
                 f"{n(k['with']['p99_ms'], 2)} | **{n(k['p99_ratio'], 2)}** | {n(k['without']['ok_per_s'])} | {n(k['with']['ok_per_s'])} |")
    r = c["rss"]
    L += [
        "",
        "## Gateway memory (RSS, sampled each second)",
        "",
        f"Steady state without hostile clients (median after the first 20% of the run): {n(r['steady_mb'])} MB (peak {n(r['baseline_peak_mb'])} MB). "
        f"With them: median {n(r['hostile_median_mb'])} MB, peak {n(r['hostile_peak_mb'])} MB: **{n(r['peak_ratio'], 2)}×** the steady state.",
        "",
        "## What the hostile requests got",
        "",
    ]
    h = c.get("hostile") or {}
    L.append(f"{n(h.get('requests'))} requests ({n(h.get('per_s'))}/s), **{n(h.get('five_xx'))} answered with a 5xx**; ledger rows with status "
             f"500: {n(c['ledger_500_rows']['without'])} without, {n(c['ledger_500_rows']['with'])} with hostile clients.")
    L += ["", "| kind | requests | variants | outcomes | p50 ms | p99 ms |", "|---|--:|---|---|--:|--:|"]
    for kind, k in (h.get("by_kind") or {}).items():
        L.append(f"| {kind} | {n(k['requests'])} | {', '.join(k['variants'])} | {errors_text(k['outcomes'], 8)} | "
                 f"{n(k['latency']['p50_ms'], 1)} | {n(k['latency']['p99_ms'], 1)} |")
    L += ["", "Slow bodies are cut off by the gateway's `defaults.body_timeout_s` (10 s) plus 1 s per `body_min_rate` (1,024) bytes "
          "received; their latency is the time to that answer.", ""]
    return "\n".join(L)


def render_phase(result: dict[str, Any], title: str | None = None, level: str = "#") -> str:
    m, a, led = result["meta"], result["analysis"], result["ledger"]
    tot = a["total"]
    sub = level + "#"
    L = [
        title or "# Load with faults: the gateway at capacity through upstream faults and a ledger database outage",
        "",
        f"Measured {m.get('date_utc')} by `{m.get('command')}` (run {m.get('run_id')}). One run; every number below comes from it.",
        "",
        f"- Machine: {m.get('cpu_model')}, {m.get('nproc')} cores, {m.get('mem_gib')} GiB RAM, {m.get('os')}, kernel {m.get('kernel')}, "
        f"Python {m.get('python')}. Load average at the start: {' '.join(m.get('loadavg_at_start', []))}.",
        f"- rightmodel: git {m.get('git_commit')} (+{m.get('git_src_uncommitted_files')} uncommitted files under src/; source digest "
        f"{m.get('src_digest')}; measured: {m.get('source')}); " + ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items()) + ".",
        f"- Processes: {m.get('layout')}.",
        f"- Gateway: `{m.get('gateway_argv')}`; constellation `{m.get('constellation_file')}` (below). Ledger: SQLite at `{m.get('ledger_db')}`, "
        f"journal `{m.get('journal_dir')}`.",
        f"- Upstream: tests/upstream_server.py (OpenAI-compatible echo server, faults on command). Specialist: {m.get('specialist')}.",
        f"- Load: bench/load/loadgen.py, {m.get('concurrency')} closed-loop aiohttp clients for {m.get('duration_s')} s, mix "
        f"`{m.get('mix')}` (chat = non-streamed passthrough, stream = streamed passthrough, specialist = chat completion answered by the local "
        f"specialist), client timeout {m.get('client_timeout_s')} s.",
        f"- Other processes on the machine during the run used {n(m.get('other_cores'), 2)} cores on average ({m.get('other_top') or 'none above 0.01'}); "
        f"CPU busy: {m.get('cpu_busy')}.",
        "",
        f"{sub} Summary",
        "",
        "| | value |",
        "|---|--:|",
        f"| requests sent | {n(tot['requests'])} |",
        f"| answered (200, complete) | {n(tot['ok'])} ({n(tot['ok_pct'], 2)}%) |",
        f"| throughput, all / answered | {n(tot.get('req_per_s'))} / {n(tot.get('ok_per_s'))} req/s |",
        f"| latency of answered requests p50 / p99 / max | {n(tot['ok_latency']['p50_ms'], 2)} / {n(tot['ok_latency']['p99_ms'], 2)} / "
        f"{n(tot['ok_latency']['max_ms'], 0)} ms |",
        f"| accepted by the gateway (a response carrying x-request-id) | {n(tot['accepted'])} (+{n(led.get('accepted_smoke_checks'))} smoke checks) |",
        f"| ledger rows | {n(led.get('rows'))} ({n(led.get('distinct_ids'))} distinct request ids) |",
        f"| accepted requests without a row | **{n(len(led.get('missing_ids', [])))}** |",
        f"| rows for no accepted request | {n(len(led.get('extra_ids', [])))} |",
        *([f"| rows with status 500 | {n(led['rows_500'])} |"] if "rows_500" in led else []),
        f"| rows equal requests accepted | **{'yes' if led.get('equal') else 'NO'}** |",
        f"| ledger database outage | {m.get('outage_text', '–')} |",
        f"| journal backlog at its peak (rows not yet in SQLite) | {n(m.get('pending_peak'))} |",
        f"| backlog shipped | {m.get('drain_text', '–')} |",
        f"| gateway stop (SIGTERM) | exit code {m.get('gateway_exit_code')}, {n(m.get('gateway_stop_s'), 2)} s |",
        "",
        f"Errors, all kinds: {errors_text(tot['errors'], 20)}.",
        "",
        f"{sub} By kind of request",
        "",
        "| kind | requests | answered | req/s | p50 ms | p99 ms | p99 ms, all outcomes | errors by kind |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for kind, g in a["by_kind"].items():
        L.append(f"| {kind} | {n(g['requests'])} | {n(g['ok_pct'], 2)}% | {n(g.get('req_per_s'))} | {n(g['ok_latency']['p50_ms'], 2)} | "
                 f"{n(g['ok_latency']['p99_ms'], 2)} | {n(g['all_latency']['p99_ms'], 2)} | {errors_text(g['errors'])} |")
    L += [
        "",
        f"{sub} Faults, in order",
        "",
        "Each segment starts when its fault is injected and runs until the next one, so it includes the recovery. Latency columns are for "
        "answered requests.",
        "",
        "| from s | to s | segment | requests | answered | answered/s | p50 ms | p99 ms | errors by kind |",
        "|--:|--:|---|--:|--:|--:|--:|--:|---|",
    ]
    for s in a["segments"]:
        L.append(f"| {s['from_s']} | {s['to_s']} | {s['segment']} | {n(s['requests'])} | {n(s['ok_pct'], 2)}% | {n(s.get('ok_per_s'))} | "
                 f"{n(s['ok_latency']['p50_ms'], 2)} | {n(s['ok_latency']['p99_ms'], 2)} | {errors_text(s['errors'])} |")
    L += ["", "Injected (times from the start of the load):", ""]
    for e in result["events"]:
        L.append(f"- {n(e.get('started_at_s'))}–{n(e.get('ended_at_s'))} s: **{e['name']}** — {e['how']}")
    L += [
        "",
        f"{sub} Timeline (5 s steps)",
        "",
        "| s | sent/s | answered/s | errors | p99 ms | ledger backlog (max) | ledger DB up | gateway CPU % (max) |",
        "|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for t in a["timeline"]:
        up = "–" if t["db_up"] is None else ("yes" if t["db_up"] else "**no**")
        L.append(f"| {t['at_s']} | {n(t['req_per_s'])} | {n(t['ok_per_s'])} | {n(t['errors'])} | {n(t['ok_p99_ms'])} | "
                 f"{n(t['ledger_pending_max'])} | {up} | {n(t['gateway_cpu_pct'], 0)} |")
    L += ["", f"{sub} Ledger check", ""]
    L.append(f"After the load the bench waited for /readyz to report no rows pending, stopped the gateway with SIGTERM and read "
             f"`ledger_requests`: {n(led.get('rows'))} rows, {n(led.get('distinct_ids'))} distinct ids, for {n(led.get('accepted'))} requests "
             f"accepted: {n(tot['accepted'])} of the load (a response with an `x-request-id`: answered, refused, failed upstream, or a "
             f"stream that ended with an error event) and {n(led.get('accepted_smoke_checks'))} smoke checks before and after it; "
             f"{n(tot['requests'] - tot['accepted'])} requests of the load got no response.")
    if led.get("missing_ids"):
        L.append(f"\n**Accepted requests without a row ({len(led['missing_ids'])}):** " + ", ".join(led["missing_ids"][:50]))
    if led.get("extra_ids"):
        L.append(f"\nRows for requests no client saw an id for ({len(led['extra_ids'])}; e.g. a client that timed out): "
                 + ", ".join(f"{r['request_id']} (status {r['status']}, {r.get('error') or r.get('route')})" for r in led.get("extra_rows", [])[:20]))
    if led.get("by_status"):
        L += ["", "| status | route | rows |", "|--:|---|--:|"]
        L += [f"| {r['status']} | {r['route']} | {n(r['rows'])} |" for r in led["by_status"]]
    L.append(f"\nJournal directory after the stop: {', '.join(led.get('journal_files_left', [])) or 'empty'}.")
    if result.get("ledger_log"):
        L += ["", "Ledger lines of the gateway log:", "", "```"] + result["ledger_log"][:20] + ["```"]
    L += ["", f"{sub} Checks", ""] + [f"- {c}" for c in result.get("checks", [])]
    if result.get("problems"):
        L += ["", f"{sub} Problems", ""] + [f"- {p}" for p in result["problems"]]
    L += ["", f"{sub} Constellation", "", "```yaml", result.get("constellation", "").rstrip(), "```", ""]
    L += [f"{sub} Notes", ""]
    L += [f"- {x}" for x in NOTES]
    return "\n".join(L) + "\n"


NOTES = [
    "Closed loop: latency under load includes queueing (no coordinated-omission correction), and a fault that slows answers also "
    "lowers the request rate.",
    "Faults are injected at the upstream (tests/upstream_server.py `/_control`): a fault named with a duration applies to every "
    "upstream call in that window (retries and fallbacks included); one named with a count applies to that many upstream calls. The "
    "gateway's `primary` model falls back to `backup` on the same upstream, so a storm that hits every call ends in an error to the "
    "client once retries and fallback are spent.",
    "The ledger outage is another SQLite connection holding `BEGIN EXCLUSIVE` on the ledger file: the gateway's shipper cannot write, "
    "rows wait in the journal, and requests are not slowed by it (the row is journaled, not written to SQL, on the request path).",
    "The gateway's circuit breaker cooldown is set to 5 s here (`defaults.breaker_cooldown_s`, default 30 s), so that each fault's "
    "recovery, breaker included, fits in its segment; with the default, a 3 s 5xx storm keeps a model's circuit open for 30 s.",
    "Three processes share two cores: gateway pinned to CPU 0; upstream and load generator on CPU 1 (unless --no-pin). The rate is "
    "set by the gateway's core (its CPU column stays at ~100% outside the slow-upstream stretches, while CPU 1 has room: see the "
    "CPU busy line above); the upstream and the load generator are Python, so their per-request cost is part of every latency. "
    "bench/gateway.py measures the gateway alone against nginx.",
]


if __name__ == "__main__":
    sys.stdout.write(render(orjson.loads(Path(sys.argv[1]).read_bytes())))
