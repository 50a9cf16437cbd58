// Why a generation ended.
#pragma once

#include <string_view>

namespace ferrum {

enum class FinishReason { kStop, kLength, kCancelled, kContextFull };

// "stop", "length", "cancelled", "context_full"
std::string_view finish_reason_name(FinishReason reason);

}  // namespace ferrum
