// The serving engine's picks on the GPU: stories260K (f32 on CUDA) serves a batch of requests with
// seeds, penalties, logit bias and log-probabilities twice, once picked on the device
// (adjust_logits, sample_rows / argmax_rows, log_softmax_at, inside the decode graphs) and once with
// the logits copied to the host sampler. Both runs see the same logits, so the tokens must agree and
// the log-probabilities must agree to f32 rounding. Skips when there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/engine_core.h"
#include "models/causal_lm_factory.h"

namespace ferrum {
namespace {

const std::filesystem::path kStories = std::filesystem::path(FERRUM_FIXTURES_DIR) / "stories260K";

struct Outcome {
  std::vector<int32_t> tokens;
  std::vector<TokenLogprob> chosen;
  std::vector<std::vector<TokenLogprob>> top;
  bool finished = false;
  uint64_t drawn_on_device = 0;
};

std::vector<EngineRequest> mixed_requests() {
  std::vector<EngineRequest> requests;
  const std::vector<int32_t> prompts[] = {
      {1, 403, 407, 261, 378}, {1, 365, 411}, {1, 401, 280, 263, 432, 350, 263}, {1, 297}};
  for (uint64_t seed : {1u, 2u, 3u}) {
    const SamplingParams samplings[] = {
        {.temperature = 1.0f, .seed = seed, .has_seed = true},
        {.temperature = 0.7f, .top_k = 30, .top_p = 0.9f, .seed = seed, .has_seed = true},
        {.temperature = 0.0f},
        {.temperature = 0.9f,
         .repetition_penalty = 1.3f,
         .presence_penalty = 0.4f,
         .frequency_penalty = 0.6f,
         .logit_bias = {{13, 2.5f}, {400, -100.0f}},
         .seed = seed,
         .has_seed = true},
        {.temperature = 0.0f, .repetition_penalty = 1.5f, .frequency_penalty = 1.0f},
    };
    for (const SamplingParams& sampling : samplings) {
      EngineRequest request;
      request.prompt = prompts[requests.size() % std::size(prompts)];
      request.sampling = sampling;
      request.max_new_tokens = 48;
      request.ignore_eos = true;
      request.logprobs = requests.size() % 2 == 0;
      request.top_logprobs = requests.size() % 3 == 1 ? 5 : 0;
      requests.push_back(std::move(request));
    }
  }
  return requests;
}

std::vector<Outcome> serve(CausalLm& model, bool device_sampling, uint64_t& drawn) {
  EngineOptions options;
  options.max_num_batched_tokens = 64;
  options.num_kv_blocks = 256;  // not sized from the card's free memory
  options.device_sampling = device_sampling;
  auto core = EngineCore::create(model, nullptr, {}, options);
  EXPECT_TRUE(core) << core.error().to_string();
  std::vector<EngineRequest> requests = mixed_requests();
  std::vector<Outcome> outcomes(requests.size());
  if (!core) return outcomes;
  for (size_t i = 0; i < requests.size(); ++i) {
    const Status added = (*core)->add_request(i, std::move(requests[i]), [&outcomes, i](RequestEvent&& event) {
      Outcome& out = outcomes[i];
      EXPECT_FALSE(event.error) << event.error->to_string();
      out.tokens.insert(out.tokens.end(), event.tokens.begin(), event.tokens.end());
      out.chosen.insert(out.chosen.end(), event.chosen_logprobs.begin(), event.chosen_logprobs.end());
      out.top.insert(out.top.end(), event.top_logprobs.begin(), event.top_logprobs.end());
      out.finished = out.finished || event.finished;
    });
    EXPECT_TRUE(added) << added.error().to_string();
  }
  while ((*core)->has_work()) {
    const Status stepped = (*core)->step();
    EXPECT_TRUE(stepped) << stepped.error().to_string();
    if (!stepped) break;
  }
  drawn = (*core)->stats().device_drawn_tokens;
  return outcomes;
}

TEST(CudaEngine, DevicePicksMatchTheHostSampler) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) GTEST_SKIP() << "no CUDA device";
  auto files = open_model_files((kStories / "stories260K.gguf").string());
  ASSERT_TRUE(files) << files.error().to_string();
  auto model =
      create_cuda_causal_lm(*files, {.max_context = 256, .max_batch_tokens = 64, .compute_dtype = DType::kF32});
  ASSERT_TRUE(model) << model.error().to_string();

  uint64_t drawn_device = 0, drawn_host = 0;
  const std::vector<Outcome> device = serve(**model, true, drawn_device);
  const std::vector<Outcome> host = serve(**model, false, drawn_host);
  EXPECT_GT(drawn_device, 200u);
  EXPECT_EQ(drawn_host, 0u);
  float worst = 0.0f;
  size_t compared = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    EXPECT_TRUE(device[i].finished && host[i].finished) << "request " << i;
    EXPECT_EQ(device[i].tokens, host[i].tokens) << "request " << i;
    ASSERT_EQ(device[i].chosen.size(), host[i].chosen.size()) << "request " << i;
    ASSERT_EQ(device[i].top.size(), host[i].top.size()) << "request " << i;
    for (size_t t = 0; t < host[i].chosen.size(); ++t) {
      worst = std::max(worst, std::fabs(device[i].chosen[t].logprob - host[i].chosen[t].logprob));
      ++compared;
    }
    for (size_t t = 0; t < host[i].top.size(); ++t) {
      ASSERT_EQ(device[i].top[t].size(), host[i].top[t].size());
      for (size_t k = 0; k < host[i].top[t].size(); ++k) {
        EXPECT_EQ(device[i].top[t][k].token, host[i].top[t][k].token) << "request " << i << " token " << t;
        worst = std::max(worst, std::fabs(device[i].top[t][k].logprob - host[i].top[t][k].logprob));
      }
    }
  }
  std::printf("[cuda f32 ] engine picks: %zu chosen log-probabilities, worst |device - host| = %.3g\n", compared,
              worst);
  EXPECT_GT(compared, 300u);
  EXPECT_LE(worst, 1e-4f);
}

}  // namespace
}  // namespace ferrum
