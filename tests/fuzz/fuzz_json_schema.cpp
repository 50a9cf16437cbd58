// Compiles arbitrary JSON as a schema; when it compiles, runs the automaton over the input text
// itself (any bytes). Errors are fine; crashes, hangs and unbounded growth are not.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "grammar/automaton.h"
#include "grammar/json_grammar.h"
#include "grammar/matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto schema = ferrum::grammar::OrderedJson::parse(text, nullptr, false);
  if (schema.is_discarded()) return 0;
  auto grammar = ferrum::grammar::json_schema_grammar(schema);
  if (!grammar) return 0;
  auto automaton = ferrum::grammar::compile(*grammar);
  if (!automaton) return 0;
  if (automaton->states.size() > 2'000'000) return 0;
  ferrum::grammar::GrammarMatcher matcher(std::make_shared<const ferrum::grammar::Automaton>(std::move(*automaton)));
  for (size_t i = 0; i < text.size() && matcher.accept(text.substr(i, 1)); ++i) {
  }
  return 0;
}
