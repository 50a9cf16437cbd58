#include "fixture_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "tokenizer/loader.h"

namespace ferrum::tokenizer::testing {

std::filesystem::path tokenizer_fixtures_dir() {
  return std::filesystem::path(FERRUM_FIXTURES_DIR) / "tokenizer";
}

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

std::vector<std::string> read_vocab_test_inputs(const std::filesystem::path& path) {
  const std::string content = read_file_bytes(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t start = 0;
  for (size_t pos = content.find(separator); pos != std::string::npos; pos = content.find(separator, start)) {
    cases.push_back(content.substr(start, pos - start));
    start = pos + separator.size();
  }
  return cases;
}

std::vector<std::vector<TokenId>> read_vocab_test_outputs(const std::filesystem::path& path) {
  std::istringstream content(read_file_bytes(path));
  std::vector<std::vector<TokenId>> lines;
  std::string line;
  while (std::getline(content, line)) {
    std::istringstream numbers(line);
    std::vector<TokenId> ids;
    for (TokenId id; numbers >> id;) ids.push_back(id);
    lines.push_back(std::move(ids));
  }
  return lines;
}

const Tokenizer* fixture_tokenizer(const std::string& relative_path) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  std::lock_guard lock(mutex);
  auto it = loaded.find(relative_path);
  if (it == loaded.end()) {
    auto tokenizer = load_tokenizer(tokenizer_fixtures_dir() / relative_path);
    if (!tokenizer) {
      ADD_FAILURE() << "loading " << relative_path << ": " << tokenizer.error().to_string();
      return nullptr;
    }
    it = loaded.emplace(relative_path, std::move(*tokenizer)).first;
  }
  return it->second.get();
}

std::string format_ids(const std::vector<TokenId>& ids) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  out << ']';
  return out.str();
}

std::string escape_text(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\x%02X", c);
      out += buffer;
    }
  }
  return out;
}

}  // namespace ferrum::tokenizer::testing
