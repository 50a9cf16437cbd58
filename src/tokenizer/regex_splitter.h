// Pre-tokenizer regexes, compiled with PCRE2 (UTF + UCP, JIT when available). A split keeps both
// the matches and the text between them as pieces, which is HF's "Isolated" Split behaviour and
// what llama.cpp's regex pre-tokenizer does.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ferrum::tokenizer {

class RegexSplitter {
 public:
  // `pattern` uses the Perl/Oniguruma syntax of tokenizer.json and llama.cpp. \s and \S are widened
  // to include U+0085 as those engines do (PCRE2 leaves it out).
  static Expected<RegexSplitter> compile(std::string_view pattern);

  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;
  ~RegexSplitter();

  const std::string& pattern() const { return pattern_; }

  // Appends the pieces of `text` (valid UTF-8) to `pieces`: every match, and every stretch between
  // matches. Pieces are views into `text` and cover it exactly.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;
  // Appends only the matches ("invert": false with behaviour "Removed" keeps the gaps instead).
  void find_matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;

 private:
  struct Compiled;
  explicit RegexSplitter(std::string pattern, std::unique_ptr<Compiled> compiled);

  std::string pattern_;
  std::unique_ptr<Compiled> compiled_;
};

// The pattern with every \s (and \S) outside and inside character classes widened to U+0085.
std::string widen_whitespace_escapes(std::string_view pattern);

}  // namespace ferrum::tokenizer
