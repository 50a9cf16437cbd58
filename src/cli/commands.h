// The table of `ferrum` subcommands. Each command lives in its own cmd_*.cpp file and receives
// argv with the command name at argv[0].
#pragma once

#include <span>

namespace ferrum::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
  bool hidden = false;  // started by ferrum itself, not listed in the usage
};

std::span<const Command> commands();

int run_info(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_run(int argc, char** argv);
int run_serve(int argc, char** argv);
int run_logits(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_pull(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_detokenize(int argc, char** argv);
int run_render_chat(int argc, char** argv);
int run_embed(int argc, char** argv);
int run_transcribe(int argc, char** argv);
int run_tp_worker(int argc, char** argv);
int run_gen_model(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_bench_serve(int argc, char** argv);

}  // namespace ferrum::cli
