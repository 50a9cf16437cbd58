// The filters over sequences and mappings (map, select, sort, join, ...). Internal to the filter
// table in filters.cpp.
#pragma once

#include <string_view>

#include "chat/value.h"
#include "core/error.h"

namespace ferrum::chat {

// Follows a dotted attribute path ("function.name", "items.0") with item-then-attribute lookup, as
// Jinja2's attribute= arguments do.
Expected<Value> lookup_attribute_path(Renderer& renderer, const Value& item, std::string_view path);

Expected<Value> filter_batch(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_dictsort(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_first(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_items(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_join(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_last(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_length(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_list(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_map(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_max(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_min(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_reject(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_rejectattr(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_reverse(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_select(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_selectattr(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_sort(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_sum(Renderer& renderer, const Value& input, CallArgs& args);
Expected<Value> filter_unique(Renderer& renderer, const Value& input, CallArgs& args);

}  // namespace ferrum::chat
