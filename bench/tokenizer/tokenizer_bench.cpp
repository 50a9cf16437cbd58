// Encoding and decoding throughput on one core, in MB/s of UTF-8 input (bytes_per_second).
//
// Inputs are made here, deterministically: "prose" is English-like text whose words follow a
// Zipf law over common English words with one word in ten invented from syllables (so the BPE
// merge loop runs, not only the word cache); "fixture" is the 46 test-vector texts repeated
// (multilingual, emoji, whitespace runs); "unique" has no repeated word at all, the cache's worst
// case.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/detokenizer.h"
#include "tokenizer/loader.h"

namespace {

using ferrum::tokenizer::Tokenizer;

const std::filesystem::path kTokenizerFixtures = std::filesystem::path(FERRUM_FIXTURES_DIR) / "tokenizer";

const std::vector<std::string> kCommonWords = {
    "the",      "of",        "and",       "to",         "a",        "in",       "that",     "is",       "was",
    "he",       "for",       "it",        "with",       "as",       "his",      "on",       "be",       "at",
    "by",       "I",         "had",       "not",        "are",      "but",      "from",     "or",       "have",
    "an",       "they",      "which",     "one",        "you",      "were",     "her",      "all",      "she",
    "there",    "would",     "their",     "we",         "him",      "been",     "has",      "when",     "who",
    "will",     "more",      "no",        "if",         "out",      "so",       "said",     "what",     "up",
    "its",      "about",     "into",      "than",       "them",     "can",      "only",     "other",    "new",
    "some",     "could",     "time",      "these",      "two",      "may",      "then",     "do",       "first",
    "any",      "my",        "now",       "such",       "like",     "our",      "over",     "man",      "me",
    "even",     "most",      "made",      "after",      "also",     "did",      "many",     "before",   "must",
    "through",  "back",      "years",     "where",      "much",     "your",     "way",      "well",     "down",
    "should",   "because",   "each",      "just",       "those",    "people",   "how",      "too",      "little",
    "state",    "good",      "very",      "make",       "world",    "still",    "own",      "see",      "men",
    "work",     "long",      "get",       "here",       "between",  "both",     "life",     "being",    "under",
    "never",    "day",       "same",      "another",    "know",     "while",    "last",     "might",    "us",
    "great",    "old",       "year",      "off",        "come",     "since",    "against",  "go",       "came",
    "right",    "used",      "take",      "three",      "house",    "morning",  "river",    "garden",   "letter",
    "window",   "country",   "question",  "government", "children", "together", "thought",  "nothing",  "everything",
    "remember", "different", "important", "water",      "because",  "without",  "suddenly", "answered", "laughed",
    "quietly",  "Mr.",       "Mrs.",      "London",     "Elizabeth"};

std::string invented_word(std::mt19937& rng) {
  static const std::vector<std::string> syllables = {"ka",  "lo",  "mi", "ther", "ston", "ble", "qua", "ris", "ven",
                                                     "dor", "pli", "an", "gre",  "sh",   "ix",  "tu",  "mor", "el"};
  std::uniform_int_distribution<size_t> count(2, 4), pick(0, syllables.size() - 1);
  std::string word;
  for (size_t i = count(rng); i > 0; --i) word += syllables[pick(rng)];
  return word;
}

std::string make_prose(size_t bytes) {
  std::mt19937 rng(1234);
  // Zipf weights 1/rank over the common words.
  std::vector<double> weights;
  for (size_t rank = 1; rank <= kCommonWords.size(); ++rank) weights.push_back(1.0 / static_cast<double>(rank));
  std::discrete_distribution<size_t> common(weights.begin(), weights.end());
  std::uniform_real_distribution<double> unit(0, 1);
  std::string text;
  size_t sentence_length = 0;
  bool capitalize = true;
  while (text.size() < bytes) {
    std::string word = unit(rng) < 0.1 ? invented_word(rng) : kCommonWords[common(rng)];
    if (capitalize) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
    capitalize = false;
    text += word;
    ++sentence_length;
    const double r = unit(rng);
    if (sentence_length > 6 && r < 0.12) {
      text += r < 0.09 ? ". " : (r < 0.105 ? "? " : "! ");
      if (unit(rng) < 0.2) text += "\n\n";
      sentence_length = 0;
      capitalize = true;
    } else if (r < 0.2) {
      text += ", ";
    } else {
      text += ' ';
    }
  }
  return text;
}

std::string make_unique_words(size_t bytes) {
  std::string text;
  for (uint64_t i = 0; text.size() < bytes; ++i) {
    // Base-20 spellings of a counter in letters: every word differs.
    std::string word;
    for (uint64_t v = i + 8000; v > 0; v /= 20) word += static_cast<char>('b' + v % 20);
    text += word + ' ';
  }
  return text;
}

std::string make_fixture_text(size_t bytes) {
  std::ifstream file(kTokenizerFixtures / "ggml-vocab-gpt-2.gguf.inp", std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  const std::string one = content.str();
  std::string text;
  while (text.size() < bytes) text += one;
  return text;
}

const Tokenizer& tokenizer(const std::string& relative_path) {
  static std::vector<std::pair<std::string, std::unique_ptr<Tokenizer>>> loaded;
  for (auto& [path, t] : loaded) {
    if (path == relative_path) return *t;
  }
  auto result = ferrum::tokenizer::load_tokenizer(kTokenizerFixtures / relative_path);
  if (!result) {
    std::fprintf(stderr, "loading %s: %s\n", relative_path.c_str(), result.error().to_string().c_str());
    std::exit(1);
  }
  loaded.emplace_back(relative_path, std::move(*result));
  return *loaded.back().second;
}

const std::string& input(const std::string& kind) {
  static const size_t kBytes = 4 << 20;
  static const std::string prose = make_prose(kBytes);
  static const std::string fixture = make_fixture_text(kBytes);
  static const std::string unique = make_unique_words(kBytes);
  if (kind == "prose") return prose;
  if (kind == "fixture") return fixture;
  return unique;
}

void BM_Encode(benchmark::State& state, const std::string& path, const std::string& kind) {
  const Tokenizer& t = tokenizer(path);
  const std::string& text = input(kind);
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = t.encode(text, {.add_special = false});
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(tokens);
}

void BM_StreamingDecode(benchmark::State& state, const std::string& path) {
  const Tokenizer& t = tokenizer(path);
  const std::string& text = input("prose");
  const auto ids = t.encode(text, {.add_special = false});
  for (auto _ : state) {
    ferrum::tokenizer::StreamingDetokenizer stream(t.vocab(), {});
    size_t produced = 0;
    for (auto id : ids) produced += stream.push(id)->size();
    produced += stream.finish().size();
    benchmark::DoNotOptimize(produced);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

BENCHMARK_CAPTURE(BM_Encode, llama3_prose, "llama3/tokenizer.json", "prose")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama3_fixture, "llama3/tokenizer.json", "fixture")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama3_unique, "llama3/tokenizer.json", "unique")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, qwen3_prose, "qwen3/tokenizer.json", "prose")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, gpt2_prose, "ggml-vocab-gpt-2.gguf", "prose")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama_spm_prose, "ggml-vocab-llama-spm.gguf", "prose")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, bert_prose, "ggml-vocab-bert-bge.gguf", "prose")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StreamingDecode, llama3_prose, "llama3/tokenizer.json")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
