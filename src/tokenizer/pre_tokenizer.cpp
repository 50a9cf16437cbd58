#include "tokenizer/pre_tokenizer.h"

#include <array>
#include <utility>

namespace ferrum::tokenizer {
namespace {

// The patterns are data shared by every implementation of these tokenizers: they come from the
// model vendors' tokenizer.json files, and for the pre-types without one from llama.cpp's choices.
constexpr const char* kGpt2Words = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// DeepSeek LLM's cased-letter class, spelled out by the vendor instead of \p{L}. The \x{...}
// escapes are the canonical singletons (Kelvin sign, ohm sign, Greek oxia forms) that an editor's
// NFC pass would silently turn into other code points and so break the ranges.
// clang-format off
constexpr const char* kDeepseekLlmLetters =
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆ"
    "Έ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷ"
    "ᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-"
    "ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ"
    "-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆ"
    "ﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";
// clang-format on

struct PreTypeChain {
  std::vector<std::string_view> names;
  std::vector<const char*> patterns;
};

const std::vector<PreTypeChain>& pre_type_chains() {
  static const std::vector<PreTypeChain> chains = {
      // No tokenizer.ggml.pre: llama.cpp's generic fallback (it logs a warning and uses this).
      {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2Words, "\\p{N}+", "[0-9][0-9][0-9]"}},
      // MPT ships GPT-NeoX's tokenizer, whose split is GPT-2's.
      {{"gpt-2", "mpt", "phi-2", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code",
        "roberta-bpe", "gigachat", "olmo", "jais", "trillion", "mellum", "a.x-4.0"},
       {kGpt2Words}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "dbrx", "smaug-bpe", "chatglm-bpe",
        "midm-2.0", "lfm2"},
       {kLlama3}},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan"}, {kQwen2}},
      {{"deepseek-llm"},
       {"[\\r\\n]", kDeepseekLlmLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+"}},
      {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}},
      {{"deepseek-v3"},
       {"\\p{N}{1,3}", "[一-龥\u3040-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
        "?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2Words, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", kGpt2Words}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {" ?[^(\\s|.,!?…。，、।۔،)]+"}},
      {{"viking"}, {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"}},
      {{"tekken"},
       {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}"
        "]?["
        "\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/"
        "]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"gpt-4o", "llama4"},
       {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|"
        "'"
        "ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'"
        "re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
      {{"chameleon"},
       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
        "[\\p{P}!-/:-@\\[-`{-~]", kGpt2Words}},
      {{"seed-coder"},
       {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| "
        "?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
  };
  return chains;
}

}  // namespace

const char* const kGpt2SplitPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

Expected<PreTokenizer> PreTokenizer::from_patterns(const std::vector<std::string>& patterns) {
  PreTokenizer pre;
  for (const std::string& pattern : patterns) {
    FERRUM_ASSIGN_OR_RETURN(RegexSplitter splitter, RegexSplitter::compile(pattern));
    pre.splitters_.push_back(std::move(splitter));
  }
  return pre;
}

std::vector<std::string> PreTokenizer::gguf_pre_type_patterns(std::string_view pre_type) {
  for (const PreTypeChain& chain : pre_type_chains()) {
    for (std::string_view name : chain.names) {
      if (name == pre_type) return {chain.patterns.begin(), chain.patterns.end()};
    }
  }
  return {};
}

std::vector<std::string_view> PreTokenizer::known_gguf_pre_types() {
  std::vector<std::string_view> names;
  for (const PreTypeChain& chain : pre_type_chains()) names.insert(names.end(), chain.names.begin(), chain.names.end());
  return names;
}

Expected<PreTokenizer> PreTokenizer::for_gguf_pre_type(std::string_view pre_type) {
  const std::vector<std::string> patterns = gguf_pre_type_patterns(pre_type);
  FERRUM_CHECK(!patterns.empty(), ErrorCode::kUnsupported, "unknown BPE pre-tokenizer type '", pre_type, "'");
  return from_patterns(patterns);
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
  if (splitters_.empty()) {
    if (!text.empty()) words.push_back(text);
    return;
  }
  thread_local std::vector<std::string_view> current;
  thread_local std::vector<std::string_view> next;
  current.clear();
  current.push_back(text);
  for (size_t stage = 0; stage < splitters_.size(); ++stage) {
    std::vector<std::string_view>& target = stage + 1 == splitters_.size() ? words : next;
    if (&target == &next) next.clear();
    for (std::string_view piece : current) splitters_[stage].split(piece, target);
    if (&target == &next) std::swap(current, next);
  }
}

}  // namespace ferrum::tokenizer
