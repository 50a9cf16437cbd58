#!/usr/bin/env bash
# One device-machine batch for the CUDA models: correctness on every fixture, the op matrix for
# CUDA, and the Llama-3.1-8B benchmark under each decode setting; logs under $OUT, a table last.
#
# Usage (on the device machine, from the session checkout):
#   scripts/cuda-device-run.sh BUNDLE [stages...]
# BUNDLE holds bin/ (test-cuda-models, ferrum-op-test, ferrum-cuda-bench, built here with
# FERRUM_NATIVE=OFF), lib/ (shared libraries the image may lack) and fixtures/ (hf-tiny,
# stories260K, quant from ../shared/fixtures). Stages: tests ops bench variants labs profile
# (default: tests ops bench variants). labs runs the lab binaries present in bin/ (cuda-lab-*);
# profile runs ncu over one prefill and one decode step of the 8B model (after bench).
set -uo pipefail
bundle=$(cd "${1:?bundle dir}" && pwd)
shift
stages=${*:-"tests ops bench variants"}
out=${OUT:-cuda-run-out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
# The binaries look for fixtures at the path compiled in (<source>/../shared/fixtures of a
# checkout at /work/cuda2): make that path exist here.
mkdir -p /work/cuda2 /work/shared
ln -sfn "$bundle/fixtures" /work/shared/fixtures
for f in "$bundle"/bin/*.xz; do
  [[ -e $f ]] || continue
  xz -d -f "$f" 2> /dev/null || python3 -c 'import lzma, sys; open(sys.argv[1][:-3], "wb").write(lzma.open(sys.argv[1]).read())' "$f"
done
chmod +x "$bundle"/bin/* 2> /dev/null

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu \
  --format=csv,noheader | tee "$out/device.txt"
summary=()
for stage in $stages; do
  case $stage in
    tests)
      "$bundle/bin/test-cuda-models" > "$out/test-cuda-models.log" 2>&1
      code=$?
      summary+=("test-cuda-models exit $code: $(grep -c '^\[       OK' "$out/test-cuda-models.log") ok, $(grep -c '^\[  FAILED' "$out/test-cuda-models.log") failed lines")
      grep -E '^\[cuda|FAILED|rror' "$out/test-cuda-models.log" | head -90
      if [[ $code != 0 ]]; then
        # Tell a PDL problem from a model problem.
        FERRUM_CUDA_PDL=0 "$bundle/bin/test-cuda-models" > "$out/test-cuda-models-nopdl.log" 2>&1
        summary+=("  with FERRUM_CUDA_PDL=0: exit $?, $(grep -c '^\[  FAILED' "$out/test-cuda-models-nopdl.log") failed lines")
      fi
      ;;
    ops)
      "$bundle/bin/ferrum-op-test" > "$out/op-test.log" 2>&1
      summary+=("ferrum-op-test exit $?: $(tail -1 "$out/op-test.log")")
      grep -iE 'fail' "$out/op-test.log" | head -20
      ;;
    bench)
      "$bundle/bin/ferrum-cuda-bench" --model /tmp/llama8b --generate --reps 3 2>&1 | tee "$out/bench-default.log"
      summary+=("default: $(grep RESULT "$out/bench-default.log")")
      ;;
    labs)
      for lab in "$bundle"/bin/cuda-lab-*; do
        [[ -x $lab ]] || continue
        name=$(basename "$lab")
        "$lab" > "$out/$name.log" 2>&1
        summary+=("$name exit $?: $(tail -1 "$out/$name.log")")
        cat "$out/$name.log"
      done
      ;;
    profile)
      ncu --nvtx --nvtx-include "prefill/" --nvtx-include "decode_step/" --clock-control none --cache-control none \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv \
        "$bundle/bin/ferrum-cuda-bench" --model /tmp/llama8b --reps 1 --gen 4 --profile-step \
        > "$out/ncu-steps.csv" 2> "$out/ncu-steps.err"
      summary+=("profile exit $?: $(grep -c gpu__time_duration "$out/ncu-steps.csv") kernel rows")
      tail -3 "$out/ncu-steps.err"
      ;;
    variants)
      for setting in ${VARIANTS:-FERRUM_CUDA_DECODE_ATTENTION=v3 FERRUM_CUDA_PDL=0 FERRUM_DECODE_GRAPHS=0 FERRUM_CUDA_PREFETCH=2048}; do
        # A setting may join several assignments with '+': A=1+B=2.
        env ${setting//+/ } "$bundle/bin/ferrum-cuda-bench" --model /tmp/llama8b --reps 2 \
          > "$out/bench-${setting//[=+]/-}.log" 2>&1
        summary+=("$setting: $(grep RESULT "$out/bench-${setting//[=+]/-}.log" || tail -2 "$out/bench-${setting//[=+]/-}.log")")
      done
      ;;
  esac
done
echo
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
