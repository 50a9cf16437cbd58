#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

constexpr char32_t kEscapedByteBase = 0xDC80;  // U+DC80..U+DCFF stand for undecodable bytes 0x80..0xFF

bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

}  // namespace

size_t utf8_decode(std::string_view text, size_t pos, char32_t& code_point) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  }
  size_t length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, minimum = 0x10000;
  }
  bool valid = length != 0 && pos + length <= text.size();
  for (size_t i = 1; valid && i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[pos + i]);
    valid = is_continuation(byte);
    value = (value << 6) | (byte & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if (!valid || value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    code_point = kEscapedByteBase + (lead - 0x80);
    return 1;
  }
  code_point = value;
  return length;
}

void utf8_append(std::string& out, char32_t c) {
  if (c >= kEscapedByteBase && c <= 0xDCFF) {
    out.push_back(static_cast<char>(c - kEscapedByteBase + 0x80));
  } else if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::u32string utf8_to_code_points(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = 0;
    pos += utf8_decode(text, pos, c);
    out.push_back(c);
  }
  return out;
}

std::string code_points_to_utf8(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) utf8_append(out, c);
  return out;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) {
    char32_t c = 0;
    pos += utf8_decode(text, pos, c);
  }
  return count;
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool is_python_space(char32_t c) {
  switch (c) {
    case U'\t':
    case U'\n':
    case 0x0B:
    case 0x0C:
    case U'\r':
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case U' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_python_line_break(char32_t c) {
  switch (c) {
    case U'\n':
    case U'\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029: return true;
    default: return false;
  }
}

bool is_python_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c >= 0xD800 && c <= 0xDFFF) return false;  // includes the escaped-byte range
  // Separators other than the ASCII space, and the invisible format characters.
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F)) return false;
  if ((c >= 0x205F && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0x3000 || c == 0xFEFF) return false;
  if (c == 0x061C || c == 0x180E || (c >= 0xFFF9 && c <= 0xFFFB)) return false;
  if (c >= 0xE000 && c <= 0xF8FF) return false;  // private use
  return c <= 0x10FFFF;
}

namespace {

// Latin Extended-A alternates upper/lower in pairs; the parity of the upper case flips at U+0139.
bool latin_extended_a_is_upper(char32_t c) {
  if (c >= 0x100 && c <= 0x137) return c % 2 == 0;
  if (c >= 0x139 && c <= 0x148) return c % 2 == 1;
  if (c >= 0x14A && c <= 0x177) return c % 2 == 0;
  if (c >= 0x179 && c <= 0x17E) return c % 2 == 1;
  return false;
}

bool latin_extended_a_is_lower(char32_t c) {
  if (c >= 0x100 && c <= 0x137) return c % 2 == 1;
  if (c >= 0x139 && c <= 0x148) return c % 2 == 0;
  if (c >= 0x14A && c <= 0x177) return c % 2 == 1;
  if (c >= 0x179 && c <= 0x17E) return c % 2 == 0;
  return false;
}

}  // namespace

bool is_cased_upper(char32_t c) {
  if (c >= U'A' && c <= U'Z') return true;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return true;
  if (latin_extended_a_is_upper(c) || c == 0x178) return true;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return true;
  return c >= 0x400 && c <= 0x42F;
}

bool is_cased_lower(char32_t c) {
  if (c >= U'a' && c <= U'z') return true;
  if (c >= 0xDF && c <= 0xFF && c != 0xF7) return true;
  if (latin_extended_a_is_lower(c)) return true;
  if (c >= 0x3B1 && c <= 0x3C9) return true;
  return c >= 0x430 && c <= 0x45F;
}

char32_t to_upper(char32_t c) {
  if (c >= U'a' && c <= U'z') return c - 32;
  if (c < 0x80) return c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (latin_extended_a_is_lower(c)) return c - 1;
  if (c == 0x3C2) return 0x3A3;  // final sigma
  if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

char32_t to_lower(char32_t c) {
  if (c >= U'A' && c <= U'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (latin_extended_a_is_upper(c)) return c + 1;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
  if (c == 0xAA || c == 0xB5 || c == 0xBA) return true;
  if (c >= 0xC0 && c <= 0x24F) return c != 0xD7 && c != 0xF7;
  if (c >= 0x370 && c <= 0x3FF) return c != 0x37E && c != 0x387;
  if (c >= 0x400 && c <= 0x52F) return c < 0x482 || c > 0x489;
  // CJK, kana, hangul and other scripts: treat the big letter blocks as alphabetic.
  if (c >= 0x3040 && c <= 0x30FF) return c != 0x30A0 && c != 0x30FB;
  if (c >= 0x4E00 && c <= 0x9FFF) return true;
  if (c >= 0xAC00 && c <= 0xD7A3) return true;
  if (c >= 0x0590 && c <= 0x06FF) return (c >= 0x05D0 && c <= 0x05EA) || (c >= 0x0620 && c <= 0x064A);
  return false;
}

bool is_decimal_digit(char32_t c) {
  return c >= U'0' && c <= U'9';
}

bool is_word_char(char32_t c) {
  return c == U'_' || is_decimal_digit(c) || is_alpha(c);
}

}  // namespace ferrum::chat
