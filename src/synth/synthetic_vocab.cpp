#include "synth/synthetic_vocab.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "tokenizer/byte_level.h"

namespace ferrum::synth {
namespace {

using nlohmann::ordered_json;

constexpr int32_t kNormal = 1;
constexpr int32_t kControl = 3;
constexpr int32_t kUnused = 5;

// ChatML: simple, and the control tokens it needs are ours.
constexpr std::string_view kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string byte_level(std::string_view bytes) {
  std::string out;
  tokenizer::append_byte_level(out, bytes);
  return out;
}

}  // namespace

Expected<BpeVocab> make_synthetic_vocab(size_t vocab_size) {
  const std::vector<std::string> specials = {"<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"};
  FERRUM_CHECK(vocab_size >= 256 + specials.size(), ErrorCode::kInvalidArgument, "a byte-level vocabulary needs at ",
               "least ", 256 + specials.size(), " tokens, the preset has ", vocab_size);
  BpeVocab vocab;
  for (int byte = 0; byte < 256; ++byte) vocab.tokens.push_back(byte_level(std::string(1, static_cast<char>(byte))));
  vocab.token_types.assign(256, kNormal);

  // Merges grow words one lowercase letter at a time from word starts (a space or any letter or
  // digit), breadth first: every merge joins a token that already exists with one byte, and every
  // result is new, so the merge list is valid BPE of any length.
  std::string starts = " ";
  for (char c = 'a'; c <= 'z'; ++c) starts += c;
  for (char c = 'A'; c <= 'Z'; ++c) starts += c;
  for (char c = '0'; c <= '9'; ++c) starts += c;
  std::string continuations;
  for (char c = 'a'; c <= 'z'; ++c) continuations += c;
  const size_t merge_count = vocab_size - 256 - specials.size();
  std::vector<std::string> level(starts.size());
  for (size_t i = 0; i < starts.size(); ++i) level[i] = std::string(1, starts[i]);
  while (vocab.merges.size() < merge_count) {
    std::vector<std::string> next;
    for (const std::string& prefix : level) {
      for (char c : continuations) {
        if (vocab.merges.size() == merge_count) break;
        vocab.merges.push_back(byte_level(prefix) + " " + byte_level(std::string(1, c)));
        vocab.tokens.push_back(byte_level(prefix + c));
        vocab.token_types.push_back(kNormal);
        next.push_back(prefix + c);
      }
    }
    level = std::move(next);
  }
  for (const std::string& special : specials) {
    vocab.tokens.push_back(special);
    vocab.token_types.push_back(kControl);
  }
  const auto first_special = static_cast<int32_t>(vocab_size - specials.size());
  vocab.bos = first_special;
  vocab.eos = first_special + 1;
  vocab.end_of_turn = first_special + 3;
  vocab.chat_template = std::string(kChatMlTemplate);
  return vocab;
}

Expected<BpeVocab> read_bpe_vocab(const std::filesystem::path& tokenizer_json, size_t vocab_size,
                                  std::string pre_tokenizer) {
  std::ifstream file(tokenizer_json, std::ios::binary);
  FERRUM_CHECK(file.good(), ErrorCode::kNotFound, "cannot open ", tokenizer_json.string());
  std::ostringstream text;
  text << file.rdbuf();
  const nlohmann::json root = nlohmann::json::parse(text.str(), nullptr, false);
  FERRUM_CHECK(!root.is_discarded() && root.is_object(), ErrorCode::kParse, tokenizer_json.string(),
               " is not valid JSON");
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& model = root.contains("model") ? root["model"] : kEmpty;
  FERRUM_CHECK(model.is_object() && model.value("type", "") == "BPE", ErrorCode::kUnsupported, tokenizer_json.string(),
               ": only byte-level BPE tokenizers can be written to GGUF here (model type '", model.value("type", ""),
               "')");
  BpeVocab vocab;
  vocab.pre_tokenizer = std::move(pre_tokenizer);
  vocab.tokens.assign(vocab_size, "");
  vocab.token_types.assign(vocab_size, kUnused);
  const auto place = [&](const std::string& token, int64_t id, int32_t type) -> Status {
    FERRUM_CHECK(id >= 0 && static_cast<size_t>(id) < vocab_size, ErrorCode::kShapeMismatch, tokenizer_json.string(),
                 ": token '", token, "' has id ", id, ", outside the preset's vocabulary of ", vocab_size);
    vocab.tokens[static_cast<size_t>(id)] = token;
    vocab.token_types[static_cast<size_t>(id)] = type;
    return ok();
  };
  // Bound to a name first: items() of a temporary would iterate a destroyed object.
  const nlohmann::json& tokens = model.contains("vocab") ? model["vocab"] : kEmpty;
  for (const auto& [token, id] : tokens.items()) {
    FERRUM_CHECK(id.is_number_integer(), ErrorCode::kParse, tokenizer_json.string(), ": token '", token,
                 "' has a non-integer id");
    FERRUM_TRY(place(token, id.get<int64_t>(), kNormal));
  }
  for (const nlohmann::json& added : root.value("added_tokens", nlohmann::json::array())) {
    FERRUM_TRY(place(added.value("content", ""), added.value("id", int64_t{-1}),
                     added.value("special", false) ? kControl : kNormal));
  }
  for (size_t id = 0; id < vocab_size; ++id) {
    if (vocab.token_types[id] == kUnused) vocab.tokens[id] = "[PAD" + std::to_string(id) + "]";
  }
  for (const nlohmann::json& merge : model.value("merges", nlohmann::json::array())) {
    if (merge.is_string()) {
      vocab.merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2) {
      vocab.merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    }
  }
  // Special tokens and the chat template live in tokenizer_config.json beside it.
  const std::filesystem::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  std::ifstream config_file(config_path, std::ios::binary);
  if (config_file.good()) {
    std::ostringstream config_text;
    config_text << config_file.rdbuf();
    const nlohmann::json config = nlohmann::json::parse(config_text.str(), nullptr, false);
    const auto id_of = [&](const char* key) -> int32_t {
      if (config.is_discarded() || !config.contains(key)) return -1;
      const nlohmann::json& value = config[key];
      const std::string content = value.is_string()                                ? value.get<std::string>()
                                  : value.is_object() && value.contains("content") ? value["content"].get<std::string>()
                                                                                   : "";
      for (size_t id = 0; id < vocab.tokens.size(); ++id) {
        if (!content.empty() && vocab.tokens[id] == content) return static_cast<int32_t>(id);
      }
      return -1;
    };
    vocab.bos = id_of("bos_token");
    vocab.eos = id_of("eos_token");
    if (!config.is_discarded() && config.contains("chat_template") && config["chat_template"].is_string()) {
      vocab.chat_template = config["chat_template"].get<std::string>();
    }
  }
  return vocab;
}

std::string tokenizer_json_text(const BpeVocab& vocab) {
  ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  ordered_json added = ordered_json::array();
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    if (vocab.token_types[id] != kControl) continue;
    added.push_back({{"id", id},
                     {"content", vocab.tokens[id]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  root["added_tokens"] = std::move(added);
  root["normalizer"] = nullptr;
  root["pre_tokenizer"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  root["post_processor"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  // The model section is written by hand: an ordered_json object inserts in linear time, and a
  // vocabulary of 262k tokens would take minutes.
  std::string model = R"({"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, )"
                      R"("end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, )"
                      R"("ignore_merges": false, "vocab": {)";
  bool first = true;
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    if (vocab.token_types[id] != kNormal) continue;
    model += (first ? "\n  " : ",\n  ") + ordered_json(vocab.tokens[id]).dump() + ": " + std::to_string(id);
    first = false;
  }
  model += "},\n \"merges\": " + ordered_json(vocab.merges).dump() + "}";
  root["model"] = "@MODEL@";
  std::string text = root.dump(1);
  text.replace(text.find("\"@MODEL@\""), 9, model);
  return text;
}

std::string tokenizer_config_text(const BpeVocab& vocab) {
  ordered_json config;
  const auto token = [&](int32_t id) -> ordered_json {
    return id >= 0 ? ordered_json(vocab.tokens[static_cast<size_t>(id)]) : ordered_json(nullptr);
  };
  config["tokenizer_class"] = "PreTrainedTokenizerFast";
  config["bos_token"] = token(vocab.bos);
  config["eos_token"] = token(vocab.end_of_turn >= 0 ? vocab.end_of_turn : vocab.eos);
  config["add_bos_token"] = true;
  config["clean_up_tokenization_spaces"] = false;
  config["model_max_length"] = 131072;
  config["chat_template"] = vocab.chat_template;
  return config.dump(2);
}

void add_gguf_tokenizer(GgufWriter& writer, const BpeVocab& vocab) {
  writer.set_string("tokenizer.ggml.model", "gpt2");
  writer.set_string("tokenizer.ggml.pre", vocab.pre_tokenizer);
  writer.set_string_array("tokenizer.ggml.tokens", vocab.tokens);
  writer.set_array<int32_t>("tokenizer.ggml.token_type", vocab.token_types);
  writer.set_string_array("tokenizer.ggml.merges", vocab.merges);
  if (vocab.bos >= 0) writer.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos));
  if (vocab.eos >= 0) writer.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos));
  if (vocab.end_of_turn >= 0) writer.set_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(vocab.end_of_turn));
  writer.set_bool("tokenizer.ggml.add_bos_token", vocab.bos >= 0);
  writer.set_bool("tokenizer.ggml.add_eos_token", false);
  if (!vocab.chat_template.empty()) writer.set_string("tokenizer.chat_template", vocab.chat_template);
}

}  // namespace ferrum::synth
