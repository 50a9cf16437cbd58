// libFuzzer target for the chat-template interpreter: parse and render arbitrary templates, which
// must fail cleanly (an Error, never a crash, hang or leak) within the render limits.
//
// Input: a template, optionally followed by a NUL byte and a JSON object used as the context instead
// of the built-in one. The first byte's low bit switches RenderOptions::allow_mutating_methods.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace {

const nlohmann::ordered_json& default_context() {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "What's the weather in São Paulo? 🌧"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call00001", "type": "function",
         "function": {"name": "get_weather", "arguments": {"location": "São Paulo", "unit": "celsius"}}}]},
      {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temp\": 21}"},
      {"role": "assistant", "content": "<think>\nok\n</think>\n\nIt is 21°C."}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
      "parameters": {"type": "object", "properties": {"location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}],
    "documents": null,
    "add_generation_prompt": true,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "n": 3, "f": 2.5, "flag": false, "nothing": null, "list": [1, "a", [2, {"k": "v"}]]
  })");
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ferrum::chat::RenderOptions options;
  options.allow_mutating_methods = size > 0 && (data[0] & 1) != 0;
  // Small limits keep each run fast; the depth limits stay at their defaults so the fuzzer also
  // checks that those defaults fit the stack.
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_loop_iterations = 20000;
  options.limits.max_sequence_length = 20000;
  options.now = [] {
    std::tm tm{};
    tm.tm_year = 124, tm.tm_mon = 6, tm.tm_mday = 26;
    return tm;
  };

  nlohmann::ordered_json custom_context;
  const nlohmann::ordered_json* context = &default_context();
  if (const size_t nul = input.find('\0'); nul != std::string_view::npos) {
    custom_context = nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
    if (custom_context.is_object()) context = &custom_context;
    input = input.substr(0, nul);
  }
  auto tmpl = ferrum::chat::ChatTemplate::parse(input, "fuzz");
  if (!tmpl) return 0;
  auto rendered = tmpl->render(*context, options);
  (void)rendered;
  return 0;
}
