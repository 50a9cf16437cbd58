// ferrum-op-test [--filter OP[,OP...]] [--list] [--quick] [--threads N]
// Runs every registered case (see op_test.h for how cases are judged), prints one table row per
// case and exits non-zero when any fails.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "core/thread_pool.h"
#include "op_test.h"

namespace {

using ferrum::op_test::CaseList;
using ferrum::op_test::CaseResult;
using ferrum::op_test::OpCase;

struct Options {
  std::set<std::string> ops;  // empty: all
  bool list = false;
  bool quick = false;
  size_t threads = 0;  // 0: one per core
};

void print_usage() {
  std::printf(
      "usage: ferrum-op-test [--filter OP[,OP...]] [--list] [--quick] [--threads N]\n"
      "  --filter   run only these ops (as listed by --list)\n"
      "  --list     print the cases instead of running them\n"
      "  --quick    leave out the heavy cases (used under the sanitizers)\n"
      "  --threads  size of the CPU backend's thread pool (default: one per core); odd counts\n"
      "             exercise uneven work splits\n");
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--list") {
      options.list = true;
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--threads" && i + 1 < argc) {
      options.threads = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--filter" && i + 1 < argc) {
      std::stringstream names(argv[++i]);
      for (std::string name; std::getline(names, name, ',');) options.ops.insert(name);
    } else {
      print_usage();
      return false;
    }
  }
  return true;
}

CaseList all_cases() {
  CaseList cases;
  ferrum::op_test::add_memory_cases(cases);
  ferrum::op_test::add_gemm_cases(cases);
  ferrum::op_test::add_quant_cases(cases);
  ferrum::op_test::add_norm_cases(cases);
  ferrum::op_test::add_attention_cases(cases);
  ferrum::op_test::add_layout_cases(cases);
  ferrum::op_test::add_im2col_cases(cases);
  ferrum::op_test::add_elementwise_cases(cases);
  ferrum::op_test::add_row_cases(cases);
  ferrum::op_test::add_sampling_cases(cases);
  ferrum::op_test::add_logit_cases(cases);
  ferrum::op_test::add_scatter_cases(cases);
  ferrum::op_test::add_paged_cases(cases);
  ferrum::op_test::add_half_activation_cases(cases);
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) return 2;
  if (options.threads != 0) ferrum::set_default_thread_count(options.threads);

  CaseList selected;
  for (OpCase& c : all_cases()) {
    if (!options.ops.empty() && !options.ops.contains(c.op)) continue;
    if (options.quick && c.heavy) continue;
    selected.push_back(std::move(c));
  }
  if (selected.empty()) {
    std::fprintf(stderr, "ferrum-op-test: no case matches the filter\n");
    return 2;
  }
  if (options.list) {
    for (const OpCase& c : selected) {
      std::printf("%-28s %-6s %-8s %s%s\n", c.op.c_str(), c.backend.c_str(), c.dtype.c_str(), c.name.c_str(),
                  c.heavy ? "  [heavy]" : "");
    }
    return 0;
  }

  int op_width = 2;
  int case_width = 4;
  for (const OpCase& c : selected) {
    op_width = std::max(op_width, static_cast<int>(c.op.size()));
    case_width = std::max(case_width, static_cast<int>(c.name.size()));
  }
  std::printf("%-*s %-5s %-*s %-6s %11s %11s  %s\n", op_width, "op", "back", case_width, "case", "dtype", "max_abs_err",
              "tolerance", "result");
  size_t failures = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const OpCase& c : selected) {
    const CaseResult result = c.run();
    char error[32] = "-";
    char tolerance[32] = "-";
    if (result.numeric) {
      std::snprintf(error, sizeof error, "%.3e", result.max_abs_error);
      std::snprintf(tolerance, sizeof tolerance, "%.3e", result.tolerance);
    }
    std::printf("%-*s %-5s %-*s %-6s %11s %11s  %s\n", op_width, c.op.c_str(), c.backend.c_str(), case_width,
                c.name.c_str(), c.dtype.c_str(), error, tolerance, result.passed ? "OK" : "FAIL");
    if (!result.passed) {
      ++failures;
      std::printf("    -> %s\n", result.detail.c_str());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\n%zu cases, %zu failed, %.1f s\n", selected.size(), failures, seconds);
  return failures == 0 ? 0 : 1;
}
