#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer + ASan + UBSan) and runs every fuzz target for about
# SECONDS / (number of targets) seconds each, starting from its seed corpus in tests/fuzz/corpus/<target>/.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60; CI runs `scripts/fuzz.sh 60`)
# A crash stops the run and leaves the input in build/fuzz/artifacts/; replay it with
#   build/fuzz/tests/fuzz/<target> build/fuzz/artifacts/<crash-file>
set -euo pipefail
cd "$(dirname "$0")/.."
total_seconds=${1:-60}
jobs=${FERRUM_FUZZ_BUILD_JOBS:-2}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz-all -j"$jobs"

build=build/fuzz
mkdir -p "$build/artifacts"
targets=$(find "$build/tests/fuzz" -maxdepth 1 -type f -name 'fuzz-*' -perm -u+x | sort)
[[ -n "$targets" ]] || { echo "fuzz: no targets were built" >&2; exit 1; }
per_target=$((total_seconds / $(wc -w <<<"$targets")))
((per_target >= 5)) || per_target=5

for target in $targets; do
  name=$(basename "$target")
  # libFuzzer adds what it finds to the first corpus directory; keep the repo's seeds untouched.
  work_corpus="$build/corpus/$name"
  mkdir -p "$work_corpus"
  seeds=()
  [[ -d "tests/fuzz/corpus/$name" ]] && seeds+=("tests/fuzz/corpus/$name")
  options=(-max_total_time="$per_target" -max_len=65536 -rss_limit_mb=2048 -timeout=10
           -artifact_prefix="$build/artifacts/$name-" -print_final_stats=1)
  [[ -f "tests/fuzz/$name.dict" ]] && options+=(-dict="tests/fuzz/$name.dict")
  echo "== $name: ${per_target}s"
  log="$build/$name.log"
  status=0
  "$target" "${options[@]}" "$work_corpus" "${seeds[@]}" >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus)' "$log" || true
  if ((status != 0)); then
    tail -n 60 "$log" >&2
    echo "fuzz: $name failed (exit $status); the input is in $build/artifacts/, the log in $log" >&2
    exit 1
  fi
done
echo "== fuzzing passed"
