// `ferrum quantize IN OUT --type T`: a GGUF file from a GGUF file or a Hugging Face directory,
// stored as a quantization recipe says, with a progress bar on stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "models/quantize_model.h"

namespace ferrum::cli {
namespace {

// One line redrawn in place on a terminal; on a pipe, one line per tensor.
class ProgressBar {
 public:
  ProgressBar() : terminal_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()) {}

  void update(const QuantizeProgress& progress) {
    const double fraction = progress.values_total
                                ? static_cast<double>(progress.values_done) / static_cast<double>(progress.values_total)
                                : 1.0;
    if (!terminal_) {
      if (progress.tensor != last_tensor_) {
        std::fprintf(stderr, "[%zu/%zu] %s -> %s\n", progress.tensor + 1, progress.tensors, progress.name.c_str(),
                     std::string(dtype_name(progress.type)).c_str());
        last_tensor_ = progress.tensor;
      }
      return;
    }
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r[%.*s%*s] %5.1f%% %6.1fs  %zu/%zu %-40.40s %-6s", filled, "##############################",
                 kWidth - filled, "", 100.0 * fraction, seconds, progress.tensor + 1, progress.tensors,
                 progress.name.c_str(), std::string(dtype_name(progress.type)).c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (terminal_) std::fputc('\n', stderr);
  }

 private:
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  size_t last_tensor_ = static_cast<size_t>(-1);
};

}  // namespace

int run_quantize(int argc, char** argv) {
  return report_errors("quantize", [&]() -> Status {
    std::string input, output, type;
    size_t threads = 0;
    ArgParser parser("ferrum quantize", "IN OUT --type TYPE [--threads N]");
    parser.positional("IN", &input, "a .gguf file or a Hugging Face model directory (safetensors + config.json)", true);
    parser.positional("OUT", &output, "the .gguf file to write", true);
    parser.option("--type", &type, "Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q3_K_M, Q2_K, F16 or BF16");
    parser.option("-t,--threads", &threads, "threads quantizing (default: every core)");
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::fputs(parser.usage().c_str(), stdout);
      return ok();
    }
    FERRUM_CHECK(!type.empty(), ErrorCode::kInvalidArgument, "--type is required");
    QuantizeOptions options;
    options.input = input;
    options.output = output;
    options.threads = threads;
    FERRUM_ASSIGN_OR_RETURN(options.recipe, quant::parse_quant_recipe(type));
    ProgressBar bar;
    options.progress = [&bar](const QuantizeProgress& progress) { bar.update(progress); };
    const auto start = std::chrono::steady_clock::now();
    Expected<QuantizeReport> report = quantize_model(options);
    bar.finish();
    if (!report) return std::move(report).error();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s: %s, %zu tensors, %.1f MiB -> %.1f MiB of tensor data in %.1f s%s\n", output.c_str(),
                report->architecture.c_str(), report->tensors, static_cast<double>(report->input_bytes) / 1048576.0,
                static_cast<double>(report->output_bytes) / 1048576.0, seconds,
                report->wrote_tokenizer ? "" : " (no tokenizer: none found beside the weights)");
    for (const auto& [dtype, count] : report->tensors_per_type) {
      std::printf("  %-6s %zu tensors\n", std::string(dtype_name(dtype)).c_str(), count);
    }
    return ok();
  });
}

}  // namespace ferrum::cli
