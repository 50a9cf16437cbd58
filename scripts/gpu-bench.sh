#!/usr/bin/env bash
# The whole benchmark suite on an NVIDIA GPU machine: builds ferrum for CUDA (or takes a ferrum
# built elsewhere), generates random-weight models at real shapes with `ferrum gen-model`, runs
# `ferrum bench` on each (and `ferrum bench-serve` against `ferrum serve` when this build has a
# server), and writes bench/results/<date>-<gpu>.md with the GPU, driver, toolkit and commit, the
# tables, and the JSON beside it. docs/benchmarks.md explains the method and compares with
# ../shared/anchors. Nothing is downloaded.
#
#   scripts/gpu-bench.sh [--quick] [--ferrum BIN] [--models DIR] [--build DIR] [--out FILE]
#   scripts/gpu-bench.sh --bundle DIR [--cuda-arch ARCH]
#
#   default   llama3.1-8b in bf16, Q4_K_M, Q8_0 and GPTQ int4, plus qwen3-8b bf16 and llama3.2-1b
#             bf16, at -p 512 -n 128 -b 1,16,64 -r 3; bench-serve at -c 1,4,16,64 on llama3.1-8b bf16
#   --quick   llama3.2-1b bf16 and Q4_K_M at -p 128 -n 32 -b 1,4 -r 2: checks that everything runs
#   --ferrum  use this ferrum (built with FERRUM_CUDA=ON) instead of building one: for GPU machines
#             whose image has the CUDA toolkit but not ferrum's other build dependencies
#   --bundle  on a build machine (CUDA toolkit and ferrum's dependencies): build ferrum for
#             ARCH (default 90a-real) with FERRUM_NATIVE=OFF and put it, the shared libraries it
#             needs beyond glibc / libstdc++ / CUDA (DIR/lib) and this script in DIR, to copy to the
#             GPU machine and run there as `DIR/gpu-bench.sh --ferrum DIR/ferrum`. This project's
#             GPU image has no PCRE2, ICU, libsndfile or libsamplerate development files, so this
#             is how it is run here (checked 2026-11-26: configuring on the H100 machine fails).
#
# Environment: CUDA_ARCH (default: the GPU's own, e.g. 90a-real on Hopper), JOBS (build jobs,
# default: every core), FERRUM_BENCH_SERVE=0 skips serving, EXTRA_BENCH_ARGS are added to every
# `ferrum bench` call.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/gpu-bench
MODELS=$ROOT/build/bench-models
OUT=""
QUICK=0
FERRUM=""
BUNDLE=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --ferrum) FERRUM=$(realpath "$2"); shift ;;
    --bundle) BUNDLE=$2; shift ;;
    --cuda-arch) CUDA_ARCH=$2; shift ;;
    --models) MODELS=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu-bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "gpu-bench: $*" >&2; }
die() { log "$*"; exit 1; }

build_ferrum() {  # arch
  GENERATOR=()
  command -v ninja >/dev/null && GENERATOR=(-G Ninja)
  # FERRUM_NATIVE=OFF: the binary must run on any x86-64 host, not only the one that built it.
  cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release -DFERRUM_CUDA=ON \
    -DFERRUM_NATIVE=OFF -DCMAKE_CUDA_ARCHITECTURES="$1" -DFERRUM_TESTS=OFF -DFERRUM_BENCH=OFF >&2 ||
    die "cmake could not configure ferrum here (missing dependencies?): build elsewhere with --bundle and run with --ferrum"
  cmake --build "$BUILD" --target ferrum -j "${JOBS:-$(nproc)}" >&2
}

if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH; fi

if [[ -n $BUNDLE ]]; then
  command -v nvcc >/dev/null || die "nvcc not found: --bundle builds ferrum with CUDA"
  build_ferrum "${CUDA_ARCH:-90a-real}"
  mkdir -p "$BUNDLE/lib"
  cp "$BUILD/src/ferrum" "$BUNDLE/ferrum"
  # The shared libraries a CUDA image may lack or hold in other versions (ICU's carry theirs in
  # their names): everything but glibc, the C++ runtime and CUDA's own libraries.
  ldd "$BUNDLE/ferrum" | awk '/=> \// {print $3}' |
    grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcudart|libcublas[^/]*|libcuda)\.so' |
    xargs -r cp -L -t "$BUNDLE/lib"
  cp "$0" "$BUNDLE/gpu-bench.sh"
  git -C "$ROOT" rev-parse --short=12 HEAD > "$BUNDLE/COMMIT" 2>/dev/null || echo unknown > "$BUNDLE/COMMIT"
  log "bundle in $BUNDLE: run $BUNDLE/gpu-bench.sh --ferrum $BUNDLE/ferrum on the GPU machine"
  exit 0
fi

# --- The machine -------------------------------------------------------------------------------
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this script needs an NVIDIA GPU"
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
GPU_DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
GPU_MEMORY=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader | head -1)
GPU_CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
NVCC_VERSION=$( (nvcc --version 2>/dev/null || true) | sed -n 's/.*release \([0-9.]*\).*/\1/p')
# Hopper's wgmma and TMA kernels need the "a" (architecture-specific) target.
if [[ -z ${CUDA_ARCH:-} ]]; then
  CUDA_ARCH="${GPU_CAP/./}-real"
  [[ $GPU_CAP == 9.0 ]] && CUDA_ARCH=90a-real
fi
GPU_SLUG=$(echo "$GPU_NAME" | tr '[:upper:]' '[:lower:]' | sed 's/nvidia //; s/[^a-z0-9]\+/-/g; s/^-//; s/-$//')
DATE=$(date -u +%F)
RESULTS_DIR=$ROOT/bench/results
[[ -n $OUT ]] || OUT=$RESULTS_DIR/$DATE-$GPU_SLUG.md
JSON_DIR=${OUT%.md}-json
mkdir -p "$(dirname "$OUT")" "$JSON_DIR" "$MODELS"
log "$GPU_NAME (driver $GPU_DRIVER, sm_${GPU_CAP/./}, $GPU_MEMORY), CUDA ${NVCC_VERSION:-toolkit not found}"

# --- Build ------------------------------------------------------------------------------------
if [[ -z $FERRUM ]]; then
  command -v nvcc >/dev/null || die "nvcc not found: install the CUDA toolkit, or pass a prebuilt --ferrum"
  command -v cmake >/dev/null || die "cmake not found"
  log "building for $CUDA_ARCH"
  build_ferrum "$CUDA_ARCH"
  FERRUM=$BUILD/src/ferrum
  BUILT="built here for $CUDA_ARCH with CUDA $NVCC_VERSION, FERRUM_NATIVE=OFF"
  # A copy of the tree without .git may carry its commit in a COMMIT file.
  if COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
    git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
  else
    COMMIT=$(cat "$ROOT/COMMIT" 2>/dev/null || echo unknown)
  fi
else
  BUILT="prebuilt: $FERRUM"
  COMMIT=$(cat "$(dirname "$FERRUM")/COMMIT" 2>/dev/null || echo "see the binary's bench header")
fi
[[ -x $FERRUM ]] || die "no ferrum binary at $FERRUM"
# A bundle's libraries sit beside the binary.
[[ -d $(dirname "$FERRUM")/lib ]] && export LD_LIBRARY_PATH="$(dirname "$FERRUM")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$FERRUM" | grep -q "not found"; then
  die "$FERRUM needs libraries this machine lacks: $(ldd "$FERRUM" | grep 'not found' | tr -s ' \t\n' ' ')"
fi

# --- Models ------------------------------------------------------------------------------------
# name preset dtype output
if [[ $QUICK == 1 ]]; then
  MODEL_TABLE="llama3.2-1b-bf16 llama3.2-1b bf16 llama3.2-1b-bf16
llama3.2-1b-q4km llama3.2-1b Q4_K_M llama3.2-1b-Q4_K_M.gguf"
  BENCH_ARGS=(-p 128 -n 32 -b 1,4 -r 2)
  SERVE_ARGS=(-c 1,4 --input-len 128 --output-len 32 --num-prompts 8)
  SERVE_MODEL=llama3.2-1b-bf16
else
  MODEL_TABLE="llama3.1-8b-bf16 llama3.1-8b bf16 llama3.1-8b-bf16
llama3.1-8b-q4km llama3.1-8b Q4_K_M llama3.1-8b-Q4_K_M.gguf
llama3.1-8b-q8 llama3.1-8b Q8_0 llama3.1-8b-Q8_0.gguf
llama3.1-8b-gptq llama3.1-8b gptq-int4 llama3.1-8b-gptq-int4
qwen3-8b-bf16 qwen3-8b bf16 qwen3-8b-bf16
llama3.2-1b-bf16 llama3.2-1b bf16 llama3.2-1b-bf16"
  BENCH_ARGS=(-p 512 -n 128 -b 1,16,64 -r 3)
  SERVE_ARGS=(-c 1,4,16,64 --input-len 256 --output-len 128)
  SERVE_MODEL=llama3.1-8b-bf16
fi
read -r -a EXTRA <<< "${EXTRA_BENCH_ARGS:-}"

declare -A MODEL_PATH
while read -r name preset dtype output; do
  path=$MODELS/$output
  MODEL_PATH[$name]=$path
  if [[ -e $path ]]; then
    log "model $name: $path exists"
    continue
  fi
  log "model $name: generating $preset $dtype"
  "$FERRUM" gen-model --preset "$preset" --dtype "$dtype" "$path" >&2 || log "model $name: gen-model FAILED"
done <<< "$MODEL_TABLE"

# --- Benchmarks --------------------------------------------------------------------------------
SECTIONS=$(mktemp)
trap 'rm -f "$SECTIONS"' EXIT
while read -r name preset dtype output; do
  path=${MODEL_PATH[$name]}
  [[ -e $path ]] || { printf '\n### %s\n\nnot run: gen-model failed\n' "$name" >> "$SECTIONS"; continue; }
  log "bench $name"
  {
    printf '\n### %s (%s, %s)\n\n' "$name" "$preset" "$dtype"
    printf '`ferrum bench --device cuda %s %s`\n\n' "${BENCH_ARGS[*]}" "$(basename "$path")"
  } >> "$SECTIONS"
  if ! "$FERRUM" bench --device cuda "$path" "${BENCH_ARGS[@]}" "${EXTRA[@]}" --json-file "$JSON_DIR/$name.json" \
      > "$SECTIONS.part" 2> "$SECTIONS.err"; then
    printf 'FAILED:\n\n```\n%s\n```\n' "$(tail -5 "$SECTIONS.err")" >> "$SECTIONS"
    log "bench $name FAILED: $(tail -1 "$SECTIONS.err")"
    continue
  fi
  # The report's own header repeats per model; keep it (it carries the bounds and the method).
  sed 's/^## ferrum bench$/#### ferrum bench/' "$SECTIONS.part" >> "$SECTIONS"
done <<< "$MODEL_TABLE"
rm -f "$SECTIONS.part" "$SECTIONS.err"

# --- Serving -----------------------------------------------------------------------------------
SERVE_SECTION="not run"
if [[ ${FERRUM_BENCH_SERVE:-1} == 0 ]]; then
  SERVE_SECTION="skipped (FERRUM_BENCH_SERVE=0)"
elif ! "$FERRUM" serve --help >/dev/null 2>&1; then
  SERVE_SECTION="not run: this build has no \`ferrum serve\`"
elif [[ ! -e ${MODEL_PATH[$SERVE_MODEL]} ]]; then
  SERVE_SECTION="not run: model $SERVE_MODEL is missing"
else
  PORT=18080
  log "serve ${MODEL_PATH[$SERVE_MODEL]} on port $PORT"
  "$FERRUM" serve "${MODEL_PATH[$SERVE_MODEL]}" --device cuda --port $PORT --served-model-name bench \
    > "$JSON_DIR/serve.log" 2>&1 &
  SERVER=$!
  ready=0
  for _ in $(seq 1 120); do
    if "$FERRUM" bench-serve --url "http://127.0.0.1:$PORT" --model bench -c 1 --num-prompts 1 --input-len 4 \
        --output-len 2 --warmup 0 -o json 2>/dev/null | grep -q '"completed": 1'; then
      ready=1
      break
    fi
    kill -0 $SERVER 2>/dev/null || break
    sleep 2
  done
  if [[ $ready == 1 ]]; then
    log "bench-serve ${SERVE_ARGS[*]}"
    if "$FERRUM" bench-serve --url "http://127.0.0.1:$PORT" --model bench "${SERVE_ARGS[@]}" \
        --json-file "$JSON_DIR/serve.json" > "$JSON_DIR/serve.md" 2> "$JSON_DIR/serve.err"; then
      SERVE_SECTION="\`ferrum serve $(basename "${MODEL_PATH[$SERVE_MODEL]}") --device cuda\`, then \`ferrum bench-serve ${SERVE_ARGS[*]}\`:
$(sed 's/^## ferrum bench-serve$//' "$JSON_DIR/serve.md")"
    else
      SERVE_SECTION="FAILED: $(tail -3 "$JSON_DIR/serve.err")"
    fi
  else
    SERVE_SECTION="FAILED: the server did not answer within 4 minutes; the end of its log:
\`\`\`
$(tail -10 "$JSON_DIR/serve.log")
\`\`\`"
  fi
  kill $SERVER 2>/dev/null || true
  wait $SERVER 2>/dev/null || true
fi

# --- The results file --------------------------------------------------------------------------
{
  echo "# ferrum on $GPU_NAME, $DATE"
  echo
  echo "Written by \`scripts/gpu-bench.sh$([[ $QUICK == 1 ]] && echo ' --quick')\`. Method and comparison with the peers:"
  echo "docs/benchmarks.md. **All models have random weights** (\`ferrum gen-model\`, seed 0) with the"
  echo "real architectures' shapes: speed does not depend on the values, quality is meaningless."
  echo
  echo "- GPU: $GPU_NAME, $GPU_MEMORY, compute capability $GPU_CAP, driver $GPU_DRIVER"
  echo "- ferrum commit $COMMIT, $BUILT"
  echo "- host: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) threads"
  echo "- JSON for every table: $(basename "$JSON_DIR")/"
  echo
  echo "## ferrum bench"
  cat "$SECTIONS"
  echo
  echo "## ferrum bench-serve"
  echo
  echo "$SERVE_SECTION"
} > "$OUT"
log "wrote $OUT"
