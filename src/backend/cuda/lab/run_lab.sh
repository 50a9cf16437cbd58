#!/usr/bin/env bash
# One device-machine session for the CUDA backend: the backend's op check, then every lab harness;
# full logs under $OUT (or ./lab-out), a short summary last.
#
# Usage: run_lab.sh BIN_DIR FIXTURES_DIR [labs...]
#   BIN_DIR holds cuda-backend-check and cuda-lab-* (built with FERRUM_CUDA=ON, FERRUM_TESTS=ON);
#   FIXTURES_DIR is ../shared/fixtures/quant (gguf/, gptq/, awq/). Labs default to all four.
set -uo pipefail
bin=${1:?bin dir}
fixtures=${2:?fixtures dir}
shift 2
labs=${*:-"gemv rms-norm attention-decode attention-prefill"}
out=${OUT:-lab-out}
mkdir -p "$out"

{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv,noheader
} > "$out/device.txt" 2>&1
cat "$out/device.txt"

status=0
"$bin/cuda-backend-check" "$fixtures" > "$out/check.log" 2>&1 || status=1
for lab in $labs; do
  "$bin/cuda-lab-$lab" > "$out/lab-$lab.log" 2>&1 || status=1
done

echo "== op check: $(tail -n 1 "$out/check.log")"
grep -E "^FAIL" "$out/check.log" | head -n 40
for lab in $labs; do
  echo "== lab $lab"
  grep -E "measured|FAIL|error|lab:" "$out/lab-$lab.log" | head -n 20
done
exit $status
