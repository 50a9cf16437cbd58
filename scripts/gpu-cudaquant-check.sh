#!/usr/bin/env bash
# GPU check for the fused GGUF GEMV (branch cudaquant): correctness of gemm_quant on CUDA in the
# op matrix (and the backend check's GGUF cases, if built), then the fused GEMV's time at
# Llama-3.1-8B shapes for Q8_0, Q4_K and Q6_K, m = 1, against the dequantize + dense path it
# replaces.
#
# Usage, on a GPU machine, from the repo root, after `cmake --build build/cuda`:
#   scripts/gpu-cudaquant-check.sh            # logs under $OUT (default cudaquant-out)
# BUILD=dir picks another build folder. The op test reads fixtures from the path compiled in
# (<source>/../shared/fixtures); its GGUF fixture cases fail without them, the random ones do not.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
build=${BUILD:-build/cuda}
out=${OUT:-cudaquant-out}
mkdir -p "$out"
op_test=$build/tests/op_test/ferrum-op-test
bench=$build/bench/cuda/ferrum-cuda-quant-gemv-bench
backend_check=$build/src/backend/cuda/lab/cuda-backend-check
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader |
  tee "$out/device.txt"
echo "commit: $(git rev-parse --short HEAD 2> /dev/null || echo unknown)" | tee -a "$out/device.txt"
[[ -d ../shared/fixtures/quant ]] || echo "note: ../shared/fixtures/quant is missing (GGUF fixture cases will fail)"

echo
echo "== ferrum-op-test --filter gemm_quant (CPU and CUDA; full log: $out/op-test-gemm-quant.log)"
if [[ -x $op_test ]]; then
  "$op_test" --filter gemm_quant > "$out/op-test-gemm-quant.log" 2>&1
  code=$?
  # The CUDA GGUF rows of the fused types (m <= 8 are the dp4a GEMV, m = 9 / 17 the cuBLASLt path),
  # then every failure with its detail, then the count.
  grep -E '^gemm_quant +cuda .*gguf' "$out/op-test-gemm-quant.log" | grep -E ' (q8_0|q4_K|q6_K) '
  grep -E -A1 'FAIL$' "$out/op-test-gemm-quant.log"
  tail -1 "$out/op-test-gemm-quant.log"
  echo "op-test exit $code"
  [[ $code == 0 ]] || status=1
else
  echo "missing $op_test"
  status=1
fi

if [[ -x $backend_check ]]; then
  echo
  echo "== cuda-backend-check (GGUF lines and failures; full log: $out/backend-check.log)"
  "$backend_check" ../shared/fixtures/quant > "$out/backend-check.log" 2>&1
  code=$?
  grep -E 'gemm_quant Q|FAIL' "$out/backend-check.log" | head -60
  tail -2 "$out/backend-check.log"
  echo "cuda-backend-check exit $code"
  [[ $code == 0 ]] || status=1
fi

echo
if [[ -x $bench ]]; then
  echo "== fused GEMV, m = 1 (times include rounding x to int8; bound 3.0 TB/s)"
  "$bench" --m 1 2>&1 | tee "$out/bench-fused-m1.txt"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  echo
  echo "== baseline: dequantize + dense GEMV (FERRUM_CUDA_QUANT_GEMV=0), m = 1"
  FERRUM_CUDA_QUANT_GEMV=0 "$bench" --m 1 --reps 5 2>&1 | tee "$out/bench-dequant-m1.txt"
  echo
  echo "== fused GEMV, m = 8 (batch-8 decode)"
  "$bench" --m 8 2>&1 | tee "$out/bench-fused-m8.txt"
else
  echo "missing $bench"
  status=1
fi
echo
echo "gpu-cudaquant-check: $([[ $status == 0 ]] && echo "all passed" || echo "SOMETHING FAILED") (logs in $out)"
exit $status
