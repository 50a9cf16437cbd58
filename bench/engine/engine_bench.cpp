// ferrum-engine-bench: offline throughput of the serving engine. N requests (random prompts of
// --prompt-len tokens, --new-tokens generated each, greedy unless --temperature is given (then
// seeded draws with --top-k / --top-p), with the penalties and top --logprobs asked for (all picked
// on the device unless --host-sampling), end-of-sequence ignored) are submitted at once and the
// engine steps until all are done; it reports output tokens per second overall and
// over the decode-only steps, the step times, and for the decode steps the weight bandwidth they
// reach (every step reads every weight once). With --baseline it also runs the same requests one
// at a time through the single-sequence path (what `ferrum run` does), for the batching speedup.
// With --shared-prefix N it measures prefix caching instead: the time to first token of a request
// whose N-token prompt prefix is new, then of one sharing that prefix (after a warm-up request).
//
//   ferrum-engine-bench [--model PATH | --random tiny|small|1b|8b] [--device cpu|cuda]
//                       [--requests 64] [--prompt-len 128] [--new-tokens 128] [--max-num-seqs N]
//                       [--max-num-batched-tokens 512] [--block-size 16] [--threads N] [--baseline]
//                       [--no-graphs] [--shared-prefix N] [--tensor-parallel-size N]
//                       [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]
//                       [--presence-penalty P] [--frequency-penalty F] [--logprobs N] [--host-sampling]
//                       [--kv-cache-dtype auto|bf16|fp8] [--warmup N]
// --warmup N runs N untimed rounds of as many requests (other random prompts) on the same engine
// first, so the timed round finds its decode graphs captured and its kernels loaded.
// With --tensor-parallel-size N the model is split over N processes of this binary (one per GPU;
// they start with the hidden first argument tp-worker), rank 0 running the engine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "engine/tensor_parallel_launch.h"
#include "random_llama.h"

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string model;
  std::string random = "tiny";
  std::string device = "cpu";
  size_t requests = 64;
  size_t prompt_len = 128;
  size_t new_tokens = 128;
  size_t max_num_seqs = 256;
  size_t max_num_batched_tokens = 512;
  size_t block_size = 16;
  size_t threads = 0;
  bool baseline = false;
  bool graphs = true;
  size_t shared_prefix = 0;
  size_t tensor_parallel_size = 1;
  SamplingParams sampling{.temperature = 0.0f};
  size_t top_logprobs = 0;
  bool logprobs = false;
  bool host_sampling = false;
  std::string kv_cache_dtype = "auto";
  size_t warmup = 0;
};

constexpr size_t kPrefixSuffixTokens = 16;  // each --shared-prefix request's own tokens after the prefix

bool parse(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    const auto number = [&] { return std::strtoull(argv[++i], nullptr, 10); };
    if (arg == "--model" && has_value) {
      flags.model = argv[++i];
    } else if (arg == "--random" && has_value) {
      flags.random = argv[++i];
    } else if (arg == "--device" && has_value) {
      flags.device = argv[++i];
    } else if (arg == "--requests" && has_value) {
      flags.requests = number();
    } else if (arg == "--prompt-len" && has_value) {
      flags.prompt_len = number();
    } else if (arg == "--new-tokens" && has_value) {
      flags.new_tokens = number();
    } else if (arg == "--max-num-seqs" && has_value) {
      flags.max_num_seqs = number();
    } else if (arg == "--max-num-batched-tokens" && has_value) {
      flags.max_num_batched_tokens = number();
    } else if (arg == "--block-size" && has_value) {
      flags.block_size = number();
    } else if (arg == "--threads" && has_value) {
      flags.threads = number();
    } else if (arg == "--baseline") {
      flags.baseline = true;
    } else if (arg == "--no-graphs") {
      flags.graphs = false;
    } else if (arg == "--shared-prefix" && has_value) {
      flags.shared_prefix = number();
    } else if (arg == "--tensor-parallel-size" && has_value) {
      flags.tensor_parallel_size = number();
    } else if (arg == "--temperature" && has_value) {
      flags.sampling.temperature = std::strtof(argv[++i], nullptr);
    } else if (arg == "--top-k" && has_value) {
      flags.sampling.top_k = static_cast<int>(number());
    } else if (arg == "--top-p" && has_value) {
      flags.sampling.top_p = std::strtof(argv[++i], nullptr);
    } else if (arg == "--repetition-penalty" && has_value) {
      flags.sampling.repetition_penalty = std::strtof(argv[++i], nullptr);
    } else if (arg == "--presence-penalty" && has_value) {
      flags.sampling.presence_penalty = std::strtof(argv[++i], nullptr);
    } else if (arg == "--frequency-penalty" && has_value) {
      flags.sampling.frequency_penalty = std::strtof(argv[++i], nullptr);
    } else if (arg == "--logprobs" && has_value) {
      flags.top_logprobs = number();
      flags.logprobs = true;
    } else if (arg == "--kv-cache-dtype" && has_value) {
      flags.kv_cache_dtype = argv[++i];
    } else if (arg == "--warmup" && has_value) {
      flags.warmup = number();
    } else if (arg == "--host-sampling") {
      flags.host_sampling = true;
    } else {
      std::fprintf(stderr, "unknown or incomplete argument %s (see the header of engine_bench.cpp)\n", arg.c_str());
      return false;
    }
  }
  if (flags.shared_prefix > 0) flags.prompt_len = flags.shared_prefix + kPrefixSuffixTokens;
  return flags.requests > 0 && flags.prompt_len > 0 && flags.new_tokens > 0;
}

// Through the same path as `ferrum serve` (create_model_on_device, split over processes of this
// binary with --tensor-parallel-size), so TP=1 and TP=N load the same way.
Expected<std::unique_ptr<CausalLm>> load(const Flags& flags, const ModelFiles& files, const std::string& path) {
  ModelRuntimeOptions runtime;
  runtime.max_context = flags.prompt_len + flags.new_tokens + flags.block_size;
  runtime.max_batch_tokens = flags.max_num_batched_tokens;
  ModelOptions model;
  model.model = path;
  model.device = flags.device;
  model.threads = flags.threads;
  model.parallel.tensor_parallel_size = flags.tensor_parallel_size;
  model.parallel.worker_command = {"/proc/self/exe", "tp-worker"};
  return load_causal_lm(files, path, model, runtime);
}

std::vector<std::vector<int32_t>> random_prompts(const Flags& flags, size_t vocab, uint64_t seed = 42) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int32_t>> prompts(flags.requests);
  for (auto& prompt : prompts) {
    prompt.resize(flags.prompt_len);
    for (int32_t& token : prompt) token = static_cast<int32_t>(rng() % vocab);
  }
  return prompts;
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// The counters of `now` less those of `before` (the sizes, such as the KV blocks, as they are now).
EngineStats counted_since(EngineStats now, const EngineStats& before) {
  now.prefix_cache_queries -= before.prefix_cache_queries;
  now.prefix_cache_hits -= before.prefix_cache_hits;
  now.preemptions -= before.preemptions;
  now.prompt_tokens -= before.prompt_tokens;
  now.generated_tokens -= before.generated_tokens;
  now.device_drawn_tokens -= before.device_drawn_tokens;
  now.steps -= before.steps;
  now.step_seconds -= before.step_seconds;
  now.model_seconds -= before.model_seconds;
  return now;
}

// One round: `prompts` submitted at once (ids from first_id) and stepped until all finish, with
// the decode-only steps timed apart (every running sequence generated one token, none admitted).
struct Round {
  size_t finished = 0;
  double total = 0;
  size_t steps = 0, decode_steps = 0, decode_tokens = 0;
  double decode_seconds = 0, decode_model_seconds = 0;
  std::vector<double> decode_step_ms;  // sorted
};

Expected<Round> run_round(EngineCore& core, const Flags& flags, const std::vector<std::vector<int32_t>>& prompts,
                          size_t first_id) {
  Round round;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest request;
    request.prompt = prompts[i];
    request.max_new_tokens = flags.new_tokens;
    request.ignore_eos = true;
    request.sampling = flags.sampling;
    request.sampling.seed = i;
    request.sampling.has_seed = true;
    request.logprobs = flags.logprobs;
    request.top_logprobs = flags.top_logprobs;
    FERRUM_TRY(core.add_request(first_id + i, std::move(request), [&](RequestEvent&& event) {
      if (event.finished) ++round.finished;
      if (event.error) std::fprintf(stderr, "request failed: %s\n", event.error->to_string().c_str());
    }));
  }
  const auto start = Clock::now();
  while (core.has_work()) {
    const EngineStats before = core.stats();
    const auto step_start = Clock::now();
    FERRUM_TRY(core.step());
    const double step_seconds = seconds(Clock::now() - step_start);
    const EngineStats after = core.stats();
    ++round.steps;
    const size_t generated = after.generated_tokens - before.generated_tokens;
    if (after.prompt_tokens == before.prompt_tokens && generated > 0 && before.waiting == 0) {
      ++round.decode_steps;
      round.decode_tokens += generated;
      round.decode_seconds += step_seconds;
      round.decode_model_seconds += after.model_seconds - before.model_seconds;
      round.decode_step_ms.push_back(step_seconds * 1e3);
    }
  }
  round.total = seconds(Clock::now() - start);
  std::sort(round.decode_step_ms.begin(), round.decode_step_ms.end());
  return round;
}

// Time to first token of one request run alone on `core`: it is added and the engine steps until
// its first token comes out; the rest of its generation then runs untimed. Returns seconds, and the
// prompt tokens the prefix cache served in `cached`.
Expected<double> time_to_first_token(EngineCore& core, RequestId id, std::vector<int32_t> prompt, size_t new_tokens,
                                     size_t& cached) {
  EngineRequest request;
  request.prompt = std::move(prompt);
  request.max_new_tokens = new_tokens;
  request.ignore_eos = true;
  request.sampling.temperature = 0;
  bool first_token = false;
  std::optional<Error> failure;
  const auto start = Clock::now();
  FERRUM_TRY(core.add_request(id, std::move(request), [&](RequestEvent&& event) {
    if (!event.tokens.empty()) first_token = true;
    if (event.finished) cached = event.cached_prompt_tokens;
    if (event.error) failure = event.error;
  }));
  double ttft = 0;
  while (core.has_work()) {
    FERRUM_TRY(core.step());
    if (first_token && ttft == 0) ttft = seconds(Clock::now() - start);
  }
  if (failure) return std::move(*failure);
  return ttft;
}

Expected<std::unique_ptr<EngineCore>> create_core(const Flags& flags, CausalLm& lm) {
  EngineOptions options;
  options.max_num_seqs = flags.max_num_seqs;
  options.max_num_batched_tokens = flags.max_num_batched_tokens;
  options.block_size = flags.block_size;
  options.enable_graphs = flags.graphs;
  options.device_sampling = !flags.host_sampling;
  options.kv_cache_dtype = flags.kv_cache_dtype;
  return EngineCore::create(lm, nullptr, {}, options);
}

int run_shared_prefix(const Flags& flags, CausalLm& lm) {
  auto core = create_core(flags, lm);
  if (!core) {
    std::fprintf(stderr, "%s\n", core.error().to_string().c_str());
    return 1;
  }
  std::mt19937_64 rng(11);
  const auto random_tokens = [&](size_t count) {
    std::vector<int32_t> tokens(count);
    for (int32_t& token : tokens) token = static_cast<int32_t>(rng() % lm.info().vocab_size);
    return tokens;
  };
  const std::vector<int32_t> prefix = random_tokens(flags.shared_prefix);
  const auto with_suffix = [&](const std::vector<int32_t>& head) {
    std::vector<int32_t> prompt = head;
    const std::vector<int32_t> suffix = random_tokens(kPrefixSuffixTokens);
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    return prompt;
  };
  // Warm-up: an unrelated prompt of the same length (first-use costs: cuBLAS plans, graph capture).
  size_t cached[3] = {};
  double ttft[3] = {};
  const std::vector<int32_t> prompts[3] = {with_suffix(random_tokens(flags.shared_prefix)), with_suffix(prefix),
                                           with_suffix(prefix)};
  for (size_t i = 0; i < 3; ++i) {
    auto measured = time_to_first_token(**core, i, prompts[i], flags.new_tokens, cached[i]);
    if (!measured) {
      std::fprintf(stderr, "%s\n", measured.error().to_string().c_str());
      return 1;
    }
    ttft[i] = *measured;
  }
  std::printf("device %s, %s; prompts of %zu tokens (%zu shared + %zu own), budget %zu tokens/step\n",
              lm.info().device.c_str(), lm.info().architecture.c_str(), flags.prompt_len, flags.shared_prefix,
              kPrefixSuffixTokens, flags.max_num_batched_tokens);
  std::printf(
      "time to first token: warm-up %.2f ms; new prefix %.2f ms (%zu cached); shared prefix %.2f ms (%zu "
      "cached); %.1fx shorter\n",
      ttft[0] * 1e3, ttft[1] * 1e3, cached[1], ttft[2] * 1e3, cached[2], ttft[1] / ttft[2]);
  return cached[2] >= flags.shared_prefix / flags.block_size * flags.block_size ? 0 : 1;
}

int run(const Flags& flags) {
  if (flags.threads > 0) set_default_thread_count(flags.threads);
  std::string path = flags.model;
  if (path.empty()) {
    auto shape = random_llama_shape(flags.random);
    if (!shape) {
      std::fprintf(stderr, "%s\n", shape.error().to_string().c_str());
      return 2;
    }
    path = (std::filesystem::temp_directory_path() / ("ferrum-random-llama-" + flags.random)).string();
    const auto start = Clock::now();
    if (Status written = write_random_llama(path, *shape, 7); !written) {
      std::fprintf(stderr, "writing the random model: %s\n", written.error().to_string().c_str());
      return 1;
    }
    std::printf("random llama '%s': %.1fM parameters, written in %.1f s to %s\n", flags.random.c_str(),
                static_cast<double>(shape->parameters()) / 1e6, seconds(Clock::now() - start), path.c_str());
  }
  auto files = open_model_files(path);
  if (!files) {
    std::fprintf(stderr, "%s\n", files.error().to_string().c_str());
    return 1;
  }
  auto model = load(flags, *files, path);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().to_string().c_str());
    return 1;
  }
  CausalLm& lm = **model;
  if (flags.shared_prefix > 0) return run_shared_prefix(flags, lm);
  const auto prompts = random_prompts(flags, lm.info().vocab_size);

  auto core = create_core(flags, lm);
  if (!core) {
    std::fprintf(stderr, "%s\n", core.error().to_string().c_str());
    return 1;
  }
  for (size_t round = 0; round < flags.warmup; ++round) {
    const auto warmup_prompts = random_prompts(flags, lm.info().vocab_size, 1000 + round);
    if (auto warm = run_round(**core, flags, warmup_prompts, (round + 1) * prompts.size()); !warm) {
      std::fprintf(stderr, "warm-up: %s\n", warm.error().to_string().c_str());
      return 1;
    }
  }
  const EngineStats stats_before = (*core)->stats();
  auto round = run_round(**core, flags, prompts, 0);
  if (!round) {
    std::fprintf(stderr, "%s\n", round.error().to_string().c_str());
    return 1;
  }
  const auto& [finished, total, steps, decode_steps, decode_tokens, decode_seconds, decode_model_seconds,
               decode_step_ms] = *round;
  const EngineStats stats = counted_since((*core)->stats(), stats_before);
  const double median_ms = decode_step_ms.empty() ? 0 : decode_step_ms[decode_step_ms.size() / 2];
  const double weight_gb = static_cast<double>(lm.info().weight_bytes) / 1e9;
  std::printf("device %s x %zu rank(s), %s (%zu layers, hidden %zu, vocab %zu, %.2f GB of weights per rank)\n",
              lm.info().device.c_str(), lm.info().tensor_parallel_size, lm.info().architecture.c_str(),
              lm.info().num_layers, lm.info().hidden_size, lm.info().vocab_size, weight_gb);
  std::printf(
      "%zu requests x (%zu prompt + %zu new) tokens; max_num_seqs %zu, budget %zu tokens/step, %zu KV blocks of %s, "
      "graphs %s\n",
      flags.requests, flags.prompt_len, flags.new_tokens, flags.max_num_seqs, flags.max_num_batched_tokens,
      stats.kv_blocks_total, std::string(dtype_name((*core)->options().kv_dtype)).c_str(),
      flags.graphs ? "allowed" : "off");
  std::printf("finished %zu / %zu in %.3f s over %zu steps (%zu preemptions)\n", finished, flags.requests, total, steps,
              static_cast<size_t>(stats.preemptions));
  if (flags.sampling.temperature > 0.0f || LogitAdjuster::adjusts(flags.sampling) || flags.logprobs) {
    const SamplingParams& p = flags.sampling;
    std::printf(
        "sampling: temperature %.2f, top_k %d, top_p %.2f, repetition %.2f, presence %.2f, frequency %.2f, "
        "logprobs %s (top %zu), picked on the %s; %zu tokens drawn on the device\n",
        static_cast<double>(p.temperature), p.top_k, static_cast<double>(p.top_p),
        static_cast<double>(p.repetition_penalty), static_cast<double>(p.presence_penalty),
        static_cast<double>(p.frequency_penalty), flags.logprobs ? "on" : "off", flags.top_logprobs,
        flags.host_sampling ? "host" : "device", static_cast<size_t>(stats.device_drawn_tokens));
  }
  std::printf("output throughput: %.1f tok/s overall (%zu tokens)\n",
              static_cast<double>(stats.generated_tokens) / total, static_cast<size_t>(stats.generated_tokens));
  std::printf("host share of step time: %.1f%% (%.3f s of %.3f s outside the model's forward)\n",
              100.0 * (1.0 - stats.model_seconds / stats.step_seconds), stats.step_seconds - stats.model_seconds,
              stats.step_seconds);
  if (decode_steps > 0) {
    const double batch = static_cast<double>(decode_tokens) / static_cast<double>(decode_steps);
    std::printf(
        "decode steps: %zu, mean batch %.1f, %.1f tok/s, median step %.3f ms, weights read at %.1f GB/s, "
        "host share %.1f%%\n",
        decode_steps, batch, static_cast<double>(decode_tokens) / decode_seconds, median_ms,
        weight_gb / (median_ms / 1e3), 100.0 * (1.0 - decode_model_seconds / decode_seconds));
  }

  if (flags.baseline) {
    // The same requests one at a time (at most 8, for time), through CausalLm::forward.
    const size_t count = std::min<size_t>(8, prompts.size());
    const auto baseline_start = Clock::now();
    size_t tokens = 0;
    for (size_t i = 0; i < count; ++i) {
      auto state = lm.new_sequence(flags.prompt_len + flags.new_tokens + 1);
      if (!state) return 1;
      std::vector<uint32_t> prompt(prompts[i].begin(), prompts[i].end());
      auto logits = lm.forward(**state, prompt);
      for (size_t t = 0; t < flags.new_tokens && logits; ++t, ++tokens) {
        const auto next = static_cast<uint32_t>(argmax(*logits));
        logits = lm.forward(**state, std::span(&next, 1));
      }
      if (!logits) {
        std::fprintf(stderr, "baseline: %s\n", logits.error().to_string().c_str());
        return 1;
      }
    }
    const double baseline = seconds(Clock::now() - baseline_start);
    std::printf("one at a time: %.1f tok/s (%zu requests); batching speedup %.1fx\n",
                static_cast<double>(tokens) / baseline, count,
                static_cast<double>(stats.generated_tokens) / total / (static_cast<double>(tokens) / baseline));
  }
  return finished == flags.requests ? 0 : 1;
}

}  // namespace
}  // namespace ferrum::bench

int main(int argc, char** argv) {
  // A tensor-parallel worker this binary started for itself: tp-worker --tp-master H:P --tp-rank R --tp-world N.
  if (argc == 8 && std::strcmp(argv[1], "tp-worker") == 0) {
    const ferrum::Status status = ferrum::run_tensor_parallel_worker(argv[3], std::strtoull(argv[5], nullptr, 10),
                                                                     std::strtoull(argv[7], nullptr, 10));
    if (!status) std::fprintf(stderr, "tp-worker: %s\n", status.error().to_string().c_str());
    return status ? 0 : 1;
  }
  ferrum::bench::Flags flags;
  if (!ferrum::bench::parse(argc, argv, flags)) return 2;
  return ferrum::bench::run(flags);
}
