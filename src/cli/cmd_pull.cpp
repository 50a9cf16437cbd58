#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "formats/hub_pull.h"

namespace ferrum::cli {

int run_pull(int argc, char** argv) {
  constexpr std::string_view kUsage =
      "usage: ferrum pull org/name [--include PATTERN]... [--revision R] [--endpoint URL] [--cache-dir DIR]\n"
      "  downloads into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub);\n"
      "  HF_TOKEN authenticates, HF_ENDPOINT picks another hub; an interrupted pull resumes when rerun.\n";
  PullOptions options;
  options.progress = &std::cerr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--include" && has_value) {
      options.include.emplace_back(argv[++i]);
    } else if (arg == "--revision" && has_value) {
      options.revision = argv[++i];
    } else if (arg == "--endpoint" && has_value) {
      options.endpoint = argv[++i];
    } else if (arg == "--cache-dir" && has_value) {
      options.cache_dir = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!arg.starts_with("-") && options.repo.empty()) {
      options.repo = arg;
    } else {
      std::cerr << "ferrum pull: unexpected argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (options.repo.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  auto result = pull_model(options);
  if (!result) {
    std::cerr << "ferrum pull: " << result.error().to_string() << "\n";
    return 1;
  }
  std::cout << result->snapshot.string() << "\n";
  std::cerr << "pulled " << result->files.size() << " files (" << result->bytes_downloaded << " bytes downloaded) at "
            << result->commit << "\n";
  return 0;
}

}  // namespace ferrum::cli
