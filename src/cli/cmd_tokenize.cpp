#include "cli/commands.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "formats/model_dir.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/loader.h"
#include "tokenizer/utf8.h"

namespace ferrum::cli {
namespace {

using tokenizer::TokenId;
using tokenizer::Tokenizer;

constexpr const char* kTokenizeUsage =
    "usage: ferrum tokenize MODEL [TEXT] [--file F] [--ids] [--no-special] [--parse-special]\n"
    "       ferrum tokenize MODEL --render-chat MESSAGES.json   (the prompt the chat template renders)\n"
    "  MODEL            a .gguf file, a model directory, a directory with tokenizer.json, or org/name\n"
    "  TEXT             the text to tokenize (or --file F to read it from a file)\n"
    "  --ids            print only the ids, as [1, 2, 3]\n"
    "  --no-special     do not add BOS/EOS\n"
    "  --parse-special  match control tokens such as <|im_start|> written in the text\n";

constexpr const char* kDetokenizeUsage =
    "usage: ferrum detokenize MODEL ID... [--skip-special] [--clean-up-spaces]\n"
    "  --skip-special      drop control tokens (BOS/EOS, <|im_start|>) from the text\n"
    "  --clean-up-spaces   transformers' clean_up_tokenization_spaces (\" ,\" -> \",\")\n";

Expected<std::unique_ptr<Tokenizer>> open_tokenizer(std::string_view model) {
  FERRUM_ASSIGN_OR_RETURN(std::filesystem::path path, resolve_model_path(model));
  return tokenizer::load_tokenizer(path);
}

// A piece as a quoted, printable string: valid UTF-8 stays, controls and stray bytes are escaped.
std::string printable_piece(std::string_view bytes) {
  std::string out = "'";
  size_t pos = 0;
  while (pos < bytes.size()) {
    const tokenizer::Utf8Step step = tokenizer::decode_utf8_step(bytes, pos);
    const unsigned char byte = static_cast<unsigned char>(bytes[pos]);
    if (step.kind != tokenizer::Utf8Step::Kind::kValid || byte < 0x20 || byte == 0x7F) {
      switch (byte) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default: {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\x%02X", byte);
          out += escaped;
        }
      }
      ++pos;
      continue;
    }
    out.append(bytes.substr(pos, step.length));
    pos += step.length;
  }
  return out + "'";
}

int fail(const std::string& message) {
  std::fprintf(stderr, "ferrum: %s\n", message.c_str());
  return 1;
}

}  // namespace

int run_tokenize(int argc, char** argv) {
  // `ferrum tokenize MODEL --render-chat FILE.json` prints the prompt the model's template renders.
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--render-chat") return run_render_chat(argc, argv);
  }
  std::vector<std::string_view> operands;
  std::string file;
  bool ids_only = false;
  tokenizer::EncodeOptions options{.add_special = true, .parse_special = false};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--ids") {
      ids_only = true;
    } else if (arg == "--no-special") {
      options.add_special = false;
    } else if (arg == "--parse-special") {
      options.parse_special = true;
    } else if (arg == "--file" && i + 1 < argc) {
      file = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kTokenizeUsage, stdout);
      return 0;
    } else if (arg.starts_with("--")) {
      std::fputs(kTokenizeUsage, stderr);
      return fail("tokenize: unknown option " + std::string(arg));
    } else {
      operands.push_back(arg);
    }
  }
  if (operands.empty() || (operands.size() != 2 && file.empty()) || (operands.size() != 1 && !file.empty())) {
    std::fputs(kTokenizeUsage, stderr);
    return 2;
  }
  std::string text;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail("tokenize: cannot open " + file);
    std::ostringstream content;
    content << in.rdbuf();
    text = content.str();
  } else {
    text = operands[1];
  }

  auto loaded = open_tokenizer(operands[0]);
  if (!loaded) return fail(loaded.error().to_string());
  const Tokenizer& tok = **loaded;
  const std::vector<TokenId> ids = tok.encode(text, options);
  if (ids_only) {
    std::string line = "[";
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]\n", line.c_str());
    return 0;
  }
  for (TokenId id : ids) {
    auto piece = tokenizer::token_piece(tok.vocab(), id, {.render_special = true});
    std::printf("%6d -> %s\n", id, piece ? printable_piece(*piece).c_str() : "?");
  }
  return 0;
}

int run_detokenize(int argc, char** argv) {
  std::string_view model;
  std::vector<TokenId> ids;
  tokenizer::DecodeOptions options{.render_special = true};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--skip-special") {
      options.render_special = false;
    } else if (arg == "--clean-up-spaces") {
      options.clean_up_spaces = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kDetokenizeUsage, stdout);
      return 0;
    } else if (model.empty()) {
      model = arg;
    } else {
      // Ids may come as separate arguments or as one "[1, 2, 3]" as tokenize --ids prints them.
      std::string cleaned(arg);
      for (char& c : cleaned) {
        if (c == '[' || c == ']' || c == ',') c = ' ';
      }
      std::istringstream numbers(cleaned);
      for (std::string number; numbers >> number;) {
        TokenId id = 0;
        const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), id);
        if (error != std::errc() || end != number.data() + number.size()) {
          std::fputs(kDetokenizeUsage, stderr);
          return fail("detokenize: '" + number + "' is not a token id");
        }
        ids.push_back(id);
      }
    }
  }
  if (model.empty()) {
    std::fputs(kDetokenizeUsage, stderr);
    return 2;
  }
  auto loaded = open_tokenizer(model);
  if (!loaded) return fail(loaded.error().to_string());
  auto text = tokenizer::decode((*loaded)->vocab(), ids, options);
  if (!text) return fail(text.error().to_string());
  std::printf("%s\n", text->c_str());
  return 0;
}

}  // namespace ferrum::cli
