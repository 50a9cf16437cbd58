#!/usr/bin/env bash
# One device-machine batch for tensor parallelism on 2 (or $TP) GPUs: TP=2 vs TP=1 logits and greedy
# continuations on the hf-tiny fixtures (CUDA, bf16), a rank killed mid-generation, and (stage
# bench) batch-1 decode on a Llama-3.1-8B-shaped checkpoint with random weights. Work files go to
# /tmp/tp-run; $OUT receives the summary, the comparisons and a tarball of every log.
#
# Usage (on the device machine, from the session checkout):  scripts/tp-device-run.sh BUNDLE [stages...]
# BUNDLE holds bin/ferrum (the CUDA build, FERRUM_NATIVE=OFF), lib/ (shared libraries the image may
# lack), fixtures/ (hf-tiny, stories260K) and scripts/ (tp_compare.py, make_llama8b.py).
# Stages: tests kill bench engine ferrumbench (default: tests kill bench). FIXTURES overrides the
# tests' list, TP the degree set against TP=1 (default 2; 4 or 8 on machines with that many GPUs).
# bench: `ferrum logits --greedy` at TP=1, TP=2 and TP=2 without decode graphs.
# engine: ferrum-engine-bench (bin/ferrum-engine-bench) on the bench stage's Llama-3.1-8B-shaped
# checkpoint (run bench first), 1 and 64 requests, TP=2 and TP=1, each with and without graphs, after
# one untimed round (so no graph is captured inside the timed one).
# ferrumbench: `ferrum bench` (prefill 512, decode 128 at batch 1 and 64) at TP=1 and TP=$TP.
set -uo pipefail
bundle=$(cd "${1:?bundle dir}" && pwd)
shift
stages=${*:-"tests kill bench"}
tp_size=${TP:-2}
results=${OUT:-tp-run-out}
out=/tmp/tp-run
mkdir -p "$out" "$results"
# NVLink multicast must stay off on these shared machines (ferrum sets it too, before NCCL starts).
export NCCL_NVLS_ENABLE=0
export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
ferrum="$bundle/bin/ferrum"
# The bundle may carry the binary and the libraries it links compressed (the carry limit).
unxz() { xz -d -f "$1" 2> /dev/null || python3 -c 'import lzma, sys; open(sys.argv[1][:-3], "wb").write(lzma.open(sys.argv[1]).read())' "$1"; }
for f in "$bundle"/bin/*.xz; do [[ -e $f ]] && unxz "$f"; done
chmod +x "$bundle"/bin/*
if ldd "$ferrum" | grep -q "not found" && [[ -f $bundle/libs.tar.xz ]]; then
  mkdir -p "$bundle/lib"
  tar -C "$bundle/lib" -xJf "$bundle/libs.tar.xz" 2> /dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle/libs.tar.xz" "$bundle/lib"
fi
ldd "$ferrum" | grep "not found" | tee "$out/missing-libs.txt"
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
nvidia-smi topo -m > "$out/topology.txt" 2>&1
# Each result goes to $results at once, so a run cut short still reports what it finished.
record() { echo "$1" | tee -a "$results/summary.txt"; }

for stage in $stages; do
  case $stage in
    tests)
      for name in ${FIXTURES:-llama3 qwen3 qwen2 mistral_swa gemma3 qwen3_moe deepseek_v3}; do
        model="$bundle/fixtures/hf-tiny/$name"
        ids=$(python3 -c "import json; print(','.join(map(str, json.load(open('$model/reference.json'))['input_ids'])))")
        for tp in 1 $tp_size; do
          timeout 60 "$ferrum" logits "$model" --device cuda --ids "$ids" --greedy 16 -tp "$tp" --out "$out/$name-tp$tp.safetensors" \
            > "$out/$name-tp$tp.log" 2>&1 || record "$name TP=$tp FAILED: $(tail -2 "$out/$name-tp$tp.log")"
        done
        python3 "$bundle/scripts/tp_compare.py" 0.05 "$name" "$out/$name-tp1.safetensors" "$out/$name-tp$tp_size.safetensors" \
          "$model/reference.safetensors" | tee -a "$results/compare.txt"
        record "$name TP=$tp_size compare exit ${PIPESTATUS[0]}"
      done
      ;;
    kill)
      # A worker (rank 1) killed while rank 0 is in the middle of decoding: rank 0 must exit with the reason.
      "$ferrum" run "$bundle/fixtures/stories260K/stories260K.gguf" --device cuda -tp "$tp_size" -p "Once upon a time" \
        -n 2000 --ignore-eos --temp 0 --raw > "$out/kill.out" 2> "$out/kill.err" &
      rank0=$!
      # Wait until tokens are streaming (the prompt is echoed first), so rank 0 is mid-decode.
      for _ in $(seq 600); do
        [[ $(stat -c %s "$out/kill.out" 2> /dev/null || echo 0) -gt 64 ]] && break
        sleep 0.05
      done
      worker=$(pgrep -P "$rank0" | head -1)
      start=$(date +%s.%N)
      kill -9 "$worker"
      wait "$rank0"
      code=$?
      end=$(date +%s.%N)
      record "kill: rank 0 exit $code $(python3 -c "print(f'{$end - $start:.2f}')") s after rank 1 was killed"
      record "kill: rank 0 said: $(grep -a 'error' "$out/kill.err" | tail -1)"
      ;;
    bench)
      [[ -f /tmp/llama8b/config.json ]] || timeout 240 "$ferrum" gen-model --preset llama3.1-8b --dtype bf16 /tmp/llama8b \
        --repeat-first-layer 2>&1 | tail -1
      for setting in "tp1 1 1" "tp2 2 1" "tp2-eager 2 0"; do
        read -r name tp graphs <<< "$setting"
        FERRUM_DECODE_GRAPHS=$graphs timeout 60 "$ferrum" logits /tmp/llama8b --device cuda \
          --ids 128000,791,1888,315,264,892 --greedy 65 -c 256 -tp "$tp" --show 0 > "$out/bench-$name.log" 2>&1
        record "8B bench $name: $(grep -a 'greedy decode' "$out/bench-$name.log" || tail -2 "$out/bench-$name.log")"
      done
      ;;
    engine)
      for requests in 1 64; do
        for setting in "tp2 --tensor-parallel-size 2" "tp2-eager --tensor-parallel-size 2 --no-graphs" "tp1-graphs" \
          "tp1-eager --no-graphs"; do
          name=${setting%% *}
          extra=${setting#"$name"}
          timeout 60 "$bundle/bin/ferrum-engine-bench" --device cuda --model /tmp/llama8b --requests "$requests" \
            --prompt-len 128 --new-tokens 64 --max-num-batched-tokens 2048 --warmup 1 $extra \
            > "$out/engine-$name-$requests.log" 2>&1
          record "engine 8B $name, $requests request(s): $(grep -a 'decode steps' "$out/engine-$name-$requests.log" ||
            tail -2 "$out/engine-$name-$requests.log")"
        done
      done
      ;;
    ferrumbench)
      for tp in 1 $tp_size; do
        timeout 300 "$ferrum" bench /tmp/llama8b --device cuda -p 512 -n 128 -b 1,64 -tp "$tp" \
          > "$out/ferrumbench-tp$tp.md" 2>&1
        record "ferrum bench TP=$tp:"
        grep -a "tg128\|pp512" "$out/ferrumbench-tp$tp.md" | tee -a "$results/summary.txt"
      done
      ;;
  esac
done
cp "$out/device.txt" "$results/"
tar -C "$out" -czf "$results/logs.tgz" --exclude='*.safetensors' .
echo
cat "$results/summary.txt"
