// `ferrum info`: what this build is and what it can run on.
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "core/version.h"

namespace ferrum::cli {

int run_info(int /*argc*/, char** /*argv*/) {
  std::printf("ferrum %s (commit %s)\n", ferrum_version(), ferrum_git_commit());
  std::printf("build:    %s\n", ferrum_build_flags());
  std::printf("threads:  %u hardware threads\n", std::thread::hardware_concurrency());
  std::printf("backends: cpu%s\n",
#ifdef FERRUM_HAS_CUDA
              " cuda"
#else
              ""
#endif
  );
  return 0;
}

}  // namespace ferrum::cli
