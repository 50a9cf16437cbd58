#include "tokenizer/unicode_props.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

namespace ferrum::tokenizer {
namespace {

bool in_category_mask(uint32_t code_point, uint32_t mask) {
  return (U_GET_GC_MASK(static_cast<UChar32>(code_point)) & mask) != 0;
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<uint8_t>(c) >= 0x80) return false;
  }
  return true;
}

using NormalizerGetter = const icu::Normalizer2* (*)(UErrorCode&);

std::string normalize(std::string_view text, NormalizerGetter get_instance) {
  if (is_ascii(text)) return std::string(text);  // ASCII is invariant under NFC, NFD and NFKC
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = get_instance(status);
  if (U_FAILURE(status)) return std::string(text);  // ICU data missing: leave the text as it is
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out);
  normalizer->normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr, status);
  if (U_FAILURE(status)) return std::string(text);
  return out;
}

}  // namespace

bool is_whitespace(uint32_t code_point) {
  return u_hasBinaryProperty(static_cast<UChar32>(code_point), UCHAR_WHITE_SPACE);
}

bool is_punctuation(uint32_t code_point) {
  return in_category_mask(code_point, U_GC_P_MASK);
}

bool is_symbol(uint32_t code_point) {
  return in_category_mask(code_point, U_GC_S_MASK);
}

bool is_control(uint32_t code_point) {
  return in_category_mask(code_point, U_GC_C_MASK);
}

bool is_combining_mark(uint32_t code_point) {
  return in_category_mask(code_point, U_GC_M_MASK);
}

bool is_cjk_ideograph(uint32_t cp) {
  // HF's BertPreTokenizer ranges, including its 0x2B920 start of Extension E (it says 0x2B820 in
  // the Unicode tables); llama.cpp copied the same ranges.
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

uint32_t simple_lowercase(uint32_t code_point) {
  return static_cast<uint32_t>(u_tolower(static_cast<UChar32>(code_point)));
}

uint32_t canonical_base(uint32_t code_point) {
  if (code_point < 0xC0) return code_point;  // nothing below U+00C0 decomposes
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) return code_point;
  icu::UnicodeString decomposition;
  if (!nfd->getDecomposition(static_cast<UChar32>(code_point), decomposition)) return code_point;
  return static_cast<uint32_t>(decomposition.char32At(0));
}

std::string to_nfc(std::string_view text) {
  return normalize(text, &icu::Normalizer2::getNFCInstance);
}

std::string to_nfd(std::string_view text) {
  return normalize(text, &icu::Normalizer2::getNFDInstance);
}

std::string to_nfkc(std::string_view text) {
  return normalize(text, &icu::Normalizer2::getNFKCInstance);
}

}  // namespace ferrum::tokenizer
