#!/usr/bin/env bash
# One GPU session in two halves. Here (the build machine, with ferrum's dependencies):
#   scripts/device-session.sh bundle
# collects the CUDA build (build/cuda, configured with FERRUM_NATIVE=OFF) into .device/: bin/ (the
# binaries, xz-compressed), lib/ (shared libraries beyond glibc / libstdc++ / CUDA: the GPU image has
# no PCRE2, ICU, libsndfile, libsamplerate), fixtures/ (hf-tiny, stories260K, quant) and COMMIT.
# There (the GPU machine, repository root, `.device` carried):
#   scripts/device-session.sh run [stages...]
# runs the stages and prints a summary table last; logs go to $OUT (or ./device-out).
# Stages: ops models bench8b engine quant ahead qmma gguf8b gptq8b fp8kv prefix sample picks paged decode64 qdecode qgemv qgemvcheck serve genmodels
# ferrumbench (default: ops models bench8b engine serve; engine reuses the 8B of bench8b; ferrumbench
# takes the models of genmodels)
set -uo pipefail
mode=${1:-run}
shift || true
bundle=$PWD/.device

if [[ $mode == bundle ]]; then
  set -e
  build=${BUILD:-build/cuda}
  rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/fixtures"
  targets="src/ferrum tests/op_test/ferrum-op-test tests/test-cuda-models bench/cuda/ferrum-cuda-bench
    bench/engine/ferrum-engine-bench bench/cuda/ferrum-cuda-quant-gemv-bench ${EXTRA_BINARIES:-}"
  # Build first: a binary older than its sources once made a test look failed.
  # shellcheck disable=SC2086
  cmake --build "$build" --target $(for t in $targets; do basename "$t"; done)
  for target in $targets; do
    [[ -x $build/$target ]] || { echo "missing $build/$target" >&2; exit 1; }
    cp "$build/$target" "$bundle/bin/"
    ldd "$build/$target" | awk '/=> \// {print $3}' |
      grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcudart|libcublas[^/]*|libcuda|libnccl)\.so' |
      xargs -r cp -L -t "$bundle/lib" || true  # grep finds nothing for binaries without such libraries
  done
  xz -T2 -3 "$bundle"/bin/*
  # The libraries go as one archive (ICU's data alone is 30 MB; the carry limit is 64 MiB).
  tar -C "$bundle/lib" -cJf "$bundle/libs.tar.xz" . && rm -rf "$bundle/lib"
  cp -r ../shared/fixtures/{hf-tiny,stories260K,quant} "$bundle/fixtures/"
  # scripts/tp-device-run.sh takes the same bundle.
  mkdir -p "$bundle/scripts" && cp scripts/tp_compare.py scripts/make_llama8b.py "$bundle/scripts/"
  git rev-parse --short=12 HEAD > "$bundle/COMMIT"
  du -sh "$bundle"
  exit 0
fi

stages=${*:-"ops models bench8b engine serve"}
out=${OUT:-device-out}
mkdir -p "$out"
export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
for f in "$bundle"/bin/*.xz; do
  [[ -e $f ]] || continue
  xz -d -f "$f" 2> /dev/null || python3 -c 'import lzma, sys; open(sys.argv[1][:-3], "wb").write(lzma.open(sys.argv[1]).read())' "$f"
done
chmod +x "$bundle"/bin/* 2> /dev/null
if [[ -f $bundle/libs.tar.xz && ! -d $bundle/lib ]]; then
  mkdir -p "$bundle/lib"
  tar -C "$bundle/lib" -xJf "$bundle/libs.tar.xz" 2> /dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle/libs.tar.xz" "$bundle/lib"
fi
bin() { echo "$bundle/bin/$(basename "$1")"; }
summary=()
note() { summary+=("$1"); echo "$1"; }
# Llama-3.1-8B shapes in bf16 with the first layer's bytes repeated (~10 s to make), generated once
# per machine; prints its path.
llama8b_bf16() {
  local path=/tmp/m/l8r-bf16
  mkdir -p /tmp/m
  [[ -e $path ]] || timeout 240 "$(bin ferrum)" gen-model --preset llama3.1-8b --dtype bf16 "$path" \
    --repeat-first-layer > "$out/gen8b-bf16.log" 2>&1
  echo "$path"
}
# Llama-3.1-8B shapes in a GGUF type ($1: Q4_K_M, Q8_0, ...; 80 s for Q4_K_M) or packed int4
# (gptq-int4, awq-int4: a directory, 3 s), layers copied; prints its path.
llama8b_gguf() {
  local path=/tmp/m/l8r-$1.gguf
  [[ $1 == gptq-* || $1 == awq-* ]] && path=/tmp/m/l8r-$1
  mkdir -p /tmp/m
  [[ -e $path ]] || timeout 240 "$(bin ferrum)" gen-model --preset llama3.1-8b --dtype "$1" "$path" \
    --repeat-first-layer > "$out/gen8b-$1.log" 2>&1
  echo "$path"
}
# Runs "$2..." with the quantized GEMV's switches of variant $1 (comma-separated: async=0, split=N,
# fill=N; "default" sets none).
qgemv_env() {
  local variant=$1
  shift
  local -a env=()
  [[ $variant == *async=0* ]] && env+=(FERRUM_CUDA_QUANT_GEMV_ASYNC=0)
  [[ $variant =~ fill=([0-9]+) ]] && env+=(FERRUM_CUDA_QUANT_GEMV_FILL="${BASH_REMATCH[1]}")
  [[ $variant =~ split=([1-8]) ]] && env+=(FERRUM_CUDA_QUANT_GEMV_SPLIT="${BASH_REMATCH[1]}")
  env "${env[@]}" "$@"
}
# The test binaries look for fixtures at <source>/../shared/fixtures of the checkout that built them.
src_root=$(strings "$(bin test-cuda-models)" | grep -m1 -oE '/[^ ]*/\.\./shared/fixtures' || true)
if [[ -n $src_root && ! -e $src_root ]]; then
  mkdir -p "$(dirname "$src_root")" && ln -sfn "$bundle/fixtures" "$src_root"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader |
  tee "$out/device.txt"
note "commit $(cat "$bundle/COMMIT")"

for stage in $stages; do
  case $stage in
    ops)
      "$(bin tests/op_test/ferrum-op-test)" > "$out/op-test.log" 2>&1
      note "ferrum-op-test (cpu + cuda) exit $?: $(tail -1 "$out/op-test.log")"
      grep -iE 'fail' "$out/op-test.log" | head -20
      ;;
    models)
      "$(bin tests/test-cuda-models)" > "$out/test-cuda-models.log" 2>&1
      note "test-cuda-models exit $?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/test-cuda-models.log" | tr '\n' ' ')"
      grep -E '^\[cuda|FAILED' "$out/test-cuda-models.log" | head -40
      ;;
    engine)
      for requests in 16 64; do
        timeout 400 "$(bin bench/engine/ferrum-engine-bench)" --device cuda --model /tmp/llama8b --requests "$requests" \
          --prompt-len 128 --new-tokens 128 --max-num-batched-tokens 2048 > "$out/engine-8b-$requests.txt" 2>&1
        note "engine 8b bf16, $requests x (128 + 128): exit $? | $(grep -E 'output throughput' "$out/engine-8b-$requests.txt") | $(grep -E 'decode steps' "$out/engine-8b-$requests.txt")"
      done
      timeout 300 "$(bin bench/engine/ferrum-engine-bench)" --device cuda --model /tmp/llama8b --shared-prefix 2000 \
        --new-tokens 8 --max-num-batched-tokens 2048 > "$out/engine-8b-prefix.txt" 2>&1
      note "engine 8b prefix cache: exit $? | $(grep 'time to first token' "$out/engine-8b-prefix.txt")"
      ;;
    bench8b)
      timeout 400 "$(bin bench/cuda/ferrum-cuda-bench)" --model /tmp/llama8b --generate --reps 3 > "$out/cuda-bench-8b.log" 2>&1
      note "ferrum-cuda-bench 8b bf16: exit $? | $(grep RESULT "$out/cuda-bench-8b.log" | tr '\n' ' ')"
      ;;
    quant)
      # The fused GGUF GEMV against the dequantize + dense path it replaces (correctness: ops stage).
      q=$(bin ferrum-cuda-quant-gemv-bench)
      "$q" --m 1 > "$out/quant-gemv-m1.txt" 2>&1
      note "quant GEMV m=1 exit $?"
      FERRUM_CUDA_QUANT_GEMV=0 "$q" --m 1 --reps 5 > "$out/quant-dequant-m1.txt" 2>&1
      "$q" --m 8 > "$out/quant-gemv-m8.txt" 2>&1
      cat "$out/quant-gemv-m1.txt" "$out/quant-dequant-m1.txt" "$out/quant-gemv-m8.txt"
      ;;
    qgemv)
      # The fused GGUF GEMV (kernels/quant_gemv.cu): its op cases, then the m = 1 kernels and the 8B
      # decode with each variant (qgemv_env): by default, synchronous staging (Q8_0, Q6_K), no k
      # split, both.
      "$(bin tests/op_test/ferrum-op-test)" --filter gemm_quant > "$out/op-test-quant.log" 2>&1
      note "op-test gemm_quant exit $?: $(tail -1 "$out/op-test-quant.log")"
      grep -E 'FAIL' "$out/op-test-quant.log" | head
      variants=${QGEMV_VARIANTS:-"default async=0 split=1 async=0,split=1"}
      for variant in $variants; do
        qgemv_env "$variant" "$(bin ferrum-cuda-quant-gemv-bench)" --m 1 > "$out/qgemv-${variant//[=,]/_}.txt" 2>&1
        note "quant gemv m=1 $variant: exit $?"
      done
      for dtype in ${QDECODE_TYPES:-Q4_K_M Q8_0}; do
        path=$(llama8b_gguf "$dtype")
        for variant in $variants; do
          qgemv_env "$variant" timeout 200 "$(bin ferrum)" bench --device cuda "$path" -p 0 -n 128 -b 1 -r 2 \
            > "$out/qgemv-bench-$dtype-${variant//[=,]/_}.md" 2>&1
          note "8b $dtype tg128 $variant: exit $? | $(grep -E 'tg128' "$out/qgemv-bench-$dtype-${variant//[=,]/_}.md" |
            cut -d'|' -f7-10)"
        done
      done
      ;;
    qgemvcheck)
      # The quantized GEMV kernels alone at m = 1 and m = 8 (no model): default against synchronous
      # staging without the k split (Q4_K v3, the kernel before 2026-11-27, is in lab/quant_gemv_lab.cu).
      for m in 1 8; do
        "$(bin ferrum-cuda-quant-gemv-bench)" --m $m > "$out/qgemv-m$m-default.txt" 2>&1
        note "quant gemv m=$m default: exit $?"
        qgemv_env async=0,split=1 "$(bin ferrum-cuda-quant-gemv-bench)" --m $m \
          > "$out/qgemv-m$m-old.txt" 2>&1
        note "quant gemv m=$m old: exit $?"
      done
      ;;
    ahead)
      # x rounded to int8 ahead by the norms and the activation (kernels/rounded_rows.cuh) against
      # each quantized GEMV rounding x itself (FERRUM_CUDA_ROUND_AHEAD=0), alternated on one machine.
      # AHEAD_ENV adds a setting to both sides (FERRUM_CUDA_QUANT_PARTS=0: mixed-type q / k / v part
      # by part).
      for dtype in ${QDECODE_TYPES:-Q4_K_M Q8_0}; do
        path=$(llama8b_gguf "$dtype")
        for run in 1 2; do
          for setting in 1 0; do
            env ${AHEAD_ENV:-} FERRUM_CUDA_ROUND_AHEAD=$setting timeout 200 "$(bin ferrum)" bench --device cuda "$path" -p 0 -n 128 \
              -b 1 -r 2 > "$out/ahead-$dtype-$setting-$run.md" 2>&1
            note "8b $dtype tg128 round-ahead=$setting: exit $? | $(grep -E 'tg128' "$out/ahead-$dtype-$setting-$run.md" |
              cut -d'|' -f7-10)"
          done
        done
      done
      ;;
    qmma)
      # The GGUF tensor-core GEMM (kernels/quant_mma.h): its op cases, its lab, then batched decode of
      # a 1B Q4_K_M with it and without it (FERRUM_CUDA_QUANT_MMA_MAX_ROWS=0: dequantize + cuBLASLt).
      "$(bin tests/op_test/ferrum-op-test)" --filter gemm_quant > "$out/op-test-quant.log" 2>&1
      note "op-test gemm_quant exit $?: $(tail -1 "$out/op-test-quant.log")"
      grep -E 'FAIL' "$out/op-test-quant.log" | head
      timeout 240 "$(bin cuda-lab-quant-mma)" > "$out/lab-quant-mma.txt" 2>&1
      note "cuda-lab-quant-mma exit $?: $(tail -1 "$out/lab-quant-mma.txt")"
      cat "$out/lab-quant-mma.txt"
      [[ ${QMMA_BENCH:-1} == 0 ]] && continue
      model=${QMMA_MODEL:-/tmp/m/l1-Q4_K_M.gguf}
      mkdir -p /tmp/m
      [[ -e $model ]] || timeout 200 "$(bin ferrum)" gen-model --preset llama3.2-1b --dtype Q4_K_M "$model" \
        > "$out/gen-qmma.log" 2>&1
      for rows in default 0; do
        FERRUM_CUDA_QUANT_MMA_MAX_ROWS=${rows/default/} timeout 240 "$(bin ferrum)" bench --device cuda "$model" -p 512 -n 128 \
          -b 1,16,64 -r 2 > "$out/bench-qmma-$rows.md" 2> "$out/bench-qmma-$rows.err"
        note "ferrum bench $(basename "$model") quant_mma max rows $rows: exit $?"
        grep -E '^\|' "$out/bench-qmma-$rows.md"
      done
      ;;
    gguf8b)
      # Llama-3.1-8B shapes in Q4_K_M and Q8_0 (layers byte copies: gen-model --repeat-first-layer, so
      # the 8B is quantized in minutes), `ferrum bench` at batch 1, 16 and 64.
      for dtype in ${GGUF8B_TYPES:-Q4_K_M Q8_0}; do
        start=$SECONDS
        path=$(llama8b_gguf "$dtype")
        note "gen-model llama3.1-8b $dtype --repeat-first-layer: $path in $((SECONDS - start)) s"
        timeout 300 "$(bin ferrum)" bench --device cuda "$path" -p 512 -n 128 -b 1,16,64 -r 2 \
          --json-file "$out/bench8b-$dtype.json" > "$out/bench8b-$dtype.md" 2> "$out/bench8b-$dtype.err"
        note "ferrum bench 8b $dtype exit $?"
        grep -E '^\|' "$out/bench8b-$dtype.md"
        tail -2 "$out/bench8b-$dtype.err"
      done
      ;;
    gptq8b)
      # Llama-3.1-8B shapes as GPTQ / AWQ int4 checkpoints (group 128, layers copied), `ferrum bench`
      # at batch 1, 16 and 64, and decode on the dequantize + cuBLASLt path for comparison.
      mkdir -p /tmp/m
      for dtype in ${PACKED8B_TYPES:-gptq-int4 awq-int4}; do
        path=/tmp/m/l8r-$dtype
        start=$SECONDS
        [[ -e $path ]] || timeout 240 "$(bin ferrum)" gen-model --preset llama3.1-8b --dtype "$dtype" "$path" \
          --repeat-first-layer > "$out/gen8b-$dtype.log" 2>&1
        note "gen-model llama3.1-8b $dtype --repeat-first-layer: exit $? in $((SECONDS - start)) s"
        timeout 300 "$(bin ferrum)" bench --device cuda "$path" -p 512 -n 128 -b 1,16,64 -r 2 \
          > "$out/bench8b-$dtype.md" 2> "$out/bench8b-$dtype.err"
        note "ferrum bench 8b $dtype exit $?"
        FERRUM_CUDA_QUANT_MMA_MAX_ROWS=0 FERRUM_CUDA_PACKED_GEMV=0 timeout 200 "$(bin ferrum)" bench --device cuda \
          "$path" -p 0 -n 32 -b 1 \
          -r 1 > "$out/bench8b-$dtype-dequant.md" 2> "$out/bench8b-$dtype-dequant.err"
        note "ferrum bench 8b $dtype, dequantize path, exit $?"
        grep -E '^\|' "$out/bench8b-$dtype.md" "$out/bench8b-$dtype-dequant.md"
        tail -2 "$out/bench8b-$dtype.err"
      done
      ;;
    fp8kv)
      # The f8_e4m3 paged KV cache: its op cases, the hf-tiny models over it, then 8B bf16 serving
      # with long prompts (KV reads rival the weights there) over a bf16 and an fp8 cache.
      "$(bin tests/op_test/ferrum-op-test)" --filter paged_attention,paged_mla_attention,paged_cache_write \
        > "$out/op-test-paged.log" 2>&1
      note "op-test paged ops exit $?: $(tail -1 "$out/op-test-paged.log")"
      grep -E 'FAIL|f8_e4m3' "$out/op-test-paged.log" | grep cuda | head -20
      "$(bin tests/test-cuda-models)" --gtest_filter='*PagedCache*' > "$out/test-cuda-fp8.log" 2>&1
      note "test-cuda-models fp8 exit $?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/test-cuda-fp8.log" | tr '\n' ' ')"
      grep -E '^\[cuda|FAILED' "$out/test-cuda-fp8.log" | head -20
      path=$(llama8b_bf16)
      for kv in bf16 fp8; do
        timeout 300 "$(bin ferrum)" bench --device cuda "$path" -p 0 -n 128 -b 16,64 --batched-prompt ${FP8_PROMPT:-2048} \
          -r 1 --kv-cache-dtype $kv > "$out/bench8b-kv-$kv.md" 2> "$out/bench8b-kv-$kv.err"
        note "ferrum bench 8b bf16 weights, $kv cache, prompts of ${FP8_PROMPT:-2048}: exit $?"
        grep -E '^\|' "$out/bench8b-kv-$kv.md"
        tail -2 "$out/bench8b-kv-$kv.err"
      done
      ;;
    prefix)
      # Prefix caching's time to first token at several prefix lengths (8B bf16 shapes); with
      # PREFIX_NCU=1 also Nsight Compute's per-kernel times over the same run with one new token per
      # request (three prefill steps: the warm-up, a new prefix, the cached prefix), and the paged
      # attention kernel of the cached step alone.
      path=$(llama8b_bf16)
      eb=$(bin bench/engine/ferrum-engine-bench)
      for n in ${PREFIX_LENGTHS:-500 1000 2000}; do
        timeout 200 "$eb" --device cuda --model "$path" --shared-prefix "$n" --new-tokens 8 \
          --max-num-batched-tokens 2048 > "$out/prefix-$n.txt" 2>&1
        note "prefix $n: exit $? | $(grep 'time to first token' "$out/prefix-$n.txt")"
      done
      if [[ ${PREFIX_NCU:-0} == 1 ]] && command -v ncu > /dev/null; then
        timeout 400 ncu --clock-control none --print-summary per-kernel --metrics gpu__time_duration.sum \
          "$eb" --device cuda --model "$path" --shared-prefix 2000 --new-tokens 1 --max-num-batched-tokens 2048 \
          > "$out/ncu-prefix-summary.txt" 2>&1
        note "ncu summary exit $?"
        timeout 200 ncu --clock-control none --kernel-name regex:paged_attention_kernel --launch-skip 64 \
          --launch-count 2 --metrics gpu__time_duration.sum \
          "$eb" --device cuda --model "$path" --shared-prefix 2000 --new-tokens 1 --max-num-batched-tokens 2048 \
          > "$out/ncu-prefix-paged.txt" 2>&1
        note "ncu paged exit $?"
        grep -E 'paged|duration' "$out/ncu-prefix-paged.txt" | head -8
      fi
      ;;
    genmodels)
      # Llama-3.1-8B shapes, random weights, as gpu-bench.sh makes them (`ferrum gen-model`).
      for spec in "bf16 /tmp/m/l8-bf16" "Q4_K_M /tmp/m/l8-Q4_K_M.gguf" "Q8_0 /tmp/m/l8-Q8_0.gguf"; do
        read -r dtype path <<< "$spec"
        start=$SECONDS
        mkdir -p /tmp/m
        [[ -e $path ]] || timeout 400 "$(bin ferrum)" gen-model --preset llama3.1-8b --dtype "$dtype" "$path" \
          > "$out/gen-$dtype.log" 2>&1
        note "gen-model llama3.1-8b $dtype: exit $? in $((SECONDS - start)) s"
      done
      ;;
    ferrumbench)
      # `ferrum bench` on the models of genmodels: bf16 at batch 1 / 16 / 64, the GGUF files at 1 / 16.
      timeout 500 "$(bin ferrum)" bench --device cuda /tmp/m/l8-bf16 -p 512 -n 128 -b 1,16,64 -r 3 \
        --json-file "$out/bench-bf16.json" > "$out/bench-bf16.md" 2> "$out/bench-bf16.err"
      note "ferrum bench bf16 exit $?"
      timeout 500 "$(bin ferrum)" bench --device cuda /tmp/m/l8-Q4_K_M.gguf /tmp/m/l8-Q8_0.gguf -p 512 -n 128 -b 1,16 \
        -r 2 --json-file "$out/bench-gguf.json" > "$out/bench-gguf.md" 2> "$out/bench-gguf.err"
      note "ferrum bench Q4_K_M / Q8_0 exit $?"
      grep -E '^\|' "$out/bench-bf16.md" "$out/bench-gguf.md"
      tail -3 "$out/bench-bf16.err" "$out/bench-gguf.err"
      ;;
    sample)
      # Device sampling: the op against its reference, the kernel's timing, seeded draws served on
      # the device and on the host (the same text), and the engine's throughput with sampled rows.
      "$(bin tests/op_test/ferrum-op-test)" --filter sample_rows > "$out/op-test-sample.log" 2>&1
      note "op-test sample_rows exit $?: $(tail -1 "$out/op-test-sample.log")"
      grep -E 'FAIL' "$out/op-test-sample.log" | head
      "$(bin cuda-lab-sample)" > "$out/lab-sample.txt" 2>&1
      note "cuda-lab-sample exit $?"
      cat "$out/lab-sample.txt"
      for mode in device host; do
        flag=""
        [[ $mode == host ]] && flag=--host-sampling
        "$(bin src/ferrum)" serve "$bundle/fixtures/stories260K/stories260K.gguf" --device cuda --port 18081 -c 512 $flag \
          > "$out/serve-$mode.log" 2>&1 &
        pid=$!
        sleep 5
        env -u LD_LIBRARY_PATH python3 -c 'import json, urllib.request as u; print(json.loads(u.urlopen(u.Request("http://127.0.0.1:18081/v1/completions", data=json.dumps({"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 48, "temperature": 0.8, "top_p": 0.9, "seed": 7}).encode(), headers={"Content-Type": "application/json"})).read().decode())["choices"][0]["text"])' \
          > "$out/serve-$mode.txt" 2>&1
        kill "$pid"
        wait "$pid" 2> /dev/null
      done
      if cmp -s "$out/serve-device.txt" "$out/serve-host.txt"; then same=same; else same=DIFFERENT; fi
      note "seeded completion, device vs host sampling: $same: $(head -c 120 "$out/serve-device.txt")"
      for spec in "greedy --temperature 0" "device --temperature 0.8 --top-p 0.9" \
        "topk --temperature 0.8 --top-k 40 --top-p 0.95"; do
        read -r name args <<< "$spec"
        # shellcheck disable=SC2086
        timeout 200 "$(bin bench/engine/ferrum-engine-bench)" --device cuda --random 1b --requests 64 --prompt-len 128 \
          --new-tokens 128 --max-num-batched-tokens 2048 $args > "$out/engine-1b-$name.txt" 2>&1
        note "engine 1b 64 x (128 + 128) $name: exit $? | $(grep -E 'output throughput' "$out/engine-1b-$name.txt") | $(grep -E 'decode steps' "$out/engine-1b-$name.txt" | cut -c1-90)"
      done
      ;;
    picks)
      # The engine's picks on the device (penalties, bias, log-probabilities): the ops against their
      # references, the engine on stories260K picking on the device vs on the host, then 8B bf16
      # serving of 64 x (128 + 128) greedy, sampled, and sampled with penalties and top-5
      # log-probabilities on the device and on the host.
      "$(bin tests/op_test/ferrum-op-test)" --filter adjust_logits,log_softmax_at,sample_rows,topk_rows,argmax_rows \
        > "$out/op-test-picks.log" 2>&1
      note "op-test pick ops exit $?: $(tail -1 "$out/op-test-picks.log")"
      grep -E 'FAIL' "$out/op-test-picks.log" | head
      "$(bin tests/test-cuda-models)" --gtest_filter='CudaEngine.*:CudaGraphs.*' > "$out/test-cuda-engine.log" 2>&1
      note "test-cuda-models engine exit $?: $(grep -E '^\[  (PASSED|FAILED) ' "$out/test-cuda-engine.log" | tr '\n' ' ')"
      grep -E '^\[cuda|Failure' -A3 "$out/test-cuda-engine.log" | head -20
      path=$(llama8b_bf16)
      sampled="--temperature 0.8 --top-p 0.9"
      penalties="--repetition-penalty 1.1 --presence-penalty 0.3 --frequency-penalty 0.5"
      for spec in "greedy --temperature 0" "sampled $sampled" "penalties $sampled $penalties" \
        "logprobs $sampled --logprobs 5" "both $sampled $penalties --logprobs 5" \
        "both-host $sampled $penalties --logprobs 5 --host-sampling"; do
        read -r name args <<< "$spec"
        # shellcheck disable=SC2086
        timeout 200 "$(bin bench/engine/ferrum-engine-bench)" --device cuda --model "$path" --requests 64 \
          --prompt-len 128 --new-tokens 128 --max-num-batched-tokens 2048 $args > "$out/engine-8b-picks.txt" 2>&1
        note "engine 8b 64 x (128 + 128) $name: exit $? | $(grep -E 'output throughput' "$out/engine-8b-picks.txt") | $(grep -E 'decode steps' "$out/engine-8b-picks.txt" | cut -c1-120)"
      done
      if [[ ${PICKS_NCU:-0} == 1 ]] && command -v ncu > /dev/null; then
        # The pick kernels of decode steps (eager: graphs off so every launch is seen once).
        timeout 300 ncu --clock-control none --print-summary per-kernel --metrics gpu__time_duration.sum \
          --kernel-name regex:'topk|log_softmax|adjust|sample_rows|argmax|memcpy' --launch-skip 200 --launch-count 60 \
          "$(bin bench/engine/ferrum-engine-bench)" --device cuda --random 1b --requests 64 --prompt-len 128 \
          --new-tokens 32 --max-num-batched-tokens 2048 --no-graphs $sampled $penalties --logprobs 5 \
          > "$out/ncu-picks.txt" 2>&1
        note "ncu picks exit $?"
        grep -E '^  [a-z_]|duration' "$out/ncu-picks.txt" | head -30
      fi
      ;;
    paged)
      # The paged decode kernel: its op cases, the paged-attention microbenchmark and 8B bf16 serving
      # at 16 and 64 sequences, with each decode kernel (FERRUM_CUDA_PAGED_DECODE: 4 tensor cores, 3
      # CUDA-core tiles, 0 the general paged kernel).
      "$(bin tests/op_test/ferrum-op-test)" --filter paged_attention > "$out/op-test-paged.log" 2>&1
      note "op-test paged_attention exit $?: $(tail -1 "$out/op-test-paged.log")"
      grep -E 'FAIL' "$out/op-test-paged.log" | head
      path=$(llama8b_bf16)
      for decode in 4 3 0; do
        FERRUM_CUDA_PAGED_DECODE=$decode timeout 120 "$(bin ferrum-paged-attention-bench)" --device cuda \
          --seqs 1,16,64 --contexts 256,1024,4096 > "$out/paged-bench-$decode.txt" 2>&1
        note "paged-attention-bench decode kernel $decode: exit $?"
        cat "$out/paged-bench-$decode.txt"
        for requests in 16 64; do
          FERRUM_CUDA_PAGED_DECODE=$decode timeout 200 "$(bin bench/engine/ferrum-engine-bench)" --device cuda \
            --model "$path" --requests "$requests" --prompt-len 128 --new-tokens 128 --max-num-batched-tokens 2048 \
            > "$out/engine-paged.txt" 2>&1
          note "engine 8b $requests x (128 + 128), decode kernel $decode: exit $? | $(grep -E 'output throughput' "$out/engine-paged.txt") | $(grep -E 'decode steps' "$out/engine-paged.txt" | cut -c1-120)"
        done
      done
      ;;
    decode64)
      # Where a steady 64-sequence decode step of the 8B bf16 model goes: Nsight Compute's per-kernel
      # times over ~3 decode steps (eager launches, so the window is counted in kernels), well past
      # the warm-up and the prefill.
      path=$(llama8b_bf16)
      timeout 500 ncu --clock-control none --print-summary per-kernel --metrics gpu__time_duration.sum \
        --launch-skip ${DECODE_SKIP:-15000} --launch-count ${DECODE_COUNT:-1000} \
        "$(bin bench/engine/ferrum-engine-bench)" --device cuda --model "$path" --requests 64 --prompt-len 128 \
        --new-tokens 64 --max-num-batched-tokens 2048 --no-graphs > "$out/ncu-decode64.txt" 2>&1
      note "ncu decode64 exit $?"
      ;;
    qdecode)
      # Batch-1 decode of the 8B in GGUF types: `ferrum bench` tg128, then Nsight Compute's
      # per-kernel times for one decode step (eager, in the NVTX range decode_step).
      for dtype in ${QDECODE_TYPES:-Q4_K_M}; do
        path=$(llama8b_gguf "$dtype")
        if [[ ${QDECODE_BENCH:-1} == 1 ]]; then
          timeout 200 "$(bin ferrum)" bench --device cuda "$path" -p 0 -n 128 -b 1 -r 3 > "$out/qdecode-$dtype.md" \
            2> "$out/qdecode-$dtype.err"
          note "ferrum bench 8b $dtype tg128: exit $? | $(grep -E 'tg128' "$out/qdecode-$dtype.md" | head -1)"
        fi
        if [[ ${QDECODE_NCU:-1} == 1 ]]; then
          timeout 300 ncu --clock-control none --nvtx --nvtx-include decode_step/ --print-summary per-kernel \
            --metrics gpu__time_duration.sum,dram__bytes_read.sum "$(bin ferrum-cuda-bench)" --model "$path" \
            --prompt 16 --gen 4 --reps 1 --profile-step > "$out/ncu-qdecode-$dtype.txt" 2>&1
          note "ncu qdecode $dtype exit $?"
        fi
        [[ ${QDECODE_SECTIONS:-0} == 1 ]] || continue
        # Why the quantized GEMVs of layer 0 run where they do: throughput, stalls, occupancy.
        timeout 300 ncu --clock-control none --nvtx --nvtx-include decode_step/ --kernel-name regex:'_gemv_kernel' \
          --launch-count 6 --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
          --section Occupancy --section LaunchStats "$(bin ferrum-cuda-bench)" --model "$path" --prompt 16 --gen 4 \
          --reps 1 --profile-step > "$out/ncu-qdecode-sections-$dtype.txt" 2>&1
        note "ncu qdecode sections $dtype exit $?"
      done
      ;;
    serve)
      # A served model answers on the GPU (stories260K in f32: its greedy text is known).
      "$(bin src/ferrum)" serve "$bundle/fixtures/stories260K/stories260K.gguf" --device cuda --port 18080 -c 512 \
        > "$out/serve.log" 2>&1 &
      pid=$!
      sleep 5  # the bundle's libcurl shadows the system's: no curl here
      reply=$(env -u LD_LIBRARY_PATH python3 -c 'import json, urllib.request as u; print(u.urlopen(u.Request("http://127.0.0.1:18080/v1/completions", data=json.dumps({"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}).encode(), headers={"Content-Type": "application/json"})).read().decode())')
      note "serve --device cuda: $(echo "$reply" | head -c 300)"
      kill "$pid"
      wait "$pid" 2> /dev/null
      ;;
  esac
done
echo
echo "== summary"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
