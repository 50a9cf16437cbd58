// Build identification printed by `ferrum info` and in benchmark headers.
#pragma once

namespace ferrum {

const char* ferrum_version();     // "0.1.0"
const char* ferrum_git_commit();  // short hash of the source tree at configure time, or "unknown"
const char* ferrum_build_flags();  // build type and the CPU features compiled in

}  // namespace ferrum
