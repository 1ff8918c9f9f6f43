"""Benchmark: `rightmodel report` on a 1,000,000-row SQLite ledger (issue 6: under 5 s).

1. Builds a seeded ledger (report_bench/ledger.py, its docstring has the mix): the real schema
   (``rightmodel.ledger.store.migrate``: tables and indexes, schema 0003 included), rows written
   with sqlite3 ``executemany`` in one transaction, spread over the last --days days (ending at
   the hour the run started), with a diurnal shape. Requests look like the gateway's: routes,
   tenants, tasks, remote models, failures, reasons, extra and privacy fields, and since schema
   0003 the specialist version consulted (specialist / escalated / escalation_unavailable rows)
   and the labels the answer carried. ``ledger_feedback`` holds verdicts on 5% of the answered
   task requests (~35k rows on 1M): label feedback judged as ledger/feedback.py does, the
   client's own correct/incorrect, and score-only feedback. A sample is read back through the
   ledger's own reader to check the encoding.
2. Times `rightmodel report` as a real subprocess (the installed entry point, as a user runs
   it) for each --by (version included) and --format, --runs times each (median and max), plus
   bounded windows (--since 7d / 24h / 1h) and "cold" runs after evicting the database file
   from the page cache (``posix_fadvise(DONTNEED)`` on that file only).
3. Baseline in the same run: the naive way, `SELECT *` of both tables through SQLAlchemy and
   every number computed in Python (report_bench/naive.py; ``python bench/report.py --naive URL
   BY``, also a subprocess). Its numbers must equal the report's: every group, the total
   (feedback, accuracy, mean_score and fixed cost included) and the versions section (an
   independent check of the SQL on a million rows); the ratio of the medians is reported.
4. In-process, on the same data (report_bench/inprocess.py): how to get percentiles out of
   SQLite (``group_concat`` of the latencies in the GROUP BY, parsed and sorted by numpy, as the
   report does; streaming (group, latency) and sorting in Python, its fallback; ``ORDER BY
   group, latency``; ``row_number()`` window functions), and ``build_dashboard`` (what the
   gateway's GET /dashboard/data runs) over the whole ledger, the last 7 days and 24 hours,
   split into its parts (no target; the numbers are stated).

Writes bench/results/report.json and report.md (or --out DIR); the ledger goes to --work
(default $TMPDIR/rightmodel-bench-report), deleted at the end unless --keep. Holds the machine's
bench lock (/tmp/bench.lock, see bench/benchlib.py; --lock-wait seconds) from the build to the
last measurement.

Usage: .venv/bin/python bench/report.py [--rows 1000000] [--days 30] [--seed 7] [--runs 3] [--src DIR]
(--src: measure another source tree, e.g. `git archive HEAD src | tar -x -C /tmp/rm-head` while
others edit the checkout; the results record which code was measured.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
# --src DIR (default: this checkout's src): the rightmodel code measured, for this process and every child.
SRC = Path(sys.argv[sys.argv.index("--src") + 1]).resolve() if "--src" in sys.argv[:-1] else ROOT / "src"
sys.path.insert(0, str(SRC))

import benchlib  # noqa: E402  (bench/benchlib.py: the shared bench lock, machine accounting)
from report_bench import inprocess  # noqa: E402
from report_bench.ledger import build_ledger, evict  # noqa: E402
from report_bench.naive import naive, same_numbers  # noqa: E402

BYS = ("task", "model", "tenant", "day", "route", "version")
FORMATS = ("table", "json", "csv")
TARGET_S = 5.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- timing


def report_argv() -> list[str]:
    exe = Path(sys.executable).parent / "rightmodel"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rightmodel.cli"]


def timed(argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess, float]:
    """Wall seconds, the finished process (stdout/stderr as text) and its peak RSS in MB."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own rusage
        secs = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(argv, proc.returncode, out.read().decode(), err.read().decode())
    if done.returncode != 0:
        raise benchlib.BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return secs, done, usage.ru_maxrss / 1024


def summary(times: list[float]) -> dict:
    return {"runs_s": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3)}


def machine_info() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0)
    git = lambda *a: subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    import sqlalchemy

    return {"date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu_model": cpu,
            "nproc": os.cpu_count(), "mem_gib": round(mem / 2**20, 1), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "sqlalchemy": sqlalchemy.__version__, "kernel": platform.release(),
            "git_commit": git("rev-parse", "--short", "HEAD"),
            "src": str(SRC), "src_is_checkout": SRC == ROOT / "src",
            "src_snapshot_of": (SRC.parent / "SNAPSHOT").read_text().strip()[:7] if (SRC.parent / "SNAPSHOT").exists() else None,
            "uncommitted_report_files": "; ".join(git("status", "--porcelain", "--", "src/rightmodel/report", "src/rightmodel/cli.py",
                                                      "bench/report.py").splitlines()) or "none",
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
            "command": " ".join(shlex.quote(x) for x in [os.path.relpath(sys.executable, ROOT), "bench/report.py", *sys.argv[1:]])}


def run(a: argparse.Namespace) -> dict:
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    db = work / "ledger.db"
    url = f"sqlite:///{db}"
    out: dict = {"machine": machine_info(), "target_s": TARGET_S, "runs": a.runs}
    end = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    log(f"building a {a.rows:,}-row ledger at {db}")
    # In a child process: this one stays small, so the peak RSS of the processes it starts later
    # is theirs (a child forked from a big parent reports the parent's peak after exec).
    built = subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--src", str(SRC), "--build", str(db), str(a.rows),
                            str(a.days), str(a.seed), end.isoformat()], capture_output=True, text=True)
    if built.returncode != 0:
        raise benchlib.BenchError(f"building the ledger failed: {built.stderr.strip()[-800:]}")
    out["ledger"] = json.loads(built.stdout)
    log(f"built in {out['ledger']['generate_s']} + {out['ledger']['insert_s']} s, {out['ledger']['file_mb']} MB")
    env = {k: v for k, v in os.environ.items() if k not in ("RIGHTMODEL_LEDGER_URL", "RIGHTMODEL_HOME")}
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = str(SRC)  # before the venv's editable install of this checkout
    cmd = report_argv()
    out["report_command"] = " ".join([os.path.relpath(cmd[0], ROOT) if cmd[0].startswith(str(ROOT)) else cmd[0], *cmd[1:],
                                      "report", "--ledger-url", url])
    window = benchlib.Window(os.getpid())
    timed([*cmd, "report", "--ledger-url", url, "--format", "json"], env)  # warm-up: page cache, .pyc
    helps = [timed([*cmd, "report", "--help"], env) for _ in range(a.runs)]
    out["cli_help_rss_mb"] = round(max(h[2] for h in helps), 1)
    out["cli_help_s"] = summary([h[0] for h in helps])  # interpreter + CLI start-up, no ledger
    cases, jsons = [], {}
    for by in BYS:
        for fmt in FORMATS:
            times, rss = [], []
            for _ in range(a.runs):
                secs, done, mb = timed([*cmd, "report", "--ledger-url", url, "--by", by, "--format", fmt], env)
                times.append(secs)
                rss.append(mb)
            if fmt == "json":
                jsons[by] = json.loads(done.stdout)
            cases.append({"by": by, "format": fmt, "since": None, **summary(times), "max_rss_mb": round(max(rss), 1),
                          "output_bytes": len(done.stdout)})
            log(f"report --by {by} --format {fmt}: median {cases[-1]['median_s']} s, max {cases[-1]['max_s']} s")
    for by, fmt, since in (("task", "json", "7d"), ("tenant", "table", "24h"), ("day", "csv", "7d"), ("task", "json", "1h")):
        times, rss = [], []
        for _ in range(a.runs):
            secs, done, mb = timed([*cmd, "report", "--ledger-url", url, "--by", by, "--format", fmt, "--since", since], env)
            times.append(secs)
            rss.append(mb)
        cases.append({"by": by, "format": fmt, "since": since, **summary(times), "max_rss_mb": round(max(rss), 1),
                      "output_bytes": len(done.stdout)})
        log(f"report --by {by} --format {fmt} --since {since}: median {cases[-1]['median_s']} s")
    cold = []
    for _ in range(a.runs):
        evict(db)
        secs, _done, _mb = timed([*cmd, "report", "--ledger-url", url, "--by", "task", "--format", "json"], env)
        cold.append(secs)
    out["cold"] = {"by": "task", "format": "json", **summary(cold)}
    log(f"cold (file evicted from the page cache): median {out['cold']['median_s']} s")
    out["cases"] = cases
    baseline = []
    for by in BYS:
        times, diffs = [], []
        for _ in range(a.baseline_runs):
            secs, done, _mb = timed([sys.executable, str(ROOT / "bench" / "report.py"), "--src", str(SRC), "--naive", url, by], env)
            times.append(secs)
        diffs = same_numbers(jsons[by], json.loads(done.stdout))
        ours = next(c for c in cases if c["by"] == by and c["format"] == "json" and c["since"] is None)
        baseline.append({"by": by, **summary(times), "report_json_median_s": ours["median_s"],
                         "speedup": round(statistics.median(times) / ours["median_s"], 1),
                         "numbers_equal": not diffs, "differences": diffs[:10]})
        log(f"naive --by {by}: median {baseline[-1]['median_s']} s (x{baseline[-1]['speedup']}); "
            f"numbers {'equal' if not diffs else 'DIFFER: ' + '; '.join(diffs[:3])}")
    out["baseline"] = baseline
    out["percentile_strategies"] = inprocess.percentile_strategies(db, a.runs)
    log("build_dashboard in-process (a child process: its own peak RSS)")
    dash = subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--src", str(SRC), "--dashboard", url, end.isoformat(),
                           str(a.runs)],
                          capture_output=True, text=True, env=env)
    sys.stderr.write(dash.stderr)
    if dash.returncode != 0:
        raise benchlib.BenchError(f"the dashboard measurement failed: {dash.stderr.strip()[-800:]}")
    dash = json.loads(dash.stdout)
    out["report_parts"] = dash.pop("report_parts")
    out["dashboard"] = {"now": end.isoformat(), "runs": a.runs, **dash}
    out["machine"]["during"] = window.close()
    medians = [c["median_s"] for c in cases]
    worst = max(c["max_s"] for c in cases)
    out["verdict"] = {"slowest_median_s": max(medians), "slowest_run_s": worst,
                      "slowest_cold_s": out["cold"]["max_s"],
                      "under_target": worst < TARGET_S and out["cold"]["max_s"] < TARGET_S,
                      "baseline_numbers_equal": all(b["numbers_equal"] for b in baseline),
                      "dashboard_slowest_median_s": max(w["median_s"] for w in out["dashboard"]["windows"]),
                      "dashboard_series_add_up": all(w["series_add_up"] for w in out["dashboard"]["windows"])}
    return out


# ----------------------------------------------------------------------------- markdown


def render(r: dict) -> str:
    m, lg, v = r["machine"], r["ledger"], r["verdict"]
    d = m.get("during", {})
    lines = [
        "# `rightmodel report` on a 1,000,000-row ledger" if lg["rows"] == 1_000_000 else f"# `rightmodel report` on a {lg['rows']:,}-row ledger",
        "",
        f"Measured {m['date_utc']} by `{m['command']}`. One run; every number below comes from it.",
        "",
        f"- Machine: {m['cpu_model']}, {m['nproc']} cores, {m['mem_gib']} GiB RAM, kernel {m['kernel']}, Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}. Load average at the start: {' '.join(m['loadavg_at_start'])}. "
        f"git {m['git_commit']} (uncommitted report files: {m['uncommitted_report_files']}).",
        f"- Code measured: {'this checkout’s src' if m.get('src_is_checkout', True) else '`' + m['src'] + '`'}"
        f"{', a `git archive` of commit ' + m['src_snapshot_of'] + ' (the committed code, without edits in progress in the checkout)' if m.get('src_snapshot_of') else ''}"
        f"; every child process runs it (PYTHONPATH).",
        f"- Other processes during the measurements used {d.get('other_cores', '?')} cores on average"
        f"{' (' + d['other_top'] + ')' if d.get('other_top') else ''}; steal {d.get('steal_pct', '?')}%.",
        f"- Ledger: SQLite, the real schema and indexes ({', '.join(lg['indexes'])}; no ANALYZE, as a gateway leaves it), "
        f"{lg['rows']:,} rows over {lg['days']} days ({lg['first'][:16]} to {lg['end'][:16]} UTC), seed {lg['seed']}, "
        f"{lg['file_mb']} MB. Routes: {', '.join(f'{k} {n:,}' for k, n in lg['routes'].items())}. "
        f"`specialist` set on specialist, escalated and escalation_unavailable rows; `labels` on specialist and "
        f"escalation_unavailable rows and on escalated rows whose answer matched a label. "
        f"ledger_feedback: {lg['feedback_rows']:,} rows (5% of answered task requests: "
        f"{', '.join(f'{k} {n:,}' for k, n in lg['feedback_kinds'].items())}). "
        f"Built in {lg['generate_s']} s (rows) + {lg['insert_s']} s (insert).",
        f"- Command: `{r['report_command']} --by BY --format FORMAT` as a subprocess, wall time including interpreter "
        f"start-up, {r['runs']} runs each after one warm-up; page cache warm except the cold rows.",
        "",
        "## Verdict",
        "",
        f"Target (issue 6): under {TARGET_S:.0f} s on 1M rows. Slowest median {v['slowest_median_s']:.2f} s, slowest single run "
        f"{v['slowest_run_s']:.2f} s, slowest cold run {v['slowest_cold_s']:.2f} s: "
        f"**{'met' if v['under_target'] else 'NOT met'}**. The naive baseline's numbers "
        f"{'equal the report’s on every --by' if v['baseline_numbers_equal'] else '**differ** from the report’s (see below)'}. "
        f"Dashboard data (no target): slowest median {v['dashboard_slowest_median_s']:.2f} s (below).",
        "",
        "## Every --by and --format (seconds)",
        "",
        "| --by | --since | table median / max | json median / max | csv median / max | peak RSS MB |",
        "|---|---|--:|--:|--:|--:|",
    ]
    rows: dict = defaultdict(dict)
    for c in r["cases"]:
        cells = rows[(c["by"], c["since"])]
        cells[c["format"]] = f"{c['median_s']:.2f} / {c['max_s']:.2f}"
        cells["rss"] = max(cells.get("rss", 0), c["max_rss_mb"])
    for (by, since), cells in rows.items():
        lines.append(f"| {by} | {since or 'all'} | {cells.get('table', '')} | {cells.get('json', '')} | {cells.get('csv', '')} "
                     f"| {cells['rss']:.0f} |")
    c = r["cold"]
    lines += [
        "",
        f"Cold (the database file evicted from the page cache before each run): --by task --format json "
        f"median {c['median_s']:.2f} s, max {c['max_s']:.2f} s. `rightmodel report --help` (interpreter and CLI start-up, no "
        f"ledger), for scale: median {r['cli_help_s']['median_s']:.2f} s, peak RSS {r['cli_help_rss_mb']:.0f} MB.",
        "",
        "## Baseline: `SELECT *` through SQLAlchemy, aggregated in Python (seconds, subprocess, same definitions)",
        "",
        "Both tables read whole; feedback joined to its request by request_id. Compared: every field of every group and "
        "of the total (counts, rates, percentiles, costs, fixed cost, feedback, accuracy, mean_score, accuracy_note) and "
        "every row of the versions section (consulted, answered, escalated, escalation_rate, accepted / own / escalated "
        "feedback and accuracy).",
        "",
        "| --by | naive median / max | report (json) median | report is faster by | same numbers |",
        "|---|--:|--:|--:|---|",
    ]
    for b in r["baseline"]:
        lines.append(f"| {b['by']} | {b['median_s']:.2f} / {b['max_s']:.2f} | {b['report_json_median_s']:.2f} | "
                     f"{b['speedup']:.1f}× | {'yes' if b['numbers_equal'] else 'NO: ' + '; '.join(b['differences'][:3])} |")
    parts = r.get("report_parts")
    if parts:
        lines += [
            "",
            "## Where the report's time goes (in-process, seconds, whole ledger, engine open, page cache warm)",
            "",
            f"Each query of `build_report` timed apart ({parts['runs']} runs, median / max), the way aggregate.py and "
            "versions.py run them; then `build_report` whole (the rest of a subprocess run above is interpreter start-up, "
            "imports and rendering: see `report --help`).",
            "",
            "| --by | part | median / max |",
            "|---|---|--:|",
        ]
        for p in parts["parts"]:
            lines.append(f"| {p['by']} | {p['part']} | {p['median_s']:.3f} / {p['max_s']:.3f} |")
    dsh = r.get("dashboard")
    if dsh:
        lines += [
            "",
            "## Dashboard data: `build_dashboard` (GET /dashboard/data), in-process (seconds)",
            "",
            f"`rightmodel.report.series.build_dashboard(engine, since, None, now={dsh['now'][:16]})` in one Python process "
            f"(engine created once, one warm-up call, then {dsh['runs']} timed calls per window), same ledger, page cache "
            f"warm; no target. Then one more call split into the two things it runs. Peak RSS of that process "
            f"(which also ran the report parts above) {dsh['peak_rss_mb']:.0f} MB.",
            "",
            "| window | requests | buckets × size | median / max | of which: report --by task | time buckets × route (aggregate) "
            "| series add up |",
            "|---|--:|--:|--:|--:|--:|---|",
        ]
        for w in dsh["windows"]:
            p = w["parts"]
            lines.append(f"| {w['window']} | {w['requests']:,} | {w['buckets']} × {w['bucket_s'] // 60} min | "
                         f"{w['median_s']:.2f} / {w['max_s']:.2f} | {p['report_by_task_s']:.2f} | {p['buckets_and_routes_aggregate_s']:.2f} "
                         f"| {'yes' if w['series_add_up'] else 'NO'} |")
    lines += [
        "",
        "## Percentiles out of SQLite, four ways (seconds in-process, SQL + Python, no CLI start-up)",
        "",
        "| --by | strategy | median | max |",
        "|---|---|--:|--:|",
    ]
    for p in r["percentile_strategies"]:
        lines.append(f"| {p['by']} | {p['strategy']} | {p['median_s']:.3f} | {p['max_s']:.3f} |")
    lines += [
        "",
        "The report runs one GROUP BY for counts, sums and a group_concat of the answered rows' latencies, which numpy "
        "parses and sorts (streaming (group, latency_ms) rows instead is the fallback for a group too long for one SQLite "
        "string); on PostgreSQL it uses percentile_disc instead. A bounded --since uses the created_at index.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per case (median and max reported)")
    ap.add_argument("--baseline-runs", type=int, default=3)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "rightmodel-bench-report"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--keep", action="store_true", help="keep the ledger in --work")
    ap.add_argument("--lock-wait", type=int, default=1800, help="seconds to wait for /tmp/bench.lock")
    ap.add_argument("--render", metavar="JSON", help="rewrite report.md from a results JSON (no measurement)")
    ap.add_argument("--naive", nargs=2, metavar=("URL", "BY"), help=argparse.SUPPRESS)
    ap.add_argument("--src", default=str(ROOT / "src"), help="the rightmodel source tree to measure (default: this checkout's "
                    "src; e.g. a `git archive HEAD src` snapshot, so edits in progress in the checkout are not measured)")
    ap.add_argument("--dashboard", nargs=3, metavar=("URL", "NOW", "RUNS"), help=argparse.SUPPRESS)
    ap.add_argument("--build", nargs=5, metavar=("PATH", "ROWS", "DAYS", "SEED", "END"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.naive:
        json.dump(naive(*a.naive), sys.stdout)
        return 0
    if a.render:
        (Path(a.out) / "report.md").write_text(render(json.loads(Path(a.render).read_text())))
        return 0
    if a.dashboard:
        url, now, runs = a.dashboard
        parts = inprocess.report_parts(url, int(runs))
        json.dump({**inprocess.dashboard(url, dt.datetime.fromisoformat(now), int(runs)), "report_parts": parts}, sys.stdout)
        return 0
    if a.build:
        path, rows, days, seed, end = a.build
        json.dump(build_ledger(Path(path), int(rows), int(days), int(seed), dt.datetime.fromisoformat(end)), sys.stdout)
        return 0
    lock = benchlib.BenchLock("bench/report.py", time.strftime("%Y%m%d-%H%M%S"), a.lock_wait, log=log)
    lock.acquire()
    try:
        result = run(a)
    except benchlib.BenchError as exc:
        log(f"ERROR: {exc}")
        return 1
    finally:
        lock.release()
        if not a.keep:  # only what this bench made: the ledger files, then the directory if empty
            for suffix in ("", "-wal", "-shm"):
                Path(f"{Path(a.work) / 'ledger.db'}{suffix}").unlink(missing_ok=True)
            try:
                Path(a.work).rmdir()
            except OSError:
                pass
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "report.md").write_text(render(result))
    log(f"wrote {out / 'report.json'} and {out / 'report.md'}")
    print(render(result))
    return 0 if result["verdict"]["under_target"] and result["verdict"]["baseline_numbers_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
