// Entry points of the `inspect` and `pull` subcommands; main() dispatches to them with the
// arguments that follow the subcommand name (argv[0] is the subcommand itself).
#pragma once

namespace ferrum::cli {

// ferrum inspect FILE|DIR|org/name [--revision R] [--no-tensors] [--max-array N]
int run_inspect(int argc, char** argv);
// ferrum pull org/name [--include PATTERN]... [--revision R] [--endpoint URL] [--cache-dir DIR]
int run_pull(int argc, char** argv);

}  // namespace ferrum::cli
