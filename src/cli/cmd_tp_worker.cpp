// `ferrum tp-worker`: one rank of a tensor-parallel group, started by rank 0 (or by another host's
// first rank) with the hidden flags below. Everything else (the model, the device, the limits)
// comes from rank 0 over the group's connection, so every rank loads the same thing.
#include <csignal>
#include <iostream>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "engine/tensor_parallel_launch.h"

namespace ferrum::cli {

int run_tp_worker(int argc, char** argv) {
  std::string master;
  size_t rank = 0;
  size_t world_size = 0;
  ArgParser parser("ferrum tp-worker", "--tp-master HOST:PORT --tp-rank R --tp-world N");
  parser.option("--tp-master", &master, "where rank 0 listens");
  parser.option("--tp-rank", &rank, "this process's rank");
  parser.option("--tp-world", &world_size, "ranks in the group");
  return report_errors("tp-worker", [&]() -> Status {
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::cout << parser.usage();
      return ok();
    }
    FERRUM_CHECK(!master.empty() && world_size > 1, ErrorCode::kInvalidArgument,
                 "tp-worker is started by ferrum itself (see --tensor-parallel-size)");
    // Ctrl-C in a terminal reaches the whole process group: it is rank 0's to handle (it stops a
    // reply there). A worker ends when rank 0 shuts the group down or dies.
    std::signal(SIGINT, SIG_IGN);
    Status status = run_tensor_parallel_worker(master, rank, world_size);
    if (!status) return std::move(status).error().with_context(cat("rank ", rank));
    return ok();
  });
}

}  // namespace ferrum::cli
