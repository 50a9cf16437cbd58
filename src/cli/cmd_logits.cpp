// `ferrum logits`: the logits of one forward pass over given token ids, printed or saved as
// safetensors: what the reference tests compare and what users debug with.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/model_bundle.h"
#include "formats/safetensors_writer.h"
#include "models/causal_lm_factory.h"

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
  ArgParser parser("ferrum logits", "MODEL --ids 1,2,3 [--out FILE.safetensors]");
  parser.positional("MODEL", &model.model, "a .gguf, a model directory or org/name in the HF cache", true);
  parser.option("--ids", &ids_text, "comma-separated token ids to run");
  parser.option("--out", &out_path, "write logits [tokens, vocab] (f32) and input_ids (i32) to a safetensors file");
  parser.option("--show", &show, "logits printed per token (default 8)");
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
    runtime.max_context = std::max(model.context, ids.size());
    runtime.max_batch_tokens = model.batch_tokens;
    FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> lm, create_model_on_device(files, model, runtime));
    FERRUM_ASSIGN_OR_RETURN(auto state, lm->new_sequence(ids.size()));
    FERRUM_ASSIGN_OR_RETURN(std::vector<float> logits, lm->forward_all(*state, ids));
    const size_t vocab = lm->info().vocab_size;
    if (out_path) {
      SafetensorsWriter writer;
      std::vector<int32_t> ids_i32(ids.begin(), ids.end());
      FERRUM_TRY(writer.add_tensor("input_ids",
                                   TensorView(ids_i32.data(), DType::kI32, Shape{static_cast<int64_t>(ids.size())})));
      FERRUM_TRY(writer.add_tensor("logits",
                                   TensorView(logits.data(), DType::kF32,
                                              Shape{static_cast<int64_t>(ids.size()), static_cast<int64_t>(vocab)})));
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
