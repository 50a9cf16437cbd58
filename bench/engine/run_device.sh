#!/usr/bin/env bash
# One device-machine session for the serving engine: the paged ops in the op-test matrix (CPU and
# CUDA), paged against contiguous decode attention, and the engine's offline throughput on random
# Llama weights. Logs go to $OUT (or ./engine-out); a summary is printed.
#
# Usage: run_device.sh BIN_DIR [MODELS...]   (MODELS: random shapes for the engine runs, default 1b)
#   BIN_DIR holds ferrum-op-test, ferrum-paged-attention-bench and ferrum-engine-bench built with the
#   `cuda` preset (FERRUM_NATIVE=OFF so they run on any x86-64 host).
set -uo pipefail
bin=${1:?bin dir}
shift
models=${*:-1b}
out=${OUT:-engine-out}
mkdir -p "$out"

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader |
  tee "$out/device.txt"
status=0

echo "== op test: paged ops"
"$bin/ferrum-op-test" --filter paged_attention,paged_mla_attention,paged_cache_write,gather_rows,copy_from_host \
  > "$out/op_test.log" 2>&1 || status=1
tail -n 1 "$out/op_test.log"
grep -E "FAIL" -A1 "$out/op_test.log" | head -n 30

echo "== paged vs contiguous decode attention (Llama 3.1 8B heads, bf16 cache)"
timeout 180 "$bin/ferrum-paged-attention-bench" --device cuda --seqs 16,64 --contexts 256,1024,4096 \
  > "$out/paged_attention.txt" 2>&1 || status=1
cat "$out/paged_attention.txt"

for model in $models; do
  for requests in 16 64; do
    echo "== engine: random $model, $requests requests x (128 + 128) tokens"
    timeout 300 "$bin/ferrum-engine-bench" --device cuda --random "$model" --requests "$requests" --prompt-len 128 \
      --new-tokens 128 --max-num-batched-tokens 2048 > "$out/engine_${model}_${requests}.txt" 2>&1 || status=1
    grep -vE "^$" "$out/engine_${model}_${requests}.txt" | tail -n 7
  done
  echo "== engine: random $model, 64 requests, graphs off"
  timeout 300 "$bin/ferrum-engine-bench" --device cuda --random "$model" --requests 64 --prompt-len 128 \
    --new-tokens 128 --max-num-batched-tokens 2048 --no-graphs > "$out/engine_${model}_64_eager.txt" 2>&1 || status=1
  grep -E "throughput|decode steps|host share" "$out/engine_${model}_64_eager.txt"
done
exit $status
