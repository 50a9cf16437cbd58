#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/commands.h"
#include "cli/encoder_checkpoint.h"
#include "models/bert.h"
#include "models/clip.h"
#include "tokenizer/loader.h"

namespace ferrum::cli {
namespace {

constexpr const char* kEmbedUsage =
    "usage: ferrum embed MODEL [TEXT] [--file F] [--ids ID,...] [--image-pixels F]\n"
    "  MODEL            a BERT or CLIP checkpoint directory (config.json + safetensors), or org/name\n"
    "  TEXT             the text to embed (or --file F to read it from a file)\n"
    "  --ids ID,...     embed these token ids instead of tokenizing text\n"
    "  --image-pixels F CLIP: embed an image given as preprocessed pixel values, raw float32\n"
    "                   [channels, size, size] as CLIPImageProcessor returns them\n"
    "BERT prints the mean-pooled, L2-normalised sentence embedding; CLIP prints get_text_features\n"
    "(or get_image_features), projected and not normalised. The output is one JSON array.\n";

int fail(const std::string& message) {
  std::fprintf(stderr, "ferrum embed: %s\n", message.c_str());
  return 1;
}

Expected<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FERRUM_CHECK(in.good(), ErrorCode::kNotFound, "cannot open ", path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

Expected<std::vector<float>> read_pixels(const std::string& path) {
  FERRUM_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  FERRUM_CHECK(bytes.size() % sizeof(float) == 0, ErrorCode::kParse, path, ": ", bytes.size(),
               " bytes are not a whole number of float32 values");
  std::vector<float> pixels(bytes.size() / sizeof(float));
  std::memcpy(pixels.data(), bytes.data(), bytes.size());
  return pixels;
}

// The ids to embed: given with --ids, or the text through the checkpoint's tokenizer (with the
// special tokens its post-processor adds: [CLS] ... [SEP] for BERT, start / end of text for CLIP).
Expected<std::vector<uint32_t>> input_ids(const EncoderCheckpoint& checkpoint, const std::string& ids_text,
                                          const std::optional<std::string>& text) {
  if (!ids_text.empty()) return parse_id_list(ids_text);
  FERRUM_CHECK(text.has_value(), ErrorCode::kInvalidArgument, "give TEXT, --file or --ids");
  FERRUM_CHECK(checkpoint.dir.tokenizer.has_value(), ErrorCode::kNotFound, checkpoint.dir.root.string(),
               ": no tokenizer.json to tokenize the text with (use --ids)");
  FERRUM_ASSIGN_OR_RETURN(auto tokenizer, tokenizer::load_tokenizer(*checkpoint.dir.tokenizer));
  std::vector<uint32_t> ids;
  for (tokenizer::TokenId id : tokenizer->encode(*text, {.add_special = true}))
    ids.push_back(static_cast<uint32_t>(id));
  return ids;
}

Expected<std::vector<float>> embed(const EncoderCheckpoint& checkpoint, const std::string& ids_text,
                                   const std::optional<std::string>& text, const std::string& pixels_path) {
  WeightLoader<CpuBackend> loader(*checkpoint.source, {});
  auto ctx = CpuBackend::new_context();
  switch (checkpoint.config.arch) {
    case ModelArch::kBert: {
      FERRUM_CHECK(pixels_path.empty(), ErrorCode::kInvalidArgument, "--image-pixels needs a CLIP model");
      FERRUM_ASSIGN_OR_RETURN(BertHParams hparams, bert_hparams(checkpoint.config));
      FERRUM_ASSIGN_OR_RETURN(auto model, BertModel<CpuBackend>::load(hparams, loader));
      FERRUM_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, input_ids(checkpoint, ids_text, text));
      return model.embed(ctx, ids);
    }
    case ModelArch::kClip: {
      FERRUM_ASSIGN_OR_RETURN(ClipHParams hparams, clip_hparams(checkpoint.config));
      FERRUM_ASSIGN_OR_RETURN(auto model, ClipModel<CpuBackend>::load(hparams, loader));
      if (!pixels_path.empty()) {
        FERRUM_ASSIGN_OR_RETURN(std::vector<float> pixels, read_pixels(pixels_path));
        return model.image_features(ctx, pixels);
      }
      FERRUM_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, input_ids(checkpoint, ids_text, text));
      return model.text_features(ctx, ids);
    }
    default:
      return make_error(ErrorCode::kUnsupported, checkpoint.config.architecture,
                        " is not an embedding model ferrum runs (BERT or CLIP)");
  }
}

}  // namespace

int run_embed(int argc, char** argv) {
  std::vector<std::string_view> operands;
  std::string file, ids_text, pixels_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--file" && i + 1 < argc) {
      file = argv[++i];
    } else if (arg == "--ids" && i + 1 < argc) {
      ids_text = argv[++i];
    } else if (arg == "--image-pixels" && i + 1 < argc) {
      pixels_path = argv[++i];
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kEmbedUsage, stdout);
      return 0;
    } else if (arg.starts_with("--")) {
      std::fputs(kEmbedUsage, stderr);
      return fail("unknown option " + std::string(arg));
    } else {
      operands.push_back(arg);
    }
  }
  const size_t inputs = (operands.size() > 1) + !file.empty() + !ids_text.empty() + !pixels_path.empty();
  if (operands.empty() || operands.size() > 2 || inputs != 1) {
    std::fputs(kEmbedUsage, stderr);
    return 2;
  }
  std::optional<std::string> text;
  if (operands.size() == 2) text = std::string(operands[1]);
  if (!file.empty()) {
    auto content = read_file(file);
    if (!content) return fail(content.error().to_string());
    text = std::move(*content);
  }
  auto checkpoint = open_encoder_checkpoint(operands[0]);
  if (!checkpoint) return fail(checkpoint.error().to_string());
  auto embedding = embed(*checkpoint, ids_text, text, pixels_path);
  if (!embedding) return fail(embedding.error().to_string());
  std::string line = "[";
  char number[32];
  for (size_t i = 0; i < embedding->size(); ++i) {
    std::snprintf(number, sizeof number, "%s%.8g", i ? ", " : "", static_cast<double>((*embedding)[i]));
    line += number;
  }
  std::printf("%s]\n", line.c_str());
  return 0;
}

}  // namespace ferrum::cli
