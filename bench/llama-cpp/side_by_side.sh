#!/usr/bin/env bash
# ferrum and llama.cpp on the same CPU, in turn, for each model given: the ratio the CPU anchor
# (../shared/anchors/cpu-llama1b.md) asks for. Installs node-llama-cpp here on first use.
#   bench/llama-cpp/side_by_side.sh [-r ROUNDS] MODEL.gguf...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ferrum="${FERRUM:-$here/../../build/cpu/src/ferrum}"
rounds=2
if [[ "${1:-}" == "-r" ]]; then rounds="$2"; shift 2; fi
[[ $# -gt 0 ]] || { echo "usage: $0 [-r ROUNDS] MODEL.gguf..." >&2; exit 2; }
if [[ ! -d "$here/node_modules/node-llama-cpp" ]]; then
  (cd "$here" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --ignore-scripts)
fi
for model in "$@"; do
  for ((round = 1; round <= rounds; ++round)); do
    "$ferrum" bench "$model" -p 64 -n 32 -r 3 -t 2 2>/dev/null | grep -E '\| (pp64|tg32) \|' | sed 's/^/| ferrum /'
    node "$here/llama_bench.mjs" "$model" 64 32 3 2
  done
done
