// What grammar-constrained decoding costs per generated token, on Qwen3's 151,669-token vocabulary:
// the token mask (GrammarConstraint::mask) and the grammar advance (accept) while "generating" a
// fixed JSON document token by token, as the engine calls them once per sampled token.
//   cold: a fresh mask cache (the first request with a schema: trie walks happen here)
//   warm: the same schema again (what every later request with that schema pays)
// Compare with a decode step: the mask must stay well under 10% of it for throughput to hold.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "grammar/automaton.h"
#include "grammar/grammar_constraint.h"
#include "grammar/json_grammar.h"
#include "tokenizer/loader.h"

namespace ferrum::grammar {
namespace {

constexpr const char* kSchema = R"({"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "email": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
    "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"},
                "zip": {"type": "string", "maxLength": 10}}, "required": ["street", "city"],
                "additionalProperties": false},
    "score": {"type": "number"}, "active": {"type": "boolean"}},
  "required": ["name", "age", "tags", "address", "active"], "additionalProperties": false})";

constexpr const char* kDocument =
    R"({"name": "Ada Lovelace", "age": 36, "email": "ada@example.org", "tags": ["mathematics", "poetry", )"
    R"("analytical engine", "notes on the translation"], "address": {"street": "12 St James's Square", )"
    R"("city": "London", "zip": "SW1Y 4JH"}, "score": 98.5, "active": false})";

struct Fixture {
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::shared_ptr<const TokenTrie> trie;
  std::shared_ptr<const Automaton> automaton;
  std::vector<int32_t> document;
  int32_t end_token = 0;
  double trie_seconds = 0;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    // FERRUM_FIXTURES overrides the build's fixture path (to run the binary on another machine).
    const char* fixtures = std::getenv("FERRUM_FIXTURES");
    auto tokenizer = tokenizer::load_tokenizer(std::filesystem::path(fixtures ? fixtures : FERRUM_FIXTURES_DIR) /
                                               "tokenizer/qwen3/tokenizer.json");
    if (!tokenizer) std::abort();
    f.tokenizer = std::move(*tokenizer);
    const auto start = std::chrono::steady_clock::now();
    f.trie = std::make_shared<const TokenTrie>(TokenTrie::from_vocab(f.tokenizer->vocab()));
    f.trie_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto grammar = json_schema_grammar(OrderedJson::parse(kSchema));
    auto automaton = compile(*grammar);
    f.automaton = std::make_shared<const Automaton>(std::move(*automaton));
    f.document = f.tokenizer->encode(kDocument, {.add_special = false});
    f.end_token = f.tokenizer->vocab().find("<|im_end|>");
    return f;
  }();
  return f;
}

// Runs the document through a constraint; returns seconds spent in mask + accept.
double generate(const std::shared_ptr<GrammarTokenMasks>& masks, std::vector<float>& logits) {
  Fixture& f = fixture();
  GrammarConstraint constraint(masks, {f.end_token});
  double seconds = 0;
  for (int32_t token : f.document) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    const auto start = std::chrono::steady_clock::now();
    constraint.mask(logits);
    const bool accepted = std::isfinite(logits[static_cast<size_t>(token)]) && constraint.accept(token);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!accepted) std::abort();  // the document must satisfy the schema token by token
  }
  if (!constraint.complete()) std::abort();
  return seconds;
}

void BM_MaskCold(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<float> logits(f.trie->vocab_size());
  double total = 0;
  for (auto _ : state) {
    auto masks = std::make_shared<GrammarTokenMasks>(f.automaton, f.trie);
    const double seconds = generate(masks, logits);
    total += seconds;
    state.SetIterationTime(seconds);
  }
  state.counters["us_per_token"] = 1e6 * total / static_cast<double>(state.iterations() * f.document.size());
  state.counters["tokens"] = static_cast<double>(f.document.size());
  state.counters["trie_build_ms"] = 1e3 * f.trie_seconds;
}
BENCHMARK(BM_MaskCold)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_MaskWarm(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<float> logits(f.trie->vocab_size());
  auto masks = std::make_shared<GrammarTokenMasks>(f.automaton, f.trie);
  generate(masks, logits);  // fills the caches
  double total = 0;
  for (auto _ : state) {
    const double seconds = generate(masks, logits);
    total += seconds;
    state.SetIterationTime(seconds);
  }
  state.counters["us_per_token"] = 1e6 * total / static_cast<double>(state.iterations() * f.document.size());
  state.counters["local_masks"] = static_cast<double>(masks->stats().local_masks);
}
BENCHMARK(BM_MaskWarm)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ferrum::grammar

BENCHMARK_MAIN();
