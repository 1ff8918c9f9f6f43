"""The detectors compared, how their output is scored against the gold spans, and detection latency.

Four detectors: rightmodel's default Detector(PrivacyConfig()) (patterns and the trained PERSON
tagger; LOCATION opt-in), the same with every type on (LOCATION from spaCy), the same with spaCy's
PERSON instead of the tagger (name_tagger=False), and stock Presidio (AnalyzerEngine, default
recognizers, the same spaCy pipeline, its raw output).
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from privacy_bench.common import TARGETS, TYPES, Span, chat_body, gwbench, ratio
from privacy_bench.dataset import KBText, Sample


class Rightmodel:
    """rightmodel's detector: the default, or a variant (`tagger_only`: no second name reader; `location`: every type on;
    `spacy_names`: PERSON from spaCy)."""

    def __init__(self, variant: str = "") -> None:
        from rightmodel.privacy.config import BUILTIN_ENTITIES, PrivacyConfig
        from rightmodel.privacy.detector import Detector

        config = {"": PrivacyConfig(), "tagger_only": PrivacyConfig(name_reader=False), "location": PrivacyConfig(entities=list(BUILTIN_ENTITIES)),
                  "spacy_names": PrivacyConfig(name_tagger=False)}[variant]
        self.name = "rightmodel" + (f"_{variant}" if variant else "")
        self.detector = Detector(config)
        if variant == "spacy_names" and getattr(self.detector, "tagger", None) is not None:
            raise RuntimeError("PrivacyConfig(name_tagger=False) still built a tagger")
        self.clear_cache, self.cache_note = _cache_clearer(self.detector)

    def detect(self, text: str) -> list[Span]:
        return [(e.start, e.end, e.type) for e in self.detector.detect(text)]


class Presidio:
    """Stock Presidio: AnalyzerEngine with its default recognizers and the same spaCy pipeline."""

    name = "presidio"

    def __init__(self, model: str) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        from rightmodel.privacy.recognizers import patch_tldextract_offline

        patch_tldextract_offline()  # its e-mail recognizer would fetch the public-suffix list otherwise
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
        self.engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        self.clear_cache, self.cache_note = (lambda: None), "stock Presidio keeps no per-text cache"

    def detect(self, text: str) -> list[Span]:
        return [(r.start, r.end, r.entity_type) for r in self.engine.analyze(text, language="en", entities=list(TYPES))]


Detector = Rightmodel | Presidio


def _cache_clearer(detector: Any) -> tuple[Callable[[], None], str]:
    """A function that empties the detector's per-text caches, and a note saying which it found."""
    found: list[tuple[str, Callable[[], None]]] = []
    if getattr(detector, "cache", None) is not None:  # findings of whole texts (privacy/findings_cache.py)
        found.append(("Detector.cache.clear()", detector.cache.clear))
    for owner_name in ("names", "patterns", "tagger"):
        owner = getattr(detector, owner_name, None)
        if owner is None:
            continue
        for attr, value in vars(owner).items():
            if "cache" in attr.lower() and hasattr(value, "clear"):
                found.append((f"Detector.{owner_name}.{attr}.clear()", value.clear))
        for attr in dir(type(owner)):
            fn = getattr(type(owner), attr, None)
            if hasattr(fn, "cache_clear"):
                found.append((f"{type(owner).__name__}.{attr}.cache_clear()", fn.cache_clear))
    # Module-level memos keyed by what a text contains (words, phone numbers, e-mail domains);
    # not the per-process tables built from metadata (phone screens, the gazetteer).
    import importlib

    for module, fn_name in (("rightmodel.privacy.name_tagger", "_info"), ("rightmodel.privacy.name_tagger", "_word_info"),
                            ("rightmodel.privacy.patterns", "_verdict"), ("rightmodel.privacy.patterns", "_parsed"),
                            ("rightmodel.privacy.recognizers", "_has_public_suffix")):
        try:
            fn = getattr(importlib.import_module(module), fn_name)
        except (ImportError, AttributeError):
            continue
        if hasattr(fn, "cache_clear"):
            found.append((f"{module}.{fn_name}.cache_clear()", fn.cache_clear))
    if not found:
        return (lambda: None), "no cache attribute found on the detector (names.py): nothing to clear"

    def clear() -> None:
        for _, fn in found:
            fn()

    return clear, "cleared before each text: " + ", ".join(n for n, _ in found)


def run_detector(det: Detector, texts: list[str]) -> tuple[list[list[Span]], list[float]]:
    preds, ms = [], []
    for text in texts:
        det.clear_cache()
        t0 = time.perf_counter()
        preds.append(det.detect(text))
        ms.append((time.perf_counter() - t0) * 1000)
    return preds, ms



# ---------------------------------------------------------------------------- scoring


def _covered(text: str, start: int, end: int, spans: Iterable[Span]) -> bool:
    spans = list(spans)
    return all(any(s <= i < e for s, e, _ in spans) for i in range(start, end) if text[i].isalnum())


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _context(text: str, start: int, end: int, width: int = 45) -> str:
    lo, hi = max(0, start - width), min(len(text), end + width)
    return ("…" if lo else "") + text[lo:start] + "⟦" + text[start:end] + "⟧" + text[end:hi] + ("…" if hi < len(text) else "")


def score(samples: list[Sample], preds: list[list[Span]], examples: int) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {t: {"n": 0, "strict": 0, "overlap": 0, "leak_free": 0, "detected": 0, "correct": 0,
                                          "fp_on_negative_texts": 0, "fp_other_type": 0} for t in TYPES}
    kinds: dict[str, dict[str, list[int]]] = {t: defaultdict(lambda: [0, 0]) for t in TYPES}  # kind -> [n, strict]
    locales: dict[str, dict[str, list[int]]] = {t: defaultdict(lambda: [0, 0]) for t in TYPES}
    templates: dict[str, dict[int, list[int]]] = {t: defaultdict(lambda: [0, 0]) for t in TYPES}
    misses: dict[str, list[dict[str, Any]]] = {t: [] for t in TYPES}
    false_pos: dict[str, list[dict[str, Any]]] = {t: [] for t in TYPES}
    negatives_flagged = 0
    flags: list[bool] = []  # strict, per gold entity in set order: for paired comparisons between detectors
    for sample, spans in zip(samples, preds):
        text = sample.text
        for g in sample.gold:
            p = per[g.type]
            same = [x for x in spans if x[2] == g.type]
            strict = _covered(text, g.start, g.end, same)
            flags.append(strict)
            p["n"] += 1
            p["strict"] += strict
            p["overlap"] += any(_overlaps(g.start, g.end, s, e) for s, e, _ in same)
            p["leak_free"] += _covered(text, g.start, g.end, spans)
            kinds[g.type][g.kind][0] += 1
            kinds[g.type][g.kind][1] += strict
            locales[g.type][g.locale][0] += 1
            locales[g.type][g.locale][1] += strict
            templates[g.type][sample.template][0] += 1
            templates[g.type][sample.template][1] += strict
            shown = sum(m["kind"] == g.kind for m in misses[g.type])
            if not strict and len(misses[g.type]) < examples and shown < 2:  # spread the examples over kinds
                misses[g.type].append({
                    "value": g.value, "kind": g.kind, "locale": g.locale, "context": _context(text, g.start, g.end),
                    "detected_here": [f"{t}:{text[s:e]}" for s, e, t in spans if _overlaps(g.start, g.end, s, e)],
                })
        if sample.negative and spans:
            negatives_flagged += 1
        for s, e, t in spans:
            if t not in per:
                continue
            p = per[t]
            p["detected"] += 1
            if any(g.type == t and _overlaps(s, e, g.start, g.end) for g in sample.gold):
                p["correct"] += 1
                continue
            if sample.negative:
                p["fp_on_negative_texts"] += 1
            elif any(_overlaps(s, e, g.start, g.end) for g in sample.gold):
                p["fp_other_type"] += 1
            if len(false_pos[t]) < examples:
                false_pos[t].append({"span": text[s:e], "context": _context(text, s, e), "negative_text": sample.negative})
    for t, p in per.items():
        n, d = p["n"], p["detected"]
        p["recall_strict"] = round(p["strict"] / n, 4) if n else None
        p["recall_overlap"] = round(p["overlap"] / n, 4) if n else None
        p["recall_leak_free"] = round(p["leak_free"] / n, 4) if n else None
        p["precision"] = round(p["correct"] / d, 4) if d else None
        p["target_strict"] = TARGETS.get(t)
        p["meets_target"] = None if t not in TARGETS or not n else p["recall_strict"] >= TARGETS[t]
    n_all = sum(p["n"] for p in per.values())
    n_neg = sum(s.negative for s in samples)
    return {
        "per_type": per,
        "all_types": {
            "n": n_all,
            "recall_strict": round(sum(p["strict"] for p in per.values()) / n_all, 4) if n_all else None,
            "recall_leak_free": round(sum(p["leak_free"] for p in per.values()) / n_all, 4) if n_all else None,
            "precision": ratio(sum(p["correct"] for p in per.values()), sum(p["detected"] for p in per.values())),
            "positive_texts_fully_covered": ratio(
                sum(all(_covered(s.text, g.start, g.end, sp) for g in s.gold) for s, sp in zip(samples, preds) if not s.negative),
                len(samples) - n_neg),
            "negative_texts_with_any_detection": negatives_flagged,
            "negative_texts": n_neg,
        },
        "by_kind": {t: {k: {"n": v[0], "recall_strict": round(v[1] / v[0], 4)} for k, v in sorted(kinds[t].items())} for t in TYPES},
        "by_locale": {t: {k: {"n": v[0], "recall_strict": round(v[1] / v[0], 4)} for k, v in sorted(locales[t].items())} for t in TYPES},
        "by_template": {t: {k: {"n": v[0], "missed": v[0] - v[1]} for k, v in sorted(templates[t].items())} for t in TYPES},
        "misses": misses,
        "false_positives": false_pos,
        "_strict_flags": flags,  # popped by the caller (not written to privacy.json)
    }


def paired(samples: list[Sample], flags_a: list[bool], flags_b: list[bool]) -> dict[str, dict[str, int]]:
    """Per type: gold entities found strictly by a and not by b, and the reverse (the same set, so the
    difference between two recalls is these two counts, not sampling noise between sets)."""
    golds = [g for s in samples for g in s.gold]
    out = {t: {"a_only": 0, "b_only": 0} for t in TYPES}
    for g, a, b in zip(golds, flags_a, flags_b):
        if a != b:
            out[g.type]["a_only" if a else "b_only"] += 1
    return out


def added_spans(samples: list[Sample], preds_a: list[list[Span]], preds_b: list[list[Span]], typ: str,
                examples: int) -> dict[str, Any]:
    """The `typ` spans detector a reports where detector b has no `typ` span overlapping: how many, how many
    are right (overlap a gold span of the type), which gold types the wrong ones land on, and examples."""
    out: dict[str, Any] = {"spans": 0, "correct": 0, "wrong_on_other_gold": Counter(), "wrong_no_gold": 0,
                           "wrong_on_texts_without_gold": 0, "wrong_examples": []}
    for sample, sa, sb in zip(samples, preds_a, preds_b):
        theirs = [(s, e) for s, e, t in sb if t == typ]
        for s, e, t in sa:
            if t != typ or any(_overlaps(s, e, x0, x1) for x0, x1 in theirs):
                continue
            out["spans"] += 1
            hit = [g for g in sample.gold if _overlaps(s, e, g.start, g.end)]
            if any(g.type == typ for g in hit):
                out["correct"] += 1
                continue
            if hit:
                out["wrong_on_other_gold"][hit[0].type] += 1
            else:
                out["wrong_no_gold"] += 1
            out["wrong_on_texts_without_gold"] += sample.negative
            if len(out["wrong_examples"]) < examples:
                out["wrong_examples"].append({"span": sample.text[s:e], "context": _context(sample.text, s, e),
                                              "gold_here": [f"{g.type}:{g.value}" for g in hit]})
    out["wrong_on_other_gold"] = dict(out["wrong_on_other_gold"])
    return out


# ---------------------------------------------------------------------------- latency


def summarize_ms(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {"n": len(s), "p50_ms": round(gwbench.pct(s, 50), 3), "p99_ms": round(gwbench.pct(s, 99), 3),
            "mean_ms": round(statistics.fmean(s), 3), "max_ms": round(s[-1], 3)}


def latency(dets: list[Detector], texts: list[KBText], warmup: list[KBText]) -> dict[str, Any]:
    """Per detector and source: p50/p99 of one detect() call, cache cleared first. Interleaved per text, the
    order rotating from text to text so that each detector goes first equally often (for two detectors:
    alternating)."""
    for kt in warmup:
        for det in dets:
            det.clear_cache()
            det.detect(kt.text)
    gc.collect()
    times: dict[str, dict[str, list[float]]] = {d.name: defaultdict(list) for d in dets}
    preds: dict[str, list[list[Span]]] = {d.name: [] for d in dets}
    for i, kt in enumerate(texts):
        k = i % len(dets)
        for det in dets[k:] + dets[:k]:
            det.clear_cache()
            t0 = time.perf_counter()
            spans = det.detect(kt.text)
            times[det.name][kt.source].append((time.perf_counter() - t0) * 1000)
            preds[det.name].append(spans)
    out: dict[str, Any] = {"chars": summarize_chars(texts)}
    for det in dets:
        out[det.name] = {src: summarize_ms(v) for src, v in times[det.name].items()}
        out[det.name]["all"] = summarize_ms([x for v in times[det.name].values() for x in v])
        out[det.name]["cache"] = det.cache_note
        out[det.name]["inserted_entities"] = _kb_recall(texts, preds[det.name])
    if "rightmodel" in out and "presidio" in out:  # presidio / rightmodel
        out["ratio_p50"] = {src: round(out["presidio"][src]["p50_ms"] / out["rightmodel"][src]["p50_ms"], 2)
                            for src in ("labelled", "reviews", "all")}
    return out


def privacy_step(texts: list[KBText], warmup: list[KBText]) -> dict[str, Any]:
    """The gateway's privacy step in this process, on the gateway's request bodies: `PrivacyGate.inspect`
    (detection), then the redacted outbound body and the echoed answer restored, as chat.py does."""
    from rightmodel.privacy.config import PrivacyConfig
    from rightmodel.privacy.gate import PrivacyGate

    gate = PrivacyGate(PrivacyConfig())
    clear, note = _cache_clearer(gate.detector)

    def one(text: str) -> tuple[float, float, bool]:
        body = chat_body(text)
        clear()
        t0 = time.perf_counter()
        inspection = gate.inspect(body, "redact")
        t1 = time.perf_counter()
        outbound, redaction = inspection.outbound(body)
        answer = {"choices": [{"message": {"role": "assistant", "content": "echo: " + outbound["messages"][-1]["content"]}}]}
        if redaction:
            redaction.restore_completion(answer)
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t0) * 1000, answer["choices"][0]["message"]["content"] == "echo: " + text

    for kt in warmup:
        one(kt.text)
    gc.collect()
    runs = [one(kt.text) for kt in texts]
    return {"inspect": summarize_ms([r[0] for r in runs]), "inspect_redact_restore": summarize_ms([r[1] for r in runs]),
            "restored_exactly": sum(r[2] for r in runs), "n": len(runs), "cache": note}


def summarize_chars(texts: list[KBText]) -> dict[str, Any]:
    by: dict[str, list[int]] = defaultdict(list)
    for kt in texts:
        by[kt.source].append(len(kt.text))
    return {src: {"n": len(v), "mean": round(statistics.fmean(v)), "min": min(v), "max": max(v),
                  "entities_mean": round(statistics.fmean(len(k.gold) for k in texts if k.source == src), 1)} for src, v in by.items()}


def _kb_recall(texts: list[KBText], preds: list[list[Span]]) -> dict[str, Any]:
    """Strict and leak-free recall of the gold entities inside the 1 KB texts, by source."""
    out = {}
    for src in sorted({k.source for k in texts}):
        n = strict = leak = 0
        for kt, spans in zip(texts, preds):
            if kt.source != src:
                continue
            for g in kt.gold:
                n += 1
                strict += _covered(kt.text, g.start, g.end, [x for x in spans if x[2] == g.type])
                leak += _covered(kt.text, g.start, g.end, spans)
        out[src] = {"n": n, "recall_strict": ratio(strict, n), "recall_leak_free": ratio(leak, n)}
    return out
