// Converting the render context (messages, tools, extra kwargs) from JSON to template values.
#pragma once

#include <nlohmann/json.hpp>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

// null -> None, objects -> dicts in document order (nlohmann::ordered_json keeps it; plain json sorts
// keys, which changes what tojson prints), arrays -> lists. Fails on nesting deeper than
// kMaxValueDepth and on integers beyond 64 bits.
Expected<Value> value_from_json(const nlohmann::ordered_json& json);
Expected<Value> value_from_json(const nlohmann::json& json);

}  // namespace ferrum::chat
