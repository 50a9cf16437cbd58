#include "cli/commands.h"

#include <array>

namespace ferrum::cli {

std::span<const Command> commands() {
  static constexpr std::array kCommands = {
      Command{"info", "print the build, the compiled backends and the CPU, and run a smoke test", run_info},
  };
  return kCommands;
}

}  // namespace ferrum::cli
