#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "formats/inspect.h"

namespace ferrum::cli {

int run_inspect(int argc, char** argv) {
  constexpr std::string_view kUsage =
      "usage: ferrum inspect FILE|DIR|org/name [--revision R] [--no-tensors] [--max-array N]\n";
  InspectOptions options;
  std::string spec;
  std::string revision = "main";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--revision" && i + 1 < argc) {
      revision = argv[++i];
    } else if (arg == "--no-tensors") {
      options.show_tensors = false;
    } else if (arg == "--max-array" && i + 1 < argc) {
      options.max_array_elements = static_cast<size_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!arg.starts_with("-") && spec.empty()) {
      spec = arg;
    } else {
      std::cerr << "ferrum inspect: unexpected argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (spec.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  options.revision = revision;
  Status status = inspect_model(spec, std::cout, options);
  if (!status) {
    std::cerr << "ferrum inspect: " << status.error().to_string() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace ferrum::cli
