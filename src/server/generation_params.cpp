#include "server/generation_params.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace ferrum::server {

std::optional<ApiError> reject_unsupported_fields(const Json& body, std::initializer_list<const char*> fields) {
  for (const char* field : fields) {
    const auto it = body.find(field);
    if (it != body.end() && !it->is_null()) {
      return invalid_request(std::string("'") + field + "' is not supported by this server", field);
    }
  }
  return std::nullopt;
}

ApiResult<GenerationParams> parse_generation_params(const Json& body, const SamplingParams& defaults,
                                                    size_t vocab_size) {
  FieldReader fields(body);
  GenerationParams params;
  params.sampling = defaults;
  SamplingParams& s = params.sampling;
  if (auto v = fields.number("temperature", 0, 2)) s.temperature = static_cast<float>(*v);
  if (auto v = fields.number("top_p", 0, 1)) {
    if (*v == 0) fields.fail(invalid_request("'top_p' must be in (0, 1]", "top_p"));
    s.top_p = static_cast<float>(*v);
  }
  // -1 and 0 both switch top-k off (vLLM uses -1, llama.cpp 0).
  if (auto v = fields.integer("top_k", -1, static_cast<int64_t>(vocab_size))) s.top_k = static_cast<int>(*v);
  if (auto v = fields.number("min_p", 0, 1)) s.min_p = static_cast<float>(*v);
  if (auto v = fields.number("repetition_penalty", 0, 10)) {
    if (*v == 0) fields.fail(invalid_request("'repetition_penalty' must be > 0", "repetition_penalty"));
    s.repetition_penalty = static_cast<float>(*v);
  }
  if (auto v = fields.number("frequency_penalty", -2, 2)) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = fields.number("presence_penalty", -2, 2)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = fields.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*v);
    s.has_seed = true;
  }
  if (const Json* bias = fields.object("logit_bias")) {
    s.logit_bias.clear();
    for (const auto& [key, value] : bias->items()) {
      int64_t token = -1;
      const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), token);
      if (ec != std::errc() || end != key.data() + key.size() || token < 0 ||
          static_cast<size_t>(token) >= vocab_size) {
        fields.fail(invalid_request(
            "'logit_bias' keys must be token ids below " + std::to_string(vocab_size) + ", got '" + key + "'",
            "logit_bias"));
        break;
      }
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100) {
        fields.fail(invalid_request("'logit_bias' values must be numbers in [-100, 100]", "logit_bias"));
        break;
      }
      s.logit_bias[static_cast<int32_t>(token)] = value.get<float>();
    }
  }
  // max_completion_tokens supersedes the deprecated max_tokens when both are sent.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (auto v = fields.integer(key, 1, std::numeric_limits<int32_t>::max()))
      params.max_tokens = static_cast<size_t>(*v);
  }
  if (auto v = fields.integer("n", 1, static_cast<int64_t>(kMaxChoices))) params.n = static_cast<size_t>(*v);
  if (const Json* stop = fields.any("stop")) {
    if (stop->is_string()) {
      params.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= kMaxStopSequences &&
               std::all_of(stop->begin(), stop->end(), [](const Json& s) { return s.is_string(); })) {
      for (const Json& entry : *stop) params.stop.push_back(entry.get<std::string>());
    } else {
      fields.fail(invalid_request(
          "'stop' must be a string or an array of at most " + std::to_string(kMaxStopSequences) + " strings", "stop"));
    }
    for (const std::string& entry : params.stop) {
      if (entry.empty()) fields.fail(invalid_request("'stop' sequences must not be empty", "stop"));
    }
  }
  if (const Json* ids = fields.array("stop_token_ids")) {
    for (const Json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || static_cast<size_t>(id.get<int64_t>()) >= vocab_size) {
        fields.fail(invalid_request("'stop_token_ids' must list token ids below " + std::to_string(vocab_size),
                                    "stop_token_ids"));
        break;
      }
      params.stop_token_ids.push_back(id.get<int32_t>());
    }
  }
  if (auto v = fields.boolean("stream")) params.stream = *v;
  if (auto v = fields.boolean("ignore_eos")) params.ignore_eos = *v;
  if (const Json* options = fields.object("stream_options")) {
    FieldReader stream_fields(*options, "stream_options.");
    if (auto v = stream_fields.boolean("include_usage")) params.include_usage = *v;
    if (stream_fields.error()) fields.fail(*stream_fields.error());
    if (!params.stream) {
      fields.fail(invalid_request("'stream_options' is only allowed when 'stream' is true", "stream_options"));
    }
  }
  if (fields.error()) return *fields.error();
  return params;
}

}  // namespace ferrum::server
