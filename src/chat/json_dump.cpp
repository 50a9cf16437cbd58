#include "chat/json_dump.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/printing.h"
#include "chat/utf8.h"

namespace ferrum::chat {
namespace {

// json.dumps raises "Circular reference detected" for self-containing values; nesting this deep is
// either that or a value no template means to print.
constexpr int kMaxJsonDepth = kMaxValueDepth;

void append_unicode_escape(std::string& out, unsigned unit) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "\\u%04x", unit);
  out += buffer;
}

void append_json_string(std::string& out, std::string_view text, bool ensure_ascii) {
  out.push_back('"');
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = 0;
    const size_t length = utf8_decode(text, pos, c);
    switch (c) {
      case U'"': out += "\\\""; break;
      case U'\\': out += "\\\\"; break;
      case U'\n': out += "\\n"; break;
      case U'\r': out += "\\r"; break;
      case U'\t': out += "\\t"; break;
      case U'\b': out += "\\b"; break;
      case U'\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          append_unicode_escape(out, c);
        } else if (c < 0x80 || !ensure_ascii) {
          out.append(text.substr(pos, length));
        } else if (c < 0x10000) {
          append_unicode_escape(out, c);
        } else {
          const char32_t offset = c - 0x10000;
          append_unicode_escape(out, 0xD800 + (offset >> 10));
          append_unicode_escape(out, 0xDC00 + (offset & 0x3FF));
        }
    }
    pos += length;
  }
  out.push_back('"');
}

std::string float_to_json(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return format_float(value);
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options)
      : options_(options),
        item_separator_(options.item_separator.value_or(options.indent ? "," : ", ")),
        key_separator_(options.key_separator.value_or(": ")) {}

  Status write(const Value& value, int depth) {
    FERRUM_CHECK(depth <= kMaxJsonDepth, ErrorCode::kLimitExceeded, "tojson: value nested deeper than ", kMaxJsonDepth,
                 " levels (circular reference?)");
    FERRUM_CHECK(out_.size() <= options_.max_bytes, ErrorCode::kLimitExceeded, "tojson: output exceeds ",
                 options_.max_bytes, " bytes");
    switch (value.kind()) {
      case ValueKind::kNone: out_ += "null"; return ok();
      case ValueKind::kBool: out_ += value.as_bool() ? "true" : "false"; return ok();
      case ValueKind::kInt: out_ += std::to_string(value.as_int()); return ok();
      case ValueKind::kFloat: out_ += float_to_json(value.as_float()); return ok();
      case ValueKind::kString: append_json_string(out_, value.as_string(), options_.ensure_ascii); return ok();
      case ValueKind::kList: return write_list(value.as_list(), depth);
      case ValueKind::kDict: return write_dict(value.as_dict(), depth);
      default:
        return make_error(ErrorCode::kInvalidArgument, "Object of type ", python_type_name(value),
                          " is not JSON serializable");
    }
  }

  std::string take() { return std::move(out_); }

 private:
  void newline(int depth) {
    if (!options_.indent) return;
    out_.push_back('\n');
    // A huge indent stops growing the output at the limit; the next write() reports it.
    for (int i = 0; i < depth && out_.size() <= options_.max_bytes; ++i) out_ += *options_.indent;
  }

  Status write_list(const List& list, int depth) {
    if (list.items.empty()) {
      out_ += "[]";
      return ok();
    }
    out_.push_back('[');
    for (size_t i = 0; i < list.items.size(); ++i) {
      if (i > 0) out_ += item_separator_;
      newline(depth + 1);
      FERRUM_TRY(write(list.items[i], depth + 1));
    }
    newline(depth);
    out_.push_back(']');
    return ok();
  }

  Expected<std::string> key_text(const Value& key) {
    switch (key.kind()) {
      case ValueKind::kString: return key.as_string();
      case ValueKind::kNone: return std::string("null");
      case ValueKind::kBool: return std::string(key.as_bool() ? "true" : "false");
      case ValueKind::kInt: return std::to_string(key.as_int());
      case ValueKind::kFloat: return float_to_json(key.as_float());
      default:
        return make_error(ErrorCode::kInvalidArgument, "keys must be str, int, float, bool or None, not ",
                          python_type_name(key));
    }
  }

  Status write_dict(const Dict& dict, int depth) {
    if (dict.empty()) {
      out_ += "{}";
      return ok();
    }
    std::vector<const std::pair<Value, Value>*> entries;
    for (const auto& entry : dict.entries()) entries.push_back(&entry);
    if (options_.sort_keys) {
      const bool all_strings =
          std::all_of(entries.begin(), entries.end(), [](auto* e) { return e->first.is_string(); });
      FERRUM_CHECK(all_strings, ErrorCode::kInvalidArgument, "tojson(sort_keys=true) supports only string keys");
      std::stable_sort(entries.begin(), entries.end(),
                       [](auto* a, auto* b) { return a->first.as_string() < b->first.as_string(); });
    }
    out_.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_ += item_separator_;
      newline(depth + 1);
      FERRUM_ASSIGN_OR_RETURN(std::string key, key_text(entries[i]->first));
      append_json_string(out_, key, options_.ensure_ascii);
      out_ += key_separator_;
      FERRUM_TRY(write(entries[i]->second, depth + 1));
    }
    newline(depth);
    out_.push_back('}');
    return ok();
  }

  const JsonDumpOptions& options_;
  std::string item_separator_;
  std::string key_separator_;
  std::string out_;
};

}  // namespace

Expected<std::string> dump_json(const Value& value, const JsonDumpOptions& options) {
  JsonWriter writer(options);
  FERRUM_TRY(writer.write(value, 0));
  std::string out = writer.take();
  FERRUM_CHECK(out.size() <= options.max_bytes, ErrorCode::kLimitExceeded, "tojson: output exceeds ", options.max_bytes,
               " bytes");
  return out;
}

}  // namespace ferrum::chat
