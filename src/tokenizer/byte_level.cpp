#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace ferrum::tokenizer {
namespace {

bool stands_for_itself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

struct ByteLevelTables {
  std::array<uint32_t, 256> code_point_of_byte{};
  std::array<std::string, 256> spelling_of_byte;
  std::array<int16_t, 512> byte_of_code_point{};  // every mapped code point is below U+0144

  ByteLevelTables() {
    byte_of_code_point.fill(-1);
    uint32_t next_moved = 256;
    for (int byte = 0; byte < 256; ++byte) {
      const uint32_t code_point = stands_for_itself(byte) ? static_cast<uint32_t>(byte) : next_moved++;
      code_point_of_byte[byte] = code_point;
      append_utf8(spelling_of_byte[byte], code_point);
      byte_of_code_point[code_point] = static_cast<int16_t>(byte);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables instance;
  return instance;
}

}  // namespace

uint32_t byte_to_byte_level_code_point(uint8_t byte) {
  return tables().code_point_of_byte[byte];
}

std::optional<uint8_t> byte_level_code_point_to_byte(uint32_t code_point) {
  if (code_point >= tables().byte_of_code_point.size()) return std::nullopt;
  const int16_t byte = tables().byte_of_code_point[code_point];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

void append_byte_level(std::string& out, std::string_view bytes) {
  const ByteLevelTables& t = tables();
  for (char c : bytes) out += t.spelling_of_byte[static_cast<uint8_t>(c)];
}

bool decode_byte_level(std::string_view text, std::string& out) {
  const size_t original_size = out.size();
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Step step = decode_utf8_step(text, pos);
    const std::optional<uint8_t> byte =
        step.kind == Utf8Step::Kind::kValid ? byte_level_code_point_to_byte(step.code_point) : std::nullopt;
    if (!byte) {
      out.resize(original_size);
      return false;
    }
    out += static_cast<char>(*byte);
    pos += step.length;
  }
  return true;
}

}  // namespace ferrum::tokenizer
