#!/usr/bin/env bash
# The cache key of a llama-cpp-python build (scripts/llama-cpp-wheel.sh), printed: `portable`, or
# `native-<hash of this CPU's instruction-set flags>` (the flags -march=native turns on, as the
# kernel reports them), so a native wheel is only reused on a CPU with the same instruction sets.
#   bash scripts/llama-cpp-flavor.sh native|portable
set -euo pipefail
case "${1:?usage: llama-cpp-flavor.sh native|portable}" in
  native) echo "native-$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|amx|f16c|fma|bmi|sse|ssse)' | sort | sha256sum | cut -c1-12)" ;;
  portable) echo portable ;;
  *) echo "RIGHTMODEL_LLAMA_BUILD must be native or portable, not '$1'" >&2; exit 2 ;;
esac
