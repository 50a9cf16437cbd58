// The report of a `ferrum bench-serve` run: JSON for scripts, a markdown table per level for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bench/serve_load.h"
#include "bench/system_info.h"

namespace ferrum::bench {

nlohmann::ordered_json serve_report_json(const ServeBenchConfig& config, const ServeBenchResult& result,
                                         const SystemInfo& client);
std::string serve_report_markdown(const ServeBenchConfig& config, const ServeBenchResult& result,
                                  const SystemInfo& client);

}  // namespace ferrum::bench
