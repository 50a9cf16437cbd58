// Everything `run`, `serve` and `bench` need of a model, built through one path from one set of
// options, so the same flags mean the same thing everywhere: the weights on a backend, the
// tokenizer, the chat template and the tokens that end a turn.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "chat/chat_template.h"
#include "engine/sampling.h"
#include "formats/generation_config.h"
#include "models/causal_lm.h"
#include "models/causal_lm_factory.h"
#include "models/model_files.h"
#include "tokenizer/tokenizer.h"

namespace ferrum {

struct ModelOptions {
  std::string model;           // a path, org/name in the HF cache, or an alias (see model_aliases.h)
  std::string device = "cpu";  // cpu or cuda
  std::string dtype = "bf16";  // cuda activations: bf16 or f32 (the CPU runs f32 whatever this says)
  size_t threads = 0;          // CPU threads; 0 = all cores
  size_t context = 4096;       // tokens a sequence may hold (capped by the model)
  size_t batch_tokens = 512;   // tokens per forward step
  std::optional<std::string> chat_template_file;
};

struct ModelBundle {
  std::string resolved_path;
  ModelFiles files;
  std::unique_ptr<CausalLm> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unordered_set<int32_t> end_tokens;
  std::optional<GenerationConfig> generation_config;
  // The model's own chat template, or nullopt when it has none (a base model).
  std::optional<chat::ChatTemplate> chat_template;
  double load_seconds = 0;

  // Renders a conversation with the model's template, or with ferrum's default (ChatML) when it
  // has none; bos / eos come from the tokenizer.
  Expected<std::string> render_chat(chat::ChatInputs inputs) const;
  // Sampling defaults: llama.cpp's (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05), overridden by
  // what the model's generation_config.json recommends.
  SamplingParams default_sampling() const;
};

Expected<ModelBundle> load_model_bundle(const ModelOptions& options);

// The model of `files` on options.device ("cpu" or "cuda"; cuda in a FERRUM_CUDA build), with
// options.dtype as the CUDA activation dtype: the one path every command builds models through.
Expected<std::unique_ptr<CausalLm>> create_model_on_device(const ModelFiles& files, const ModelOptions& options,
                                                           ModelRuntimeOptions runtime);

}  // namespace ferrum
