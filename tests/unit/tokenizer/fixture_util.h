// Helpers shared by the tokenizer fixture tests: reading llama.cpp's .inp/.out test vectors and
// loading each fixture tokenizer once per test binary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ferrum::tokenizer::testing {

std::filesystem::path tokenizer_fixtures_dir();
std::string read_file_bytes(const std::filesystem::path& path);

// The cases of an .inp file: split on "\n__ggml_vocab_test__\n", dropping the empty piece after
// the last separator.
std::vector<std::string> read_vocab_test_inputs(const std::filesystem::path& path);
// One id list per line of an .out file.
std::vector<std::vector<TokenId>> read_vocab_test_outputs(const std::filesystem::path& path);

// The tokenizer for a fixture file name (relative to fixtures/tokenizer), loaded once; fails the
// calling test when it cannot be loaded.
const Tokenizer* fixture_tokenizer(const std::string& relative_path);

std::string format_ids(const std::vector<TokenId>& ids);
// Printable form of text for failure messages: escapes controls and non-ASCII as \xNN.
std::string escape_text(const std::string& text);

}  // namespace ferrum::tokenizer::testing
