// `ferrum gen-model`: a random-weight model at the exact shapes of a real architecture, for
// benchmarks that need no download.
#include <unistd.h>

#include <cstdio>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "synth/gen_model.h"
#include "synth/model_presets.h"

namespace ferrum::cli {
namespace {

void print_presets() {
  std::printf("%-18s %12s  %s\n", "preset", "parameters", "architecture");
  for (const synth::ModelPreset& preset : synth::model_presets()) {
    const double parameters = static_cast<double>(synth::preset_parameter_count(preset));
    std::printf("%-18s %11.2f%c  %s\n", std::string(preset.name).c_str(),
                parameters >= 1e9 ? parameters / 1e9 : parameters / 1e6, parameters >= 1e9 ? 'B' : 'M',
                std::string(preset.description).c_str());
  }
}

}  // namespace

int run_gen_model(int argc, char** argv) {
  return report_errors("gen-model", [&]() -> Status {
    synth::GenModelOptions options;
    std::string out;
    std::optional<std::string> tokenizer;
    bool list = false;
    double shard_gb = 5.0;
    ArgParser parser("ferrum gen-model", "--preset NAME --dtype TYPE OUT");
    parser.positional("OUT", &out, "output: a directory (Hugging Face layout) or a file ending in .gguf", false);
    parser.option("--preset", &options.preset, "architecture shapes: " + synth::preset_names());
    parser.option("--dtype", &options.dtype,
                  "bf16 (default), f16, f32; Q8_0, Q4_K_M, Q5_K_M, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q3_K_M, Q2_K "
                  "(.gguf only); gptq-int4, awq-int4 (directory only)");
    parser.option("--tokenizer", &tokenizer,
                  "a real tokenizer.json (or its directory) to ship instead of a made-up byte-level BPE vocabulary");
    parser.option("--seed", &options.seed, "random seed (default 0): the same seed gives the same bytes");
    parser.option("-t,--threads", &options.threads, "threads generating and quantizing (default: all cores)");
    parser.option("--shard-gb", &shard_gb, "largest safetensors shard in GB (default 5, as transformers)");
    parser.flag("--repeat-first-layer", &options.repeat_first_layer,
                "make each layer tensor a byte copy of the first one of its type (much faster; speed benchmarks only)");
    parser.flag("--force", &options.force, "replace an existing output");
    parser.flag("--list", &list, "list the presets and exit");
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::fputs(parser.usage().c_str(), stdout);
      return ok();
    }
    if (list) {
      print_presets();
      return ok();
    }
    FERRUM_CHECK(!options.preset.empty(), ErrorCode::kInvalidArgument, "--preset is required (", synth::preset_names(),
                 ")");
    FERRUM_CHECK(!out.empty(), ErrorCode::kInvalidArgument, "missing OUT");
    FERRUM_CHECK(shard_gb > 0, ErrorCode::kInvalidArgument, "--shard-gb must be positive");
    options.out = out;
    if (tokenizer) options.tokenizer = *tokenizer;
    options.shard_bytes = static_cast<uint64_t>(shard_gb * 1e9);
    int last_percent = -1;
    FERRUM_ASSIGN_OR_RETURN(
        synth::GenModelResult result, synth::generate_model(options, [&](uint64_t done, uint64_t total) {
          const int percent = total ? static_cast<int>(100 * done / total) : 100;
          if (percent == last_percent) return;
          last_percent = percent;
          std::fprintf(stderr, "\rgen-model: %3d%% (%.2f / %.2f GB)", percent, done / 1e9, total / 1e9);
        }));
    std::fprintf(stderr, "\n");
    // Quantized output is bound by quantization (millions of parameters a second), not by bytes.
    const double seconds = result.seconds > 0 ? result.seconds : 1.0;
    std::printf(
        "wrote %s: %s, %zu tensors in %zu file(s), %.3f B parameters, %.3f GB in %.1f s (%.1f MB/s, "
        "%.1f M parameters/s)\n",
        result.path.string().c_str(), result.format.c_str(), result.tensors, result.shards,
        static_cast<double>(result.parameters) / 1e9, static_cast<double>(result.bytes) / 1e9, result.seconds,
        static_cast<double>(result.bytes) / 1e6 / seconds, static_cast<double>(result.parameters) / 1e6 / seconds);
    if (options.repeat_first_layer) {
      std::printf("--repeat-first-layer: %zu layer tensors are byte copies of an earlier layer's\n",
                  result.copied_tensors);
    }
    return ok();
  });
}

}  // namespace ferrum::cli
