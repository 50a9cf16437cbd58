#!/usr/bin/env bash
# The whole test suite: release build + every test, the op tests under ASan/UBSan, short fuzz runs.
# Usage: scripts/test.sh [--quick]   (--quick skips the sanitizer and fuzz stages)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

echo "== release build and tests"
# The server's end-to-end suite drives `ferrum serve` with the official openai npm package.
if command -v npm >/dev/null; then
  (cd tests/server_e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
cmake --preset cpu >/dev/null
cmake --build --preset cpu
ctest --preset cpu --timeout 1200

if ((quick)); then exit 0; fi

# The op tests, the parsers of untrusted input (model files, vocabularies, templates) and the server
# (HTTP parser, grammar, event plumbing) run again under AddressSanitizer + UndefinedBehaviorSanitizer;
# building everything twice would not fit CI. The targets are the tests labelled "sanitize".
echo "== sanitizer build (ASan + UBSan): op tests, input parsers, server"
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize --target ferrum-op-test test-formats test-tokenizer test-chat test-server
ctest --preset sanitize --timeout 1800 -L sanitize

# CPUs without AVX-512 run other kernels (AVX2 panel GEMM, AVX2 row dots): build those for
# -march=haswell and run the quantized GEMM op tests and the quant unit tests with them.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
  echo "== AVX2 build: quantized GEMM op tests, quant unit tests"
  cmake --preset avx2 >/dev/null
  cmake --build --preset avx2 --target ferrum-op-test test-quant
  build/avx2/tests/op_test/ferrum-op-test --filter gemm_quant,gemm_gptq
  build/avx2/tests/test-quant
fi

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing"
  scripts/fuzz.sh 60
fi
echo "== all tests passed"
