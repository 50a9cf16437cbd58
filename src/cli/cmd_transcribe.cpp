#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_file.h"
#include "audio/log_mel.h"
#include "backend/cpu/cpu_backend.h"
#include "cli/commands.h"
#include "cli/encoder_checkpoint.h"
#include "models/whisper.h"
#include "models/whisper_transcribe.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/loader.h"

namespace ferrum::cli {
namespace {

constexpr const char* kTranscribeUsage =
    "usage: ferrum transcribe MODEL AUDIO [--language L] [--task transcribe|translate] [--ids]\n"
    "                         [--max-new-tokens N]\n"
    "  MODEL              a Whisper checkpoint directory (config.json + safetensors), or org/name\n"
    "  AUDIO              a WAV, FLAC or OGG file, any sample rate (resampled to 16 kHz), mixed to mono\n"
    "  --language L       the spoken language (en, de, ...); detected per chunk when not given\n"
    "  --task T           transcribe (default) or translate (into English)\n"
    "  --ids              print token ids instead of text (also when the model has no tokenizer.json)\n"
    "  --max-new-tokens N at most N tokens per 30 s chunk\n"
    "The audio is cut into 30 s chunks, each decoded greedily without timestamps.\n";

constexpr size_t kSampleRate = 16000;
constexpr size_t kHop = 160;

int fail(const std::string& message) {
  std::fprintf(stderr, "ferrum transcribe: %s\n", message.c_str());
  return 1;
}

struct Options {
  std::string model, audio;
  WhisperTranscribeOptions transcribe;
  bool ids_only = false;
};

// Transcribes every chunk; prints text when a tokenizer is there (and wanted), else ids per chunk.
Status transcribe(const Options& options) {
  // The audio first: a bad file fails before the model loads.
  FERRUM_ASSIGN_OR_RETURN(std::vector<float> samples, audio::load_audio(options.audio, kSampleRate));
  FERRUM_ASSIGN_OR_RETURN(EncoderCheckpoint checkpoint, open_encoder_checkpoint(options.model));
  FERRUM_ASSIGN_OR_RETURN(WhisperHParams hparams, whisper_hparams(checkpoint.config));
  FERRUM_ASSIGN_OR_RETURN(WhisperSpecialTokens special,
                          whisper_special_tokens(checkpoint.config, checkpoint.dir.generation_config));
  WeightLoader<CpuBackend> loader(*checkpoint.source, {});
  FERRUM_ASSIGN_OR_RETURN(auto model, WhisperModel<CpuBackend>::load(hparams, loader));
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  if (!options.ids_only && checkpoint.dir.tokenizer) {
    FERRUM_ASSIGN_OR_RETURN(tokenizer, tokenizer::load_tokenizer(*checkpoint.dir.tokenizer));
  } else if (!options.ids_only) {
    std::fprintf(stderr, "ferrum transcribe: %s has no tokenizer.json; printing token ids\n",
                 checkpoint.dir.root.string().c_str());
  }

  // A chunk is what the encoder holds: 30 s (3000 frames, 1500 positions) for every released
  // checkpoint, less for a model with fewer source positions.
  const size_t frames = std::min<size_t>(3000, 2 * hparams.max_source_positions);
  const size_t chunk_samples = frames * kHop;
  auto ctx = CpuBackend::new_context();
  std::string text;
  for (size_t start = 0; start < samples.size(); start += chunk_samples) {
    const size_t count = std::min(chunk_samples, samples.size() - start);
    FERRUM_ASSIGN_OR_RETURN(audio::LogMel mel,
                            audio::whisper_log_mel(std::span(samples).subspan(start, count),
                                                   {.n_mels = hparams.num_mel_bins, .chunk_samples = chunk_samples}));
    FERRUM_ASSIGN_OR_RETURN(WhisperTranscript transcript,
                            whisper_transcribe_chunk(model, ctx, mel.values, mel.frames, special, options.transcribe));
    if (!tokenizer) {
      std::string line = "[";
      for (size_t i = 0; i < transcript.tokens.size(); ++i) {
        line += (i ? ", " : "") + std::to_string(transcript.tokens[i]);
      }
      std::printf("%s]\n", line.c_str());
      continue;
    }
    const std::vector<tokenizer::TokenId> ids(transcript.tokens.begin(), transcript.tokens.end());
    FERRUM_ASSIGN_OR_RETURN(std::string piece, tokenizer::decode(tokenizer->vocab(), ids, {.render_special = false}));
    text += piece;
  }
  if (tokenizer) {
    const size_t first = text.find_first_not_of(' ');
    std::printf("%s\n", first == std::string::npos ? "" : text.c_str() + first);
  }
  return ok();
}

}  // namespace

int run_transcribe(int argc, char** argv) {
  Options options;
  std::vector<std::string_view> operands;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--language" && i + 1 < argc) {
      options.transcribe.language = argv[++i];
    } else if (arg == "--task" && i + 1 < argc) {
      options.transcribe.task = argv[++i];
    } else if (arg == "--ids") {
      options.ids_only = true;
    } else if (arg == "--max-new-tokens" && i + 1 < argc) {
      const std::string_view value = argv[++i];
      size_t limit = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (error != std::errc() || end != value.data() + value.size() || limit == 0) {
        return fail("--max-new-tokens wants a positive integer, not '" + std::string(value) + "'");
      }
      options.transcribe.max_new_tokens = limit;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kTranscribeUsage, stdout);
      return 0;
    } else if (arg.starts_with("--")) {
      std::fputs(kTranscribeUsage, stderr);
      return fail("unknown option " + std::string(arg));
    } else {
      operands.push_back(arg);
    }
  }
  if (operands.size() != 2) {
    std::fputs(kTranscribeUsage, stderr);
    return 2;
  }
  options.model = operands[0];
  options.audio = operands[1];
  Status status = transcribe(options);
  if (!status) return fail(status.error().to_string());
  return 0;
}

}  // namespace ferrum::cli
