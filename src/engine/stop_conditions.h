// When generation ends: end-of-generation tokens and stop strings. Stop strings are matched across
// token boundaries, and text that may still turn into a stop string is held back, so a stop
// sequence is never emitted in part.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "formats/model_config.h"
#include "tokenizer/vocab.h"

namespace ferrum {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stop_strings);

  struct Result {
    std::string emit;      // text safe to show now
    bool stopped = false;  // a stop string completed; `emit` ends just before it
  };
  // Adds newly decoded text.
  Result push(std::string_view text);
  // The text held back at the end of generation (no stop string completed).
  std::string flush();

 private:
  std::vector<std::string> stop_strings_;
  std::string pending_;
};

// Tokens that end generation: the vocabulary's EOS, the config's EOS list (config.json /
// generation_config.json), and the end-of-turn tokens of common chat formats present in the vocabulary.
std::unordered_set<int32_t> end_of_generation_tokens(const tokenizer::Vocab& vocab, const ModelConfig& config);

}  // namespace ferrum
