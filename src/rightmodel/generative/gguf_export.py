"""HF causal-LM directory → GGUF (f16 / f32 / q8_0 by llama.cpp's converter), then other quantizations
with llama.cpp's own quantizer (the `llama_model_quantize` binding of llama-cpp-python).

The converter (convert_hf_to_gguf.py with its `conversion` package and gguf-py) ships in
llama-cpp-python's sdist, not in its wheel; scripts/llama-cpp-wheel.sh extracts it next to the cached
wheel. It runs as a subprocess: it is a script with its own imports and registry of architectures,
and a failure there must not take the caller's process down with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rightmodel.errors import RightmodelError

LLAMA_CPP_VERSION = "0.3.36"
CONVERTER_ENV = "RIGHTMODEL_GGUF_CONVERTER"  # a directory holding convert_hf_to_gguf.py
CONVERTER_OUTTYPES = ("f32", "f16", "bf16", "q8_0")
# Quantizations made from an f16/f32 GGUF by llama.cpp's quantizer: name → llama_ftype attribute.
QUANTIZERS = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
              "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M"}


class ExportError(RightmodelError):
    """A model could not be written as GGUF."""


def cache_dir() -> Path:
    """Where scripts/llama-cpp-wheel.sh keeps the wheel and the converter (outside any checkout)."""
    return Path(os.environ.get("RIGHTMODEL_CACHE", Path.home() / ".cache" / "rightmodel"))


def converter_script() -> Path:
    """llama.cpp's convert_hf_to_gguf.py, as extracted by scripts/llama-cpp-wheel.sh."""
    base = Path(os.environ[CONVERTER_ENV]) if CONVERTER_ENV in os.environ else cache_dir() / f"llama.cpp-{LLAMA_CPP_VERSION}"
    script = base / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise ExportError(f"llama.cpp's GGUF converter is not at {script}: run scripts/llama-cpp-wheel.sh "
                          f"(it extracts it from llama-cpp-python {LLAMA_CPP_VERSION}'s sdist), or set ${CONVERTER_ENV}")
    return script


def to_gguf(hf_dir: Path, out: Path, outtype: str = "f16", *, timeout_s: float = 1800.0) -> Path:
    """Convert a saved HF causal-LM directory (weights, config, tokenizer) to one GGUF file."""
    if outtype not in CONVERTER_OUTTYPES:
        raise ExportError(f"outtype must be one of {', '.join(CONVERTER_OUTTYPES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(converter_script()), str(hf_dir), "--outfile", str(out), "--outtype", outtype]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    if proc.returncode != 0 or not out.is_file():
        raise ExportError(f"GGUF conversion of {hf_dir} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return out


def quantize(src: Path, dst: Path, kind: str, *, threads: int = 1) -> Path:
    """Write `src` (an f16/f32 GGUF) quantized as `kind` (q8_0, q4_0, q4_1, q4_k_m, q5_k_m)."""
    import ctypes

    import llama_cpp

    if kind not in QUANTIZERS:
        raise ExportError(f"quantization must be one of {', '.join(QUANTIZERS)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANTIZERS[kind])
    params.nthread = threads
    dst.parent.mkdir(parents=True, exist_ok=True)
    status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if status != 0 or not dst.is_file():
        raise ExportError(f"llama.cpp could not quantize {src} as {kind} (status {status})")
    return dst
