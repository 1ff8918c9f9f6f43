"""bench/results/gateway.md from the bench's JSON (bench/gateway.py): the targets, then the tables and notes."""

from __future__ import annotations

from benchlib import fmt  # bench/benchlib.py (bench/gateway.py imports it from here too)


def evaluate_targets(rows: list[dict]) -> list[dict]:
    def get(**kw):
        return next((r for r in rows if all(r.get(k) == v for k, v in kw.items())), None)

    targets = []
    for config in ("pinned", "unpinned"):
        chats = [r for r in rows if r.get("phase") == "specialist" and r.get("target") == "rightmodel" and r.get("config") == config
                 and r.get("mode") == "chat" and "rps" in r]
        if chats:
            best = max(chats, key=lambda r: r["rps"])
            where = ("gateway pinned to CPU 0, wrk on CPU 1" if config == "pinned"
                     else "gateway unpinned on both cores, wrk on CPU 1")
            targets.append({"target": f"specialist chat completions >= 300 req/s on 2 cores ({where})",
                            "measured": f"{best['rps']:,.0f} req/s (best of c={','.join(str(r['conc']) for r in chats)}: at c={best['conc']}; "
                                        f"{best.get('errors', 0)} errors)",
                            "met": best["rps"] >= 300 and not best.get("errors")})
    up, rm = get(phase="passthrough", target="upstream", mode="nostream", conc=1), get(phase="passthrough", target="rightmodel", mode="nostream", conc=1)
    if up and rm:
        added = rm["p50_ms"] - up["p50_ms"]
        targets.append({"target": "passthrough, ledger on: added p50 <= 2 ms at c=1 (non-streaming)",
                        "measured": f"{added:.2f} ms ({rm['p50_ms']:.2f} ms through rightmodel - {up['p50_ms']:.2f} ms direct)",
                        "met": added <= 2.0 and not rm.get("errors")})
    ll, rm16 = get(phase="passthrough", target="litellm", mode="nostream", conc=16), get(phase="passthrough", target="rightmodel", mode="nostream", conc=16)
    if ll and rm16 and ll.get("rps"):
        ratio = rm16["rps"] / ll["rps"]
        targets.append({"target": "passthrough >= 10x LiteLLM's req/s at c=16 (non-streaming)",
                        "measured": f"{ratio:.1f}x ({rm16['rps']:,.0f} vs {ll['rps']:,.1f} req/s)",
                        "met": ratio >= 10 and not rm16.get("errors")})
    return targets


RSS_TARGET_MB, READY_TARGET_S = 400, 5.0  # issue 18, a lean server: one Banking77 specialist, privacy on


def lean_targets(instances: dict) -> list[dict]:
    """RSS after N requests and time to /readyz of the specialist gateways (privacy at its default: on)."""
    targets = []
    for label, i in instances.items():
        if not label.startswith("rightmodel-specialist"):
            continue
        ledger = i.get("ledger") or {}
        chat_ok = sum(b["rows"] for b in ledger.get("by", []) if b["endpoint"] == "/v1/chat/completions" and b["status"] == 200)
        privacy = (f"privacy on: detection ran on {ledger['privacy_scanned']:,} ledger rows, {chat_ok:,} chat completions answered"
                   if isinstance(ledger.get("privacy_scanned"), int) else "privacy at its default (on)")
        if i.get("rss_after_n_mib") is not None:
            n = (i.get("rss_requests") or {}).get("n")
            mb = i["rss_after_n_mib"] * 1.048576
            targets.append({"target": f"{label}: RSS <= {RSS_TARGET_MB} MB after {fmt(n, 0)} requests ({privacy})",
                            "measured": f"{mb:,.0f} MB ({i['rss_after_n_mib']:,.1f} MiB); after all {fmt(i.get('answered_before_rss_after'), 0)} "
                                        f"requests of the run {fmt(i.get('rss_after_mib'))} MiB",
                            "met": mb <= RSS_TARGET_MB})
        if i.get("startup_s") is not None:
            targets.append({"target": f"{label}: /readyz 200 <= {READY_TARGET_S:g} s after the process starts",
                            "measured": f"{i['startup_s']:.2f} s", "met": i["startup_s"] <= READY_TARGET_S})
    return targets


def render(result: dict, gw_cpu: int, load_cpu: int) -> str:
    """gw_cpu, load_cpu: the CPU pinning of the run (bench/gateway.py GW_CPU, LOAD_CPU)."""
    m, rows = result["meta"], result["rows"]
    L = []
    L.append("# Gateway benchmark: rightmodel vs calling the specialist directly, and vs LiteLLM's proxy\n")
    L.append(f"Measured {m.get('date_utc')} by `{m.get('command')}` (run {m.get('run_id')}, measuring took "
             f"{fmt(m.get('measure_s'))} s). All numbers below come from this one run.\n")
    L.append(f"- Machine: {m.get('cpu_model')}, {m.get('nproc')} cores, {m.get('mem_gib')} GiB RAM, {m.get('os')}, kernel "
             f"{m.get('kernel')}, Python {m.get('python')}. Load average at the start of measuring: "
             f"{' '.join(m.get('loadavg_at_measure_start') or [])}.")
    env = ", ".join(f"{k} {v}" for k, v in (m.get("rightmodel_env") or {}).items())
    L.append(f"- rightmodel: git {m.get('git_commit')} (+{m.get('git_src_uncommitted_files', 0)} uncommitted files under src/; "
             f"source digest {m.get('src_digest')}); {env}.")
    L.append(f"- Upstream: nginx {m.get('nginx')} fixed responses (`bench/gateway/nginx.conf`); load generator wrk {m.get('wrk')}, "
             f"1 thread, closed loop, keep-alive, {m.get('duration_s')} s per step after a {m.get('warmup_s')} s warm-up at c=16 "
             f"per target and mode; LiteLLM {m.get('litellm', 'not run')} (`bench/gateway/litellm.yaml`, num_retries 0, no DB, 1 process).")
    L.append(f"- Pinning: gateway under test on CPU {gw_cpu}; nginx and wrk on CPU {load_cpu} (2 cores, so they share one). "
             "The direct baseline runs in its own process, pinned like the gateway.")
    if m.get("specialist"):
        L.append(f"- Specialist: {m.get('specialist')}. Request texts: {m.get('specialist_texts', '–')}.")
    L.append("")

    targets = result.get("targets") or []
    if targets:
        L.append("## Targets\n")
        L.append("| target | measured | met |")
        L.append("|---|---|---|")
        for t in targets:
            L.append(f"| {t['target']} | {t['measured']} | {'**yes**' if t['met'] else '**no**'} |")
        L.append("")

    spec = [r for r in rows if r.get("phase") == "specialist"]
    if spec:
        L.append("## (a) Specialist requests: through the gateway vs calling the runtime in-process\n")
        L.append("`pinned`: gateway / baseline process on CPU 0, ONNX Runtime 1 thread. `unpinned`: on both cores, ONNX Runtime "
                 "default threads (wrk still on CPU 1). Direct c=1 is `SpecialistRuntime.predict_proba([text])` one call at a time; "
                 "direct micro-batcher is `MicroBatcher` with c concurrent asyncio callers, with the gateway's default batching settings "
                 "(shown at c=1 too, to separate what batching costs a lone request from what HTTP costs). Gateway rows: "
                 "`chat` = POST /v1/chat/completions with model = the task, `classify` = POST /v1/classify, one text each. "
                 "`vs direct` = gateway req/s ÷ direct req/s at the same concurrency and config, against predict_proba at c=1 and the "
                 "micro-batcher at c>1; `added p50` = gateway p50 − that direct p50.\n")
        L.append("| config | path | conc | req/s | p50 ms | p99 ms | errors | vs direct | added p50 ms | CPU ms/req | mean batch | CPU0 % | CPU1 % | others, cores |")
        L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for config in ("pinned", "unpinned"):
            direct = {r["conc"]: r for r in spec if r["target"] == "direct" and r["config"] == config
                      and r["mode"] == ("predict_proba" if r["conc"] == 1 else "micro-batcher")}
            for r in [x for x in spec if x.get("config") == config]:
                d = direct.get(r["conc"]) if r["target"] != "direct" else None
                path = f"direct {r['mode']}" if r["target"] == "direct" else f"gateway {r['mode']}"
                errs = r.get("errors", 0) if not r.get("failed") else f"FAILED ({r['failed']})"
                L.append(f"| {config} | {path} | {r['conc']} | {fmt(r.get('rps'))} | {fmt(r.get('p50_ms'), 2)} | {fmt(r.get('p99_ms'), 2)} "
                         f"| {errs} | {fmt(r['rps'] / d['rps'], 2) + '×' if d and d.get('rps') and r.get('rps') else '–'} "
                         f"| {fmt(r['p50_ms'] - d['p50_ms'], 2) if d and 'p50_ms' in r else '–'} | {fmt(r.get('cpu_ms_per_req'), 3)} "
                         f"| {fmt(r.get('mean_batch'), 1)} | {fmt(r.get('cpu0_busy_pct'), 0)} | {fmt(r.get('cpu1_busy_pct'), 0)} "
                         f"| {fmt(r.get('other_cores'), 2)} |")
        L.append("")

    pt = [r for r in rows if r.get("phase") == "passthrough"]
    if pt:
        L.append("## (b) Passthrough chat requests: upstream directly, through rightmodel, through LiteLLM\n")
        L.append("`added p50` = p50 of the target − p50 of the upstream called directly, same mode and concurrency. "
                 "`CPU ms/req` = user+sys CPU of the target's processes over the step ÷ responses (for `upstream`, nginx itself). "
                 "rightmodel runs with its ledger on (journal + SQLite in --home).\n")
        L.append("| target | mode | conc | req/s | p50 ms | p90 ms | p99 ms | errors | added p50 ms | CPU ms/req | CPU0 % | CPU1 % | others, cores |")
        L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        base = {(r["mode"], r["conc"]): r for r in pt if r["target"] == "upstream"}
        for r in pt:
            b = base.get((r["mode"], r["conc"]))
            added = r["p50_ms"] - b["p50_ms"] if b and r["target"] != "upstream" and "p50_ms" in r else None
            errs = r.get("errors", 0) if not r.get("failed") else f"FAILED ({r['failed']})"
            L.append(f"| {r['target']} | {r['mode']} | {r['conc']} | {fmt(r.get('rps'))} | {fmt(r.get('p50_ms'), 2)} | {fmt(r.get('p90_ms'), 2)} "
                     f"| {fmt(r.get('p99_ms'), 2)} | {errs} | {fmt(added, 2)} | {fmt(r.get('cpu_ms_per_req'), 3)} "
                     f"| {fmt(r.get('cpu0_busy_pct'), 0)} | {fmt(r.get('cpu1_busy_pct'), 0)} | {fmt(r.get('other_cores'), 2)} |")
        L.append("")
        names = sorted({r["target"] for r in pt} - {"upstream", "litellm"})
        if any(r["target"] == "litellm" for r in pt) and names:
            name = names[0]
            L.append(f"### {name} ÷ LiteLLM, same run\n")
            L.append(f"| mode | conc | req/s ratio | {name} added p50 ms | LiteLLM added p50 ms | CPU ms/req ratio (LiteLLM ÷ {name}) |")
            L.append("|---|--:|--:|--:|--:|--:|")
            for mode in ("nostream", "stream"):
                for c in sorted({r["conc"] for r in pt}):
                    g = next((r for r in pt if r["target"] == name and r["mode"] == mode and r["conc"] == c), None)
                    ll = next((r for r in pt if r["target"] == "litellm" and r["mode"] == mode and r["conc"] == c), None)
                    b = base.get((mode, c))
                    if not (g and ll and b and g.get("rps") and ll.get("rps")):
                        continue
                    cpu = (ll.get("cpu_ms_per_req") or 0) / g["cpu_ms_per_req"] if g.get("cpu_ms_per_req") else None
                    L.append(f"| {mode} | {c} | {g['rps'] / ll['rps']:,.1f}× | {g['p50_ms'] - b['p50_ms']:.2f} | {ll['p50_ms'] - b['p50_ms']:.2f} "
                             f"| {fmt(cpu, 1) + '×' if cpu else '–'} |")
            L.append("")

    inst = result.get("instances") or {}
    if inst:
        L.append("## Processes: memory, start-up, shutdown\n")
        L.append("`startup s`: process start to the first 200 from its readiness URL (rightmodel: /readyz, polled every 20 ms; "
                 "LiteLLM: /health/liveliness). `RSS after N requests`: right after exactly N chat completions on 4 connections, "
                 "Banking77 texts with one in five carrying a name, an e-mail, a phone and a card number, privacy detection on "
                 "(the constellation keeps the default). `RSS after load`: when stopped, after `requests` responses.\n")
        L.append("| instance | CPUs | ONNX threads | startup s | RSS idle MiB | RSS after N requests MiB (N) | RSS after warm-up MiB "
                 "| RSS after load MiB | requests | peak RSS MiB | stop after SIGTERM s | exit code |")
        L.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for name, i in inst.items():
            n = (i.get("rss_requests") or {}).get("n")
            after_n = f"{fmt(i.get('rss_after_n_mib'))} ({fmt(n, 0)})" if i.get("rss_after_n_mib") is not None else "–"
            L.append(f"| {name} | {i.get('affinity', i.get('cpus'))} | {i.get('onnx_threads', '–')} | {fmt(i.get('startup_s'), 2)} "
                     f"| {fmt(i.get('rss_idle_mib'))} | {after_n} | {fmt(i.get('rss_warm_mib'))} | {fmt(i.get('rss_after_mib'))} "
                     f"| {fmt(i.get('answered_before_rss_after'), 0)} | {fmt(i.get('rss_peak_mib'))} "
                     f"| {fmt(i.get('stop_s'))} | {fmt(i.get('exit_code'))} |")
        direct_rss = [r for r in rows if r.get("target") == "direct" and r.get("rss_mib")]
        if direct_rss:
            L.append("")
            L.append("Direct baseline process RSS at its last step: " + ", ".join(
                f"{c} {max(r['rss_mib'] for r in direct_rss if r['config'] == c)} MiB" for c in sorted({r['config'] for r in direct_rss})) + ".")
        L.append("")
        ledgers = [i["ledger"] for i in inst.values() if i.get("ledger")]
        if ledgers:
            L.append("## Ledger row count\n")
            L.append("Each rightmodel instance was stopped with SIGTERM (the ledger flushes its journal to SQLite), then "
                     "`ledger_requests` was counted. `answered` = responses the clients received (wrk warm-ups and steps plus the "
                     "curl-style checks); `sent` = requests written. Requests still in flight when a wrk run ended may or may not have "
                     "been completed by the gateway, so rows must lie in [answered, sent] with no duplicate request id.\n")
            L.append("`privacy scanned`: rows with a privacy policy (detection ran on the request); `found`: rows with sensitive "
                     "entities recorded.\n")
            L.append("| instance | answered | sent | ledger rows | distinct ids | privacy scanned / found | rows by endpoint / route / stream / status | ok |")
            L.append("|---|--:|--:|--:|--:|--:|---|---|")
            for g in ledgers:
                by = "; ".join(f"{b['endpoint']} {b['route']} {'stream' if b['stream'] else 'json'} {b['status']}: {b['rows']:,}"
                               for b in g.get("by", []))
                L.append(f"| {g['instance']} | {fmt(g.get('answered'))} | {fmt(g.get('sent'))} | {fmt(g.get('rows'))} | {fmt(g.get('distinct_ids'))} "
                         f"| {fmt(g.get('privacy_scanned'))} / {fmt(g.get('privacy_found'))} | {by or g.get('error', '')} | {'yes' if g.get('ok') else '**no**'} |")
            L.append("")
    if result.get("checks"):
        L.append("## Checks\n")
        L.extend(f"- {c}" for c in result["checks"])
        L.append("")
    disturbed = [r for r in rows if (r.get("other_cores") or 0) >= 0.1]
    if disturbed:
        L.append("## Other processes on the machine during steps\n")
        L.append("`others, cores` in the tables = CPU used during the step by processes this bench did not start "
                 "(from /proc/<pid>/stat; 1.00 = one whole core). Steps with at least 0.10 cores used by others:\n")
        for r in disturbed:
            L.append(f"- {r.get('target')} {r.get('config', '')} {r.get('mode')} c={r.get('conc')}: {r['other_cores']:.2f} cores "
                     f"({r.get('other_top') or '?'})")
        L.append("")
    if result.get("problems"):
        L.append("## Problems seen in this run\n")
        L.extend(f"- {p}" for p in result["problems"])
        L.append("")
    L.append("## Notes\n")
    for config in ("pinned", "unpinned"):
        one = next((r for r in rows if r.get("target") == "direct" and r.get("config") == config and r.get("mode") == "predict_proba"), None)
        batched = [r for r in rows if r.get("target") == "direct" and r.get("config") == config and r.get("mode") == "micro-batcher"
                   and r.get("conc", 1) > 1]
        lone = next((r for r in rows if r.get("target") == "direct" and r.get("config") == config and r.get("mode") == "micro-batcher"
                     and r.get("conc") == 1), None)
        if one and lone and lone["p50_ms"] > one["p50_ms"] + 0.5:
            L.append(f"- Direct, {config}: one caller through the micro-batcher ({lone.get('batching')}) gets p50 {lone['p50_ms']:.2f} ms "
                     f"and {lone['rps']:,.0f} req/s, against p50 {one['p50_ms']:.2f} ms and {one['rps']:,.0f} req/s calling the runtime "
                     "directly: a lone request pays the batcher's wait for company.")
        if one and batched and max(r["rps"] for r in batched) < one["rps"]:
            L.append(f"- Direct, {config}: the micro-batcher's best ({max(r['rps'] for r in batched):,.0f} req/s at c>1) is below "
                     f"one-text calls in a loop ({one['rps']:,.0f} req/s): on this CPU, batching these short texts does not raise "
                     "the int8 model's throughput, so the gateway's ceiling under load is the batched rate, not the single-call rate.")
    L.append("- The specialist is deliberately under-trained (seconds, not minutes): its accuracy is irrelevant to throughput, "
             "which depends on the encoder's size and the text lengths, not on the weights' values.")
    L.append("- wrk is closed-loop: latency under load includes queueing and is not corrected for coordinated omission. "
             "The upstream sends every SSE chunk at once, so streaming rows measure per-chunk relay cost, not token pacing.")
    L.append("- On 2 cores the `upstream` rows are limited by wrk and nginx sharing CPU 1. Runs on this VM differ by roughly "
             "10–20% (see the shared gateway-baseline notes): compare within one run.")
    return "\n".join(L) + "\n"
