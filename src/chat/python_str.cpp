#include "chat/python_str.h"

#include <algorithm>

#include "chat/utf8.h"

namespace ferrum::chat {

Expected<SliceBounds> slice_bounds(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop,
                                   std::optional<int64_t> step) {
  SliceBounds bounds;
  bounds.step = step.value_or(1);
  FERRUM_CHECK(bounds.step != 0, ErrorCode::kInvalidArgument, "slice step cannot be zero");
  // Clamp far-out-of-range values first so the arithmetic below cannot overflow.
  auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v, -length - 1, length + 1); };
  const int64_t lower = bounds.step < 0 ? -1 : 0;
  const int64_t upper = bounds.step < 0 ? length - 1 : length;
  auto resolve = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t value = clamp(*v);
    if (value < 0) value += length;
    return std::clamp(value, lower, upper);
  };
  bounds.start = resolve(start, bounds.step < 0 ? upper : lower);
  const int64_t end = resolve(stop, bounds.step < 0 ? lower : upper);
  if (bounds.step > 0 && end > bounds.start) {
    bounds.count = (end - bounds.start - 1) / bounds.step + 1;
  } else if (bounds.step < 0 && end < bounds.start) {
    bounds.count = (bounds.start - end - 1) / (-bounds.step) + 1;
  }
  return bounds;
}

std::string py_slice(std::string_view text, const SliceBounds& bounds) {
  if (is_ascii(text)) {
    std::string out;
    for (int64_t i = 0, at = bounds.start; i < bounds.count; ++i, at += bounds.step) {
      out.push_back(text[static_cast<size_t>(at)]);
    }
    return out;
  }
  const std::u32string code_points = utf8_to_code_points(text);
  std::string out;
  for (int64_t i = 0, at = bounds.start; i < bounds.count; ++i, at += bounds.step) {
    utf8_append(out, code_points[static_cast<size_t>(at)]);
  }
  return out;
}

std::optional<std::string> py_char_at(std::string_view text, int64_t index) {
  const auto length = static_cast<int64_t>(code_point_count(text));
  if (index < 0) index += length;
  if (index < 0 || index >= length) return std::nullopt;
  size_t pos = 0;
  char32_t c = 0;
  for (int64_t i = 0;; ++i) {
    const size_t width = utf8_decode(text, pos, c);
    if (i == index) return std::string(text.substr(pos, width));
    pos += width;
  }
}

std::string py_strip(std::string_view text, const std::optional<std::string>& chars, bool left, bool right) {
  std::u32string strip_set;
  if (chars) strip_set = utf8_to_code_points(*chars);
  auto strippable = [&](char32_t c) { return chars ? strip_set.find(c) != std::u32string::npos : is_python_space(c); };
  const std::u32string code_points = utf8_to_code_points(text);
  size_t begin = 0;
  size_t end = code_points.size();
  if (left) {
    while (begin < end && strippable(code_points[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strippable(code_points[end - 1])) --end;
  }
  return code_points_to_utf8(std::u32string_view(code_points).substr(begin, end - begin));
}

namespace {

std::vector<std::string> split_whitespace(std::string_view text, int64_t maxsplit, bool from_right) {
  const std::u32string cps = utf8_to_code_points(text);
  std::vector<std::string> parts;
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < cps.size() && is_python_space(cps[i])) ++i;
      if (i == cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(code_points_to_utf8(std::u32string_view(cps).substr(i)));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !is_python_space(cps[j])) ++j;
      parts.push_back(code_points_to_utf8(std::u32string_view(cps).substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  size_t end = cps.size();
  while (true) {
    while (end > 0 && is_python_space(cps[end - 1])) --end;
    if (end == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.push_back(code_points_to_utf8(std::u32string_view(cps).substr(0, end)));
      break;
    }
    size_t begin = end;
    while (begin > 0 && !is_python_space(cps[begin - 1])) --begin;
    parts.push_back(code_points_to_utf8(std::u32string_view(cps).substr(begin, end - begin)));
    end = begin;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

}  // namespace

Expected<std::vector<std::string>> py_split(std::string_view text, const std::optional<std::string>& separator,
                                            int64_t maxsplit, bool from_right) {
  if (!separator) return split_whitespace(text, maxsplit, from_right);
  FERRUM_CHECK(!separator->empty(), ErrorCode::kInvalidArgument, "split(): empty separator");
  const std::string_view sep = *separator;
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      const size_t found = text.find(sep, start);
      if (found == std::string_view::npos) break;
      parts.emplace_back(text.substr(start, found - start));
      start = found + sep.size();
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  size_t end = text.size();
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    if (end < sep.size()) break;
    const size_t found = text.rfind(sep, end - sep.size());
    if (found == std::string_view::npos) break;
    parts.emplace_back(text.substr(found + sep.size(), end - found - sep.size()));
    end = found;
  }
  parts.emplace_back(text.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> py_splitlines(std::string_view text, bool keep_ends) {
  std::vector<std::string> lines;
  size_t line_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t c = 0;
    const size_t width = utf8_decode(text, pos, c);
    if (!is_python_line_break(c)) {
      pos += width;
      continue;
    }
    size_t next = pos + width;
    if (c == U'\r' && next < text.size() && text[next] == '\n') ++next;
    lines.emplace_back(text.substr(line_start, (keep_ends ? next : pos) - line_start));
    line_start = pos = next;
  }
  if (line_start < text.size()) lines.emplace_back(text.substr(line_start));
  return lines;
}

namespace {

template <class Map>
std::string map_code_points(std::string_view text, Map map) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = 0;
    pos += utf8_decode(text, pos, c);
    utf8_append(out, map(c));
  }
  return out;
}

bool is_cased(char32_t c) {
  return is_cased_upper(c) || is_cased_lower(c);
}

}  // namespace

std::string py_upper(std::string_view text) {
  return map_code_points(text, to_upper);
}

std::string py_lower(std::string_view text) {
  return map_code_points(text, to_lower);
}

std::string py_swapcase(std::string_view text) {
  return map_code_points(text, [](char32_t c) { return is_cased_upper(c) ? to_lower(c) : to_upper(c); });
}

std::string py_title(std::string_view text) {
  bool previous_cased = false;
  return map_code_points(text, [&](char32_t c) {
    const char32_t mapped = previous_cased ? to_lower(c) : to_upper(c);
    previous_cased = is_cased(c);
    return mapped;
  });
}

std::string py_capitalize(std::string_view text) {
  bool first = true;
  return map_code_points(text, [&](char32_t c) {
    const char32_t mapped = first ? to_upper(c) : to_lower(c);
    first = false;
    return mapped;
  });
}

std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement, int64_t count) {
  std::string out;
  int64_t done = 0;
  if (old.empty()) {
    size_t pos = 0;
    while (true) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      if (pos >= text.size()) break;
      char32_t c = 0;
      const size_t width = utf8_decode(text, pos, c);
      out.append(text.substr(pos, width));
      pos += width;
    }
    return out;
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    const size_t found = text.find(old, start);
    if (found == std::string_view::npos) break;
    out.append(text.substr(start, found - start));
    out += replacement;
    start = found + old.size();
    ++done;
  }
  out.append(text.substr(start));
  return out;
}

int64_t py_find(std::string_view text, std::string_view needle, std::optional<int64_t> start,
                std::optional<int64_t> end, bool from_right) {
  const std::u32string cps = utf8_to_code_points(text);
  const std::u32string sub = utf8_to_code_points(needle);
  const auto length = static_cast<int64_t>(cps.size());
  auto resolve = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t value = *v < 0 ? std::max<int64_t>(*v + length, 0) : *v;
    return std::min(value, length);
  };
  const int64_t begin = resolve(start, 0);
  const int64_t stop = resolve(end, length);
  const auto width = static_cast<int64_t>(sub.size());
  if (stop - begin < width) return -1;
  const std::u32string_view window =
      std::u32string_view(cps).substr(static_cast<size_t>(begin), static_cast<size_t>(stop - begin));
  const size_t found = from_right ? window.rfind(sub) : window.find(sub);
  return found == std::u32string_view::npos ? -1 : begin + static_cast<int64_t>(found);
}

int64_t py_count(std::string_view text, std::string_view needle) {
  if (needle.empty()) return static_cast<int64_t>(code_point_count(text)) + 1;
  int64_t count = 0;
  for (size_t pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

std::string py_pad(std::string_view text, int64_t width, std::string_view fill, Alignment alignment) {
  const auto length = static_cast<int64_t>(code_point_count(text));
  if (width <= length) return std::string(text);
  const int64_t margin = width - length;
  int64_t left = 0;
  switch (alignment) {
    case Alignment::kLeft: left = 0; break;
    case Alignment::kRight: left = margin; break;
    // CPython puts the odd character on the left only when both margin and width are odd.
    case Alignment::kCenter: left = margin / 2 + (margin & width & 1); break;
  }
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += text;
  for (int64_t i = left; i < margin; ++i) out += fill;
  return out;
}

}  // namespace ferrum::chat
