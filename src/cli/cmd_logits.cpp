// `ferrum logits`: the logits of one forward pass over given token ids, printed or saved as
// safetensors: what the reference tests compare and what users debug with.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/model_bundle.h"
#include "engine/tensor_parallel_launch.h"
#include "formats/safetensors_writer.h"

namespace ferrum::cli {
namespace {

Expected<std::vector<uint32_t>> parse_ids(const std::string& text) {
  std::vector<uint32_t> ids;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    FERRUM_CHECK(!item.empty() && item.find_first_not_of("0123456789 ") == std::string::npos,
                 ErrorCode::kInvalidArgument, "--ids: '", item, "' is not a token id");
    ids.push_back(static_cast<uint32_t>(std::stoul(item)));
  }
  FERRUM_CHECK(!ids.empty(), ErrorCode::kInvalidArgument, "--ids: no token ids given");
  return ids;
}

}  // namespace

int run_logits(int argc, char** argv) {
  ModelOptions model;
  std::string ids_text;
  std::optional<std::string> out_path;
  size_t show = 8;
  size_t greedy = 0;
  ArgParser parser("ferrum logits", "MODEL --ids 1,2,3 [--out FILE.safetensors]");
  parser.positional("MODEL", &model.model, "a .gguf, a model directory or org/name in the HF cache", true);
  parser.option("--ids", &ids_text, "comma-separated token ids to run");
  parser.option("--out", &out_path, "write logits [tokens, vocab] (f32) and input_ids (i32) to a safetensors file");
  parser.option("--show", &show, "logits printed per token (default 8)");
  parser.option("--greedy", &greedy, "then continue greedily for N tokens and print them (saved as greedy_ids)");
  register_model_flags(parser, model);
  return report_errors("logits", [&]() -> Status {
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::cout << parser.usage();
      return ok();
    }
    FERRUM_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, parse_ids(ids_text));
    FERRUM_ASSIGN_OR_RETURN(ModelFiles files, open_model_files(model.model));
    ModelRuntimeOptions runtime;
    runtime.max_context = std::max(model.context, ids.size() + greedy);
    runtime.max_batch_tokens = model.batch_tokens;
    FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, load_causal_lm(files, model.model, model, runtime));
    FERRUM_ASSIGN_OR_RETURN(auto state, lm->new_sequence(ids.size()));
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> logits, lm->forward_all(*state, ids));
    const size_t vocab = lm->info().vocab_size;
    // The greedy continuation: cached decode, one token per step, argmax (lowest id on ties).
    std::vector<int32_t> continuation;
    if (greedy > 0) {
      FERRUM_ASSIGN_OR_RETURN(auto sequence, lm->new_sequence(ids.size() + greedy));
      FERRUM_ASSIGN_OR_RETURN(std::span<const float> row, lm->forward(*sequence, ids));
      const auto decode_start = std::chrono::steady_clock::now();
      for (size_t step = 0; step < greedy; ++step) {
        const auto next = static_cast<uint32_t>(std::max_element(row.begin(), row.end()) - row.begin());
        continuation.push_back(static_cast<int32_t>(next));
        if (step + 1 == greedy) break;
        FERRUM_ASSIGN_OR_RETURN(row, lm->forward(*sequence, std::span(&next, 1)));
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - decode_start).count();
      if (greedy > 1) {
        // Decode steps only (the prompt's forward is excluded): one token per step, batch 1.
        std::fprintf(stderr, "greedy decode: %zu steps in %.3f s, %.2f ms/token, %.1f tok/s (%s, %zu rank(s))\n",
                     greedy - 1, seconds, 1e3 * seconds / double(greedy - 1), double(greedy - 1) / seconds,
                     lm->info().device.c_str(), lm->info().tensor_parallel_size);
      }
      std::printf("greedy:");
      for (int32_t id : continuation) std::printf(" %d", id);
      std::printf("\n");
    }
    if (out_path) {
      SafetensorsWriter writer;
      std::vector<int32_t> ids_i32(ids.begin(), ids.end());
      FERRUM_TRY(writer.add_tensor("input_ids",
                                   TensorView(ids_i32.data(), DType::kI32, Shape{static_cast<int64_t>(ids.size())})));
      FERRUM_TRY(writer.add_tensor("logits",
                                   TensorView(logits.data(), DType::kF32,
                                              Shape{static_cast<int64_t>(ids.size()), static_cast<int64_t>(vocab)})));
      if (!continuation.empty()) {
        FERRUM_TRY(writer.add_tensor("greedy_ids", TensorView(continuation.data(), DType::kI32,
                                                              Shape{static_cast<int64_t>(continuation.size())})));
      }
      FERRUM_TRY(writer.write(*out_path));
      std::fprintf(stderr, "wrote logits [%zu, %zu] to %s\n", ids.size(), vocab, out_path->c_str());
      return ok();
    }
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* row = logits.data() + t * vocab;
      const size_t best = static_cast<size_t>(std::max_element(row, row + vocab) - row);
      std::printf("token %zu (id %u): argmax %zu (%.6f) |", t, ids[t], best, row[best]);
      for (size_t i = 0; i < std::min(show, vocab); ++i) std::printf(" %.6f", row[i]);
      std::printf("\n");
    }
    return ok();
  });
}

}  // namespace ferrum::cli
