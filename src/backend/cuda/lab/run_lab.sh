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
if [[ -x "$bin/ferrum-op-test" ]]; then
  # The shared op-test matrix (CPU and CUDA); its fixture path is compiled in as
  # <source>/../shared/fixtures, so make that exist here.
  if [[ -n "${OP_TEST_FIXTURES_ROOT:-}" ]]; then
    mkdir -p "$OP_TEST_FIXTURES_ROOT/shared/fixtures" "${OP_TEST_SOURCE_DIR:?}"
    cp -r "$fixtures" "$OP_TEST_FIXTURES_ROOT/shared/fixtures/"
  fi
  "$bin/ferrum-op-test" > "$out/op_test.log" 2>&1 || status=1
fi
"$bin/cuda-backend-check" "$fixtures" > "$out/check.log" 2>&1 || status=1
for lab in $labs; do
  "$bin/cuda-lab-$lab" > "$out/lab-$lab.log" 2>&1 || status=1
done

if [[ "${SANITIZE:-0}" == 1 ]] && command -v compute-sanitizer > /dev/null; then
  # Out-of-bounds and misaligned accesses anywhere in the op check (slow: run it last).
  timeout 240 compute-sanitizer --tool memcheck --print-limit 20 "$bin/cuda-backend-check" "$fixtures" \
    > "$out/sanitize.log" 2>&1
  echo "== compute-sanitizer memcheck: exit $? ($(grep -c "Invalid" "$out/sanitize.log") invalid accesses)"
  grep -E "ERROR SUMMARY|Invalid" "$out/sanitize.log" | head -n 10
fi
if [[ -f "$out/op_test.log" ]]; then
  echo "== ferrum-op-test: $(tail -n 1 "$out/op_test.log")"
  grep -E "FAIL" -A1 "$out/op_test.log" | head -n 60
fi
echo "== op check: $(tail -n 1 "$out/check.log")"
grep -E "^FAIL" "$out/check.log" | head -n 40
for lab in $labs; do
  echo "== lab $lab"
  grep -E "measured|FAIL|error|lab:" "$out/lab-$lab.log" | head -n 20
done
exit $status
