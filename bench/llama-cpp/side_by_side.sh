#!/usr/bin/env bash
# ferrum and llama.cpp on the same CPU, in turn, for each model given: the ratio the CPU anchor
# (../shared/anchors/cpu-llama1b.md) asks for. Installs node-llama-cpp here on first use.
#   bench/llama-cpp/side_by_side.sh [-r ROUNDS] [--avx2] MODEL.gguf...
# --avx2 compares as on a CPU without AVX-512: ferrum from build/avx2 (`cmake --preset avx2 &&
# cmake --build --preset avx2 --target ferrum`) and llama.cpp with its AVX-512 builds removed from
# a copy of its libraries, so that it loads its AVX2 (haswell) one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rounds=2
avx2=0
while [[ $# -gt 0 && "$1" == -* ]]; do
  case "$1" in
    -r) rounds="$2"; shift 2 ;;
    --avx2) avx2=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [-r ROUNDS] [--avx2] MODEL.gguf..." >&2; exit 2; }
if [[ ! -d "$here/node_modules/node-llama-cpp" ]]; then
  (cd "$here" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --ignore-scripts)
fi
runner="$here"
ferrum="${FERRUM:-$here/../../build/cpu/src/ferrum}"
if [[ $avx2 == 1 ]]; then
  ferrum="${FERRUM:-$here/../../build/avx2/src/ferrum}"
  runner="$here/avx2-only"
  if [[ ! -d "$runner/node_modules" ]]; then
    mkdir -p "$runner" && cp -r "$here/node_modules" "$here/package.json" "$runner/"
    bins="$runner/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
    for variant in zen4 icelake skylakex cascadelake cooperlake sapphirerapids cannonlake alderlake; do
      rm -f "$bins/libggml-cpu-$variant.so"
    done
  fi
  cp "$here/llama_bench.mjs" "$runner/"
fi
for model in "$@"; do
  for ((round = 1; round <= rounds; ++round)); do
    "$ferrum" bench "$model" -p 64 -n 32 -r 3 -t 2 2>/dev/null | grep -E '\| (pp64|tg32) \|' | sed 's/^/| ferrum /'
    node "$runner/llama_bench.mjs" "$model" 64 32 3 2
  done
done
