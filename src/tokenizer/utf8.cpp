#include "tokenizer/utf8.h"

namespace ferrum::tokenizer {
namespace {

// Allowed range of the second byte for each lead byte (Unicode Table 3-7); the later bytes are
// always 80..BF. Excluding overlongs (E0, F0), surrogates (ED) and values above U+10FFFF (F4) here
// is what makes the "maximal subpart" of a malformed sequence come out right.
struct LeadInfo {
  uint8_t length;
  uint8_t second_min;
  uint8_t second_max;
};

LeadInfo lead_info(uint8_t lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead < 0xC2) return {0, 0, 0};
  if (lead < 0xE0) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead < 0xF0) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead < 0xF4) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

Utf8Step decode_utf8_step(std::string_view bytes, size_t pos) {
  const auto byte_at = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const uint8_t lead = byte_at(pos);
  const LeadInfo info = lead_info(lead);
  if (info.length == 1) return {Utf8Step::Kind::kValid, lead, 1};
  if (info.length == 0) return {Utf8Step::Kind::kInvalid, 0, 1};

  uint32_t code_point = lead & (0xFF >> (info.length + 1));
  for (size_t i = 1; i < info.length; ++i) {
    if (pos + i >= bytes.size()) return {Utf8Step::Kind::kIncomplete, 0, i};
    const uint8_t next = byte_at(pos + i);
    const uint8_t min = i == 1 ? info.second_min : 0x80;
    const uint8_t max = i == 1 ? info.second_max : 0xBF;
    if (next < min || next > max) return {Utf8Step::Kind::kInvalid, 0, i};
    code_point = (code_point << 6) | (next & 0x3F);
  }
  return {Utf8Step::Kind::kValid, code_point, info.length};
}

bool is_valid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {  // ASCII runs dominate real text
      ++pos;
      continue;
    }
    const Utf8Step step = decode_utf8_step(bytes, pos);
    if (step.kind != Utf8Step::Kind::kValid) return false;
    pos += step.length;
  }
  return true;
}

void append_replacement(std::string& out, size_t malformed_length, Utf8Replacement policy) {
  const size_t count = policy == Utf8Replacement::kPerByte ? malformed_length : 1;
  for (size_t i = 0; i < count; ++i) out += "\xEF\xBF\xBD";
}

std::string to_valid_utf8(std::string_view bytes, Utf8Replacement policy) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Step step = decode_utf8_step(bytes, pos);
    if (step.kind == Utf8Step::Kind::kValid) {
      out.append(bytes.substr(pos, step.length));
    } else {
      append_replacement(out, step.length, policy);
    }
    pos += step.length;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

size_t utf8_length_from_lead(uint8_t lead) {
  const LeadInfo info = lead_info(lead);
  return info.length == 0 ? 1 : info.length;
}

}  // namespace ferrum::tokenizer
