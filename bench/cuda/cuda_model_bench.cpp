// ferrum-cuda-bench: how fast a model (a safetensors directory or a GGUF file) loads, prefills and
// decodes on the GPU, with what each figure means physically: decode as achieved GB/s of weights
// (+ KV cache) read per token against the card's measured copy bandwidth, prefill as TFLOP/s
// against dense bf16 peak.
//
//   ferrum-cuda-bench --model DIR [--generate] [--prompt 512] [--gen 128] [--dtype bf16|f32]
//                     [--reps 3] [--profile-step]
//
// --generate writes a random Llama-3.1-8B checkpoint to DIR first when DIR has none
// (random_llama_checkpoint.h). Decode is greedy (argmax on the device), the first decode step
// (which captures the CUDA graph) is left out of the timing. Output: a table, and RESULT lines
// for scripts. FERRUM_DECODE_GRAPHS=0 / FERRUM_CUDA_PDL=0 / FERRUM_CUDA_PREFETCH=N switch the
// decode machinery for comparisons. --profile-step runs one more decode step inside the NVTX range
// "decode_step" (for `ncu --nvtx --nvtx-include decode_step/`) and the prefill inside "prefill".
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "models/causal_lm_factory.h"
#include "random_llama_checkpoint.h"

#include "device_copy.h"

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Args {
  std::string model;
  bool generate = false;
  size_t prompt = 512;
  size_t gen = 128;
  std::string dtype = "bf16";
  size_t reps = 3;
  bool profile_step = false;
};

Expected<Args> parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (flag == "--model") {
      args.model = value();
    } else if (flag == "--generate") {
      args.generate = true;
    } else if (flag == "--prompt") {
      args.prompt = std::strtoul(value(), nullptr, 10);
    } else if (flag == "--gen") {
      args.gen = std::strtoul(value(), nullptr, 10);
    } else if (flag == "--dtype") {
      args.dtype = value();
    } else if (flag == "--reps") {
      args.reps = std::strtoul(value(), nullptr, 10);
    } else if (flag == "--profile-step") {
      args.profile_step = true;
    } else {
      return make_error(ErrorCode::kInvalidArgument, "unknown flag ", flag,
                        " (--model DIR [--generate] [--prompt N] [--gen N] [--dtype bf16|f32] [--reps N] "
                        "[--profile-step])");
    }
  }
  FERRUM_CHECK(!args.model.empty() && args.prompt > 0 && args.gen > 1 && args.reps > 0, ErrorCode::kInvalidArgument,
               "--model is required; --prompt, --gen > 1 and --reps must be positive");
  return args;
}

Status run(const Args& args) {
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("device: %s, %d SMs, %.0f GiB, driver API %d, runtime %d\n", prop.name, prop.multiProcessorCount,
              static_cast<double>(prop.totalGlobalMem) / (1u << 30), driver, runtime);
  const char* pdl = std::getenv("FERRUM_CUDA_PDL");
  const char* graphs = std::getenv("FERRUM_DECODE_GRAPHS");
  const char* prefetch = std::getenv("FERRUM_CUDA_PREFETCH");
  std::printf("settings: graphs=%s pdl=%s prefetch=%s dtype=%s\n", graphs ? graphs : "1", pdl ? pdl : "1",
              prefetch ? prefetch : "default", args.dtype.c_str());
  const double copy_gbps = measure_copy_gbps();
  std::printf("device copy bandwidth: %.0f GB/s (read + write)\n", copy_gbps);

  const std::filesystem::path dir = args.model;
  if (args.generate && !std::filesystem::exists(dir / "model.safetensors")) {
    const auto start = Clock::now();
    FERRUM_ASSIGN_OR_RETURN(size_t bytes, write_random_llama(dir, RandomLlamaShape{}));
    const double took = seconds_since(start);
    std::printf("generated %s: %.2f GB in %.1f s\n", dir.c_str(), bytes / 1e9, took);
  }
  // A GGUF file, or a directory holding model.safetensors.
  const std::filesystem::path weights_file = std::filesystem::is_directory(dir) ? dir / "model.safetensors" : dir;
  std::error_code size_error;
  const size_t file_bytes = std::filesystem::file_size(weights_file, size_error);
  FERRUM_CHECK(!size_error, ErrorCode::kNotFound, "no weights at ", weights_file.string(), ": ", size_error.message());

  ModelRuntimeOptions options;
  options.max_context = args.prompt + args.gen;
  options.max_batch_tokens = args.prompt;
  options.compute_dtype = args.dtype == "f32" ? DType::kF32 : DType::kBF16;
  const auto load_start = Clock::now();
  FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(dir.string()));
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, create_cuda_causal_lm(files, options));
  const double load_s = seconds_since(load_start);
  const CausalLmInfo& info = model->info();
  std::printf("loaded %s in %.2f s (%.1f GB/s from the file); weights read per token %.2f GB\n",
              info.architecture.c_str(), load_s, file_bytes / load_s / 1e9, info.weight_bytes / 1e9);

  // Prompt tokens: a fixed pseudo-random sequence.
  std::vector<uint32_t> prompt(args.prompt);
  uint32_t x = 12345;
  for (uint32_t& token : prompt) {
    x = x * 1664525u + 1013904223u;
    token = (x >> 8) % static_cast<uint32_t>(info.vocab_size);
  }
  FERRUM_ASSIGN_OR_RETURN(auto state, model->new_sequence(args.prompt + args.gen));

  // Prefill: one warm-up (cuBLASLt plans, scratch growth), then timed repetitions.
  std::vector<double> prefill_s;
  for (size_t rep = 0; rep <= args.reps; ++rep) {
    state->truncate(0);
    const auto start = Clock::now();
    FERRUM_ASSIGN_OR_RETURN(uint32_t first, model->forward_greedy(*state, prompt));
    (void)first;
    if (rep > 0) prefill_s.push_back(seconds_since(start));
  }
  const double prefill = median(prefill_s);

  // Decode: greedy steps after the prompt; step 1 (graph capture) untimed.
  std::vector<double> decode_s;
  uint32_t last_token = 0;
  for (size_t rep = 0; rep < args.reps; ++rep) {
    state->truncate(0);
    FERRUM_ASSIGN_OR_RETURN(uint32_t next, model->forward_greedy(*state, prompt));
    FERRUM_ASSIGN_OR_RETURN(next, model->forward_greedy(*state, std::span(&next, 1)));
    const auto start = Clock::now();
    for (size_t step = 1; step < args.gen; ++step) {
      FERRUM_ASSIGN_OR_RETURN(next, model->forward_greedy(*state, std::span(&next, 1)));
    }
    decode_s.push_back(seconds_since(start));
    last_token = next;
  }
  const double decode = median(decode_s);
  if (args.profile_step) {
    state->truncate(0);
    nvtxRangePushA("prefill");
    FERRUM_ASSIGN_OR_RETURN(uint32_t next, model->forward_greedy(*state, prompt));
    nvtxRangePop();
    FERRUM_ASSIGN_OR_RETURN(next, model->forward_greedy(*state, std::span(&next, 1)));
    nvtxRangePushA("decode_step");
    FERRUM_ASSIGN_OR_RETURN(next, model->forward_greedy(*state, std::span(&next, 1)));
    nvtxRangePop();
  }
  const double decode_tps = static_cast<double>(args.gen - 1) / decode;

  // Physical meaning. Decode reads every weight once per token plus the KV cache so far.
  const double avg_kv_tokens = static_cast<double>(args.prompt) + args.gen / 2.0;
  const double kv_bytes = avg_kv_tokens * static_cast<double>(info.kv_bytes_per_token);
  const double bytes_per_token = static_cast<double>(info.weight_bytes) + kv_bytes;
  const double decode_gbps = bytes_per_token * decode_tps / 1e9;
  const double bound_tps = copy_gbps * 1e9 / bytes_per_token;
  // Prefill flops: 2 per weight per token for the layers (lm_head runs for the last token only),
  // plus causal attention (QK^T and PV: 4 * head_dim per visible pair per head).
  const RandomLlamaShape s;
  const double layer_params = static_cast<double>(s.hidden) * (s.heads + 2 * s.kv_heads) * s.head_dim +
                              static_cast<double>(s.heads) * s.head_dim * s.hidden + 3.0 * s.hidden * s.intermediate;
  const double n = static_cast<double>(args.prompt);
  const double attention_flops = s.layers * s.heads * 4.0 * s.head_dim * n * (n + 1) / 2;
  const double prefill_flops = 2.0 * n * s.layers * layer_params + 2.0 * s.vocab * s.hidden + attention_flops;
  const double prefill_tflops = prefill_flops / prefill / 1e12;
  constexpr double kPeakTflops = 800.0;  // dense bf16, measured on this card kind (KINDS.md)

  std::printf("\n| measure | value | physical |\n|---|---:|---|\n");
  std::printf("| load | %.2f s | %.1f GB/s from the page cache |\n", load_s, file_bytes / load_s / 1e9);
  std::printf("| prefill %zu | %.1f ms = %.0f tok/s | %.0f TFLOP/s = %.1f%% of %.0f |\n", args.prompt, prefill * 1e3,
              n / prefill, prefill_tflops, 100 * prefill_tflops / kPeakTflops, kPeakTflops);
  std::printf(
      "| decode %zu (after %zu) | %.3f ms/token = %.1f tok/s | %.0f GB/s = %.1f%% of %.0f GB/s copy "
      "(bound %.0f tok/s) |\n",
      args.gen, args.prompt, 1e3 / decode_tps, decode_tps, decode_gbps, 100 * decode_gbps / copy_gbps, copy_gbps,
      bound_tps);
  std::printf(
      "RESULT load_s=%.3f prefill_ms=%.3f prefill_tps=%.0f prefill_tflops=%.1f decode_tps=%.2f decode_gbps=%.0f "
      "copy_gbps=%.0f last_token=%u\n",
      load_s, prefill * 1e3, n / prefill, prefill_tflops, decode_tps, decode_gbps, copy_gbps, last_token);
  return ok();
}

}  // namespace
}  // namespace ferrum::bench

int main(int argc, char** argv) {
  auto args = ferrum::bench::parse(argc, argv);
  if (!args) {
    std::fprintf(stderr, "ferrum-cuda-bench: %s\n", args.error().to_string().c_str());
    return 2;
  }
  ferrum::Status status = ferrum::bench::run(*args);
  if (!status) {
    std::fprintf(stderr, "ferrum-cuda-bench: %s\n", status.error().to_string().c_str());
    return 1;
  }
  return 0;
}
