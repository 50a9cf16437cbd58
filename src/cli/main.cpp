// `ferrum` command-line entry: dispatches the first argument to a subcommand.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/commands.h"

namespace {

void print_usage() {
  std::fputs(
      "usage: ferrum <command> [options]\n"
      "\n"
      "commands:\n",
      stderr);
  for (const ferrum::cli::Command& command : ferrum::cli::commands()) {
    if (!command.hidden) std::fprintf(stderr, "  %-12s %s\n", command.name, command.summary);
  }
  std::fputs("\nrun `ferrum <command> --help` for a command's options\n", stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string_view name = argv[1];
  for (const ferrum::cli::Command& command : ferrum::cli::commands()) {
    if (name == command.name) return command.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "ferrum: unknown command '%s'\n\n", argv[1]);
  print_usage();
  return 2;
}
