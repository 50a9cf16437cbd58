#include "server/logprobs_json.h"

#include <cmath>

#include "tokenizer/detokenizer.h"

namespace ferrum::server {
namespace {

// JSON has no -inf; OpenAI prints the most negative finite value the client will still parse.
double printable(float logprob) {
  return std::isfinite(logprob) ? logprob : -9999.0;
}

std::string valid_utf8(const std::string& bytes) {
  // A JSON round trip with replacement turns invalid sequences into U+FFFD.
  const std::string dumped = Json(bytes).dump(-1, ' ', false, Json::error_handler_t::replace);
  return Json::parse(dumped).get<std::string>();
}

}  // namespace

std::string LogprobFormatter::token_bytes(int32_t token) const {
  auto piece = tokenizer::token_piece(vocab_, token, {.render_special = true});
  return piece ? *piece : std::string();
}

Json LogprobFormatter::chat_entry(const TokenLogprob& entry) const {
  const std::string bytes = token_bytes(entry.token);
  Json byte_list = Json::array();
  for (unsigned char c : bytes) byte_list.push_back(c);
  return Json{{"token", valid_utf8(bytes)}, {"logprob", printable(entry.logprob)}, {"bytes", std::move(byte_list)}};
}

void LogprobFormatter::append_chat(const RequestEvent& event, Json& content) const {
  for (size_t i = 0; i < event.chosen_logprobs.size(); ++i) {
    Json entry = chat_entry(event.chosen_logprobs[i]);
    Json top = Json::array();
    if (i < event.top_logprobs.size()) {
      for (const TokenLogprob& alternative : event.top_logprobs[i]) top.push_back(chat_entry(alternative));
    }
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
}

Json LogprobFormatter::empty_completion_logprobs() {
  return Json{{"tokens", Json::array()},
              {"token_logprobs", Json::array()},
              {"top_logprobs", Json::array()},
              {"text_offset", Json::array()}};
}

void LogprobFormatter::append_completion(const RequestEvent& event, size_t text_offset, Json& logprobs) const {
  size_t offset = text_offset;
  for (size_t i = 0; i < event.chosen_logprobs.size(); ++i) {
    const std::string text = valid_utf8(token_bytes(event.chosen_logprobs[i].token));
    logprobs["tokens"].push_back(text);
    logprobs["token_logprobs"].push_back(printable(event.chosen_logprobs[i].logprob));
    Json top = Json::object();
    if (i < event.top_logprobs.size()) {
      for (const TokenLogprob& alternative : event.top_logprobs[i]) {
        top[valid_utf8(token_bytes(alternative.token))] = printable(alternative.logprob);
      }
    }
    logprobs["top_logprobs"].push_back(std::move(top));
    logprobs["text_offset"].push_back(offset);
    offset += text.size();
  }
}

}  // namespace ferrum::server
