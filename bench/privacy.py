"""Benchmark: sensitive-data detection (issue 5): accuracy, latency, and what it adds to a gateway request.

What it measures, and how:

1. A labelled set, built here: support-ticket / chat-like English texts from the templates in
   bench/privacy/templates.yaml (written before the detector was run on them; not tuned after),
   filled with Faker values in seven locales (en_US, en_GB, de_DE, fr_FR, es_ES, it_IT, nl_NL),
   seeded. Gold character spans are recorded for PERSON (name(), first_name()+last_name(), names
   with a title; the gold span leaves out titles and suffixes like "Dr." or "MBA."), EMAIL_ADDRESS
   (email(), half with safe example.* domains, half with real-looking ones), PHONE_NUMBER
   (phone_number() of the text's locale, as Faker writes it), CREDIT_CARD (every Faker card type;
   70% as Faker writes it, 30% in groups), IBAN_CODE (iban(); 65% compact, 35% in groups of 4),
   US_SSN (en_US ssn()), IP_ADDRESS (ipv4() / ipv6()) and LOCATION (the locale's city(), English
   country()). Texts with no sensitive data (order numbers, dates, amounts, product codes,
   versions, times, zip codes, tracking ids) measure false positives. The data is synthetic (no
   public labelled PII set is reachable offline); nothing is trained, so there is no split.
2. Per entity type: recall "strict" (every letter and digit of the gold value is covered by
   detected spans of the same type), "overlap" (some same-type span overlaps it) and "leak-free"
   (covered by detected spans of any type: what privacy needs); precision (a detected span is
   correct when it overlaps a gold span of its type); example misses. Side by side with the
   acceptance targets (strict recall >= 0.99 for the pattern types, >= 0.90 for PERSON).
3. The same for rightmodel's detector with every type on (LOCATION is opt-in), with spaCy's PERSON
   in place of its trained tagger (PrivacyConfig(name_tagger=False)), and for stock Presidio (AnalyzerEngine, default
   recognizers, the same spaCy pipeline, entities limited to the same 8 types, default score
   threshold, its raw output); PERSON strict recall per locale for all three, and a "which is
   better" paragraph written from the numbers.
4. Detection latency on ~1 KB texts (concatenated labelled texts; real review sentences from
   datasets/reviews_sentiment with labelled texts inserted), one text at a time after warm-up,
   with the detector's name cache cleared before each text; the three detectors interleaved.
5. What the synthetic set cannot show (privacy_bench/unseen.py): four held-out labelled sets written
   independently of the detector (bench/privacy/heldout_templates.yaml; heldout2_templates.yaml,
   heldout3_templates.yaml and heldout4_templates.yaml, each written once the one before had been used in development; US Census
   names and Faker locales the project never used; about a third of the names in lower case), the
   share of PII-free prompts each detector alters (the shipped MMLU questions and
   bench/privacy/instructions.txt, instructions2.txt, instructions3.txt, instructions4.txt),
   and detection time per KB at 10 KB, 100 KB and 1 MB.
6. Through the gateway: a stand-in upstream (tests/upstream_server.py) and two `rightmodel serve`
   processes (bench/privacy/detect-off.yaml, detect-on.yaml: defaults, i.e. detect and redact),
   the same ~1 KB chat requests sent to each in turn, sequentially (c=1) after warm-up; client
   p50/p99 and the added p50; checks that answers carry the original values, what the upstream
   saw, and the ledger's privacy columns.

Pinning (2+ CPUs): this process (client, detectors) and the upstream on the last CPU, the gateways
on CPU 0. Holds /tmp/bench.lock while measuring, as bench/gateway.py and bench/load.py do.
Writes bench/results/privacy.json and privacy.md (--quick: a small smoke run written to
WORK/quick unless --out is given). Every process it starts is stopped at exit.

The parts live in bench/privacy_bench/ (dataset, detectors, gateway_run, report); this file is
the entry point and runs them in order.

Usage: .venv/bin/python bench/privacy.py [--quick] [--texts 3000] [--latency-texts 200]
           [--gateway-requests 200] [--skip-gateway] [--out bench/results]
"""

from __future__ import annotations

import os

GATEWAY_ENV = dict(os.environ)  # the gateways run with the environment as given, not this process's thread limits
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # single-threaded, before numpy loads
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: privacy_bench, gateway.py, bench_report.py

from privacy_bench.common import LABELS, ROOT, TARGETS, TYPES, BenchError, Span, gwbench, log  # noqa: E402
from privacy_bench.dataset import Sample, build_dataset, kb_texts, load_reviews, load_templates, tagger_training_overlap  # noqa: E402
from privacy_bench.detectors import (Detector, Presidio, Rightmodel, added_spans, latency, paired, privacy_step, run_detector,  # noqa: E402
                                     score)
from privacy_bench.heldout import (TEMPLATES, TEMPLATES2, TEMPLATES3, TEMPLATES4, build_heldout, build_heldout2, build_heldout3,  # noqa: E402
                                   build_heldout4, heldout_info)
from privacy_bench import cost  # noqa: E402
from privacy_bench.unseen import BLIND_SET, false_positives  # noqa: E402
from privacy_bench.gateway_run import BenchLock, GatewayBench, environment, privacy_digests, wait_quiet  # noqa: E402
from privacy_bench.report import print_summary, render  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run (300 texts, 20 latency texts, 20 gateway requests)")
    ap.add_argument("--texts", type=int, default=3000, help="labelled texts (default 3000)")
    ap.add_argument("--negative-share", type=float, default=0.15, help="share of texts without sensitive data (default 0.15)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--latency-texts", type=int, default=200, help="~1 KB texts of each source for detector latency (default 200)")
    ap.add_argument("--gateway-requests", type=int, default=200, help="measured requests to each gateway (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up texts / requests (default 20)")
    ap.add_argument("--examples", type=int, default=8, help="misses and false positives kept per type (default 8)")
    ap.add_argument("--skip-presidio", action="store_true")
    ap.add_argument("--skip-variants", action="store_true", help="leave out the rightmodel variants (+LOCATION, spaCy names)")
    ap.add_argument("--mmlu-sample", type=int, default=2000, help="MMLU prompts scored by every detector (default 2000; the default "
                    "detector also scores all of them)")
    ap.add_argument("--skip-gateway", action="store_true")
    ap.add_argument("--lock-wait", type=int, default=1800, help="seconds to wait for /tmp/bench.lock (default 1800)")
    ap.add_argument("--quiet-wait", type=int, default=120, help="seconds to wait for a quiet machine (default 120)")
    ap.add_argument("--out", default=None, help="results directory (default bench/results; --quick: WORK/quick)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "rightmodel-bench-privacy"))
    a = ap.parse_args(argv)
    if a.quick:
        a.texts, a.latency_texts, a.gateway_requests, a.warmup = min(a.texts, 300), min(a.latency_texts, 10), min(a.gateway_requests, 20), min(a.warmup, 5)
    return a


def _count_kind(samples: list[Sample], kind: str) -> int:
    return sum(g.kind == kind for s in samples for g in s.gold)


def _busy(window: gwbench.Window) -> dict[str, Any]:
    """CPU use during a phase: per core, and by processes this bench did not start."""
    w = window.close()
    return {k: w[k] for k in w if k.endswith("_busy_pct") or k in ("other_cores", "other_top", "steal_pct")}


def _raise_exit(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    t_start = time.time()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out_dir = Path(a.out).resolve() if a.out else (work / "quick" if a.quick else ROOT / "bench" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_exit)
    ncpu = os.cpu_count() or 1
    client_cpu = ncpu - 1 if ncpu > 1 else None
    gw_cpu = "0" if ncpu > 1 else None
    pinned = f"bench process (client, detectors) and upstream on CPU {client_cpu}, gateways on CPU {gw_cpu}" if client_cpu else "no pinning (1 CPU)"

    log(f"building the labelled set ({a.texts} texts, seed {a.seed})")
    samples, ds_info = build_dataset(a.texts, a.negative_share, a.seed)
    ds_info["person_tagger_training"] = tagger_training_overlap(samples)
    reviews = load_reviews()
    lat_texts = kb_texts(a.latency_texts, samples, reviews, a.seed + 10)
    lat_warm = kb_texts(a.warmup, samples, reviews, a.seed + 11)
    gw_texts = kb_texts((a.gateway_requests + 1) // 2, samples, reviews, a.seed + 20)[:a.gateway_requests]
    gw_warm = kb_texts((a.warmup + 1) // 2, samples, reviews, a.seed + 21)[:a.warmup]

    lock = BenchLock(time.strftime("%Y%m%d-%H%M%S"), a.lock_wait)
    out: dict[str, Any] = {"dataset": ds_info, "targets": TARGETS, "templates": load_templates()[0], "accuracy": {}, "notes": []}
    try:
        lock.acquire()
        out["quiet"] = wait_quiet(a.quiet_wait)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        out["environment"] = environment(a, pinned, __file__)
        log("loading rightmodel's detector")
        t0 = time.time()
        dets: list[Detector] = [Rightmodel()]
        load_s = {"rightmodel": round(time.time() - t0, 1)}
        if not a.skip_variants:
            for variant in ("tagger_only", "location", "spacy_names"):
                log(f"loading rightmodel's detector, variant {variant}")
                t0 = time.time()
                dets.append(Rightmodel(variant))
                load_s[dets[-1].name] = round(time.time() - t0, 1)
        if not a.skip_presidio:
            log("loading stock Presidio")
            t0 = time.time()
            dets.append(Presidio(dets[0].detector.config.ner_model))
            load_s["presidio"] = round(time.time() - t0, 1)
        out["load_s"] = load_s
        texts = [s.text for s in samples]
        flags: dict[str, list[bool]] = {}
        all_preds: dict[str, list[list[Span]]] = {}
        for det in dets:
            for kt in lat_warm[:5]:
                det.detect(kt.text)
            log(f"{det.name}: detecting on {len(texts)} labelled texts")
            preds, ms = run_detector(det, texts)
            res = score(samples, preds, a.examples)
            flags[det.name] = res.pop("_strict_flags")
            all_preds[det.name] = preds
            res["mean_ms_per_text"] = round(statistics.fmean(ms), 3)
            res["p50_ms_per_text"] = round(gwbench.pct(sorted(ms), 50), 3)
            out["accuracy"][det.name] = res
            per = res["per_type"]
            log(f"{det.name}: strict recall " + ", ".join(f"{t} {per[t]['recall_strict']}" for t in TYPES))
        out["paired"] = {f"rightmodel vs {b}": paired(samples, flags["rightmodel"], flags[b]) for b in flags if b != "rightmodel"}
        if "rightmodel_spacy_names" in all_preds:  # what the tagger adds: PERSON spans spaCy does not report
            out["tagger_added_person_spans"] = added_spans(samples, all_preds["rightmodel"], all_preds["rightmodel_spacy_names"],
                                                           "PERSON", a.examples)
        del all_preds
        for key, held, templates in (("heldout", build_heldout(), TEMPLATES), ("heldout2", build_heldout2(), TEMPLATES2),
                                     ("heldout3", build_heldout3(), TEMPLATES3), ("heldout4", build_heldout4(), TEMPLATES4)):
            out[key] = {"info": heldout_info(held, templates), "training_overlap": tagger_training_overlap(held), "accuracy": {}}
            for det in dets:
                log(f"{det.name}: detecting on {len(held)} texts of {key}")
                preds, _ = run_detector(det, [x.text for x in held])
                res = score(held, preds, a.examples)
                res.pop("_strict_flags")
                if key == BLIND_SET:  # blind: keep counts, drop the texts (misses, false positives, templates)
                    for k in ("misses", "false_positives", "by_template"):
                        res.pop(k)
                out[key]["accuracy"][det.name] = res
                log(f"{det.name}: {key} PERSON strict recall {res['per_type']['PERSON']['recall_strict']}")
        log("PII-free prompts: MMLU questions and instruction prompts")
        out["false_positives"] = false_positives(dets, a.mmlu_sample, a.seed, a.examples)
        log("scaling: detection time per KB at 10 KB, 100 KB, 1 MB of four kinds of text (default detector)")
        out["scaling"] = cost.scaling(dets[0], cost.kinds(samples, reviews, a.seed + 30))
        log(f"latency: {len(lat_texts)} texts of ~1 KB")
        window = gwbench.Window(os.getpid())
        out["latency"] = latency(dets, lat_texts, lat_warm)
        out["latency"]["warmup"] = len(lat_warm)
        log(f"the gateway's privacy step in this process: {len(gw_texts)} request bodies")
        out["latency"]["gateway_step_in_process"] = privacy_step(gw_texts, lat_warm)
        out["latency"]["machine"] = _busy(window)
        del dets
        gc.collect()
        if not a.skip_gateway:
            log(f"gateway: {len(gw_texts)} requests to each of two gateways")
            gb = GatewayBench(work / f"gateway-{time.strftime('%Y%m%d-%H%M%S')}", gw_cpu, client_cpu, GATEWAY_ENV)
            gb.work.mkdir(parents=True, exist_ok=True)
            try:
                window = gwbench.Window(os.getpid())
                out["gateway"] = gb.run(gw_texts, gw_warm)
                out["gateway"]["machine"] = _busy(window)
            finally:
                gb.procs.stop_all()
            log(f"gateway: added p50 {out['gateway']['added_p50_ms']} ms")
            changed = sorted({f for inst in out["gateway"]["instances"].values() for f, d in inst["privacy_file_digests_at_start"].items()
                              if out["environment"]["privacy_file_digests"].get(f) != d})
            if changed:
                out["notes"].append(f"src/rightmodel/privacy/{', '.join(changed)} changed between loading the in-process detector and "
                                    "starting the gateways (someone was editing it): the gateway ran different code than the "
                                    "accuracy and latency sections measured.")
        if out["environment"]["privacy_file_digests"] != privacy_digests():
            out["notes"].append("src/rightmodel/privacy changed while this bench ran; the digests in environment are those at the start.")
    finally:
        lock.release()
    out["notes"] += [
        "Synthetic data: Faker values in English templates. Real traffic has other formats (e.g. phone numbers written with words, "
        "names in lower case, non-English text); these numbers say how the detector does on what Faker makes, not on real tickets.",
        "Strict/overlap/leak-free and precision are computed per gold entity / per detected span; a name's gold span excludes titles "
        "and suffixes (Dr., Herr, MBA.), so covering them is not required and detecting them is not penalised.",
        f"rightmodel's detector uses PrivacyConfig() defaults (min_score {_default_min_score()}; the variants differ only in "
        "entities (+LOCATION) or name_tagger=False); stock Presidio uses its default score threshold (0), so its low-score matches "
        "count as detections.",
        "'a_only' / 'b_only' under paired in privacy.json: gold entities the first detector covers strictly and the second does "
        "not, and the reverse (same texts, so these counts are the whole difference between two recalls).",
        "Grouped cards are written in groups of 4 (amex, diners and jcb15: 4-6-rest), so a 13-digit Visa comes out 4-4-4-1, "
        f"which is not how such cards are printed; it is kept as written before the first run ({_count_kind(samples, 'visa13 grouped')} "
        f"of the {ds_info['entities_per_type']['CREDIT_CARD']} cards here).",
        f"Faker builds its it_IT city() list from a set, so which it_IT cities are drawn depends on the process's hash seed "
        f"(PYTHONHASHSEED): the {_count_kind(samples, 'city it_IT')} it_IT city values here differ from run to run (and the texts "
        "they are in); every other value is the same for the same seed.",
        "Latency excludes loading (" + "; ".join(f"{LABELS[k]} {v} s" for k, v in out.get("load_s", {}).items()) + ").",
    ]
    out["wall_s"] = round(time.time() - t_start, 1)
    (out_dir / "privacy.json").write_text(json.dumps(out, indent=1, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    (out_dir / "privacy.md").write_text(render(out), encoding="utf-8")
    print_summary(out)
    log(f"wrote {out_dir / 'privacy.json'} and privacy.md in {out['wall_s']:.0f} s")
    return 0


def _default_min_score() -> float:
    from rightmodel.privacy.config import PrivacyConfig

    return PrivacyConfig().min_score


def _json_default(o: Any) -> Any:
    if isinstance(o, Counter):
        return dict(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    raise TypeError(type(o))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        log(f"error: {exc}")
        sys.exit(2)
