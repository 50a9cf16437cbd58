#include "tokenizer/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/log.h"

namespace ferrum::tokenizer {

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_error_message(int error_code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(error_code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread match state: match data sized for our patterns and a JIT stack large enough for long
// runs of one character class (a 1 MB line without spaces must not fail).
struct MatchScratch {
  pcre2_match_data* match_data = pcre2_match_data_create(16, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, nullptr);
  MatchScratch() { pcre2_jit_stack_assign(context, nullptr, jit_stack); }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(match_data);
  }
};

MatchScratch& scratch() {
  thread_local MatchScratch instance;
  return instance;
}

}  // namespace

std::string widen_whitespace_escapes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      if (next == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (next == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += next;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

RegexSplitter::RegexSplitter(std::string pattern, std::unique_ptr<Compiled> compiled)
    : pattern_(std::move(pattern)), compiled_(std::move(compiled)) {}
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;
RegexSplitter::~RegexSplitter() = default;

Expected<RegexSplitter> RegexSplitter::compile(std::string_view pattern) {
  const std::string widened = widen_whitespace_escapes(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto compiled = std::make_unique<Compiled>();
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(widened.data()), widened.size(),
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error_code, &error_offset, nullptr);
  FERRUM_CHECK(compiled->code != nullptr, ErrorCode::kParse, "pre-tokenizer regex '", pattern,
               "': ", pcre2_error_message(error_code), " at offset ", error_offset);
  compiled->jit = pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE) == 0;
  if (!compiled->jit) FERRUM_LOG_DEBUG("pre-tokenizer regex '", pattern, "': no JIT, using the interpreter");
  return RegexSplitter(std::string(pattern), std::move(compiled));
}

void RegexSplitter::find_matches(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  MatchScratch& state = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    // The text was made valid UTF-8 on entry to the tokenizer, so PCRE2 need not check it again.
    const int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK,
                                                    state.match_data, state.context)
                                  : pcre2_match(compiled_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK,
                                                state.match_data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // Resource limits only: keep the rest as one piece rather than lose text.
      FERRUM_LOG_WARN("pre-tokenizer regex '", pattern_, "' failed at byte ", offset, ": ", pcre2_error_message(rc));
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.match_data);
    size_t begin = ovector[0];
    size_t end = ovector[1];
    if (end == begin) {
      // An empty match splits nothing; step over one character and look again.
      offset = begin + 1;
      while (offset < text.size() && (static_cast<uint8_t>(text[offset]) & 0xC0) == 0x80) ++offset;
      continue;
    }
    matches.emplace_back(begin, end);
    offset = end;
  }
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  thread_local std::vector<std::pair<size_t, size_t>> matches;
  matches.clear();
  find_matches(text, matches);
  size_t last = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > last) pieces.push_back(text.substr(last, begin - last));
    pieces.push_back(text.substr(begin, end - begin));
    last = end;
  }
  if (last < text.size()) pieces.push_back(text.substr(last));
}

}  // namespace ferrum::tokenizer
