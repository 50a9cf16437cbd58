// Everything `run`, `serve` and `bench` need of a model, built through one path from one set of
// options, so the same flags mean the same thing everywhere: the weights on a backend, the
// tokenizer, the chat template and the tokens that end a turn.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "chat/chat_template.h"
#include "engine/sampling.h"
#include "formats/generation_config.h"
#include "models/causal_lm.h"
#include "models/causal_lm_factory.h"
#include "models/model_files.h"
#include "tokenizer/tokenizer.h"

namespace ferrum {

// Tensor parallelism (docs/tensor-parallel.md): one model split over tensor_parallel_size
// processes, one per GPU, spread equally over nnodes hosts. Rank 0 (node 0's first process) loads
// its shard, starts the other ranks of its host and serves; every other host runs the same command
// with its node_rank, starts its own ranks and follows rank 0.
struct ParallelOptions {
  size_t tensor_parallel_size = 1;
  size_t nnodes = 1;
  size_t node_rank = 0;
  std::string master_addr = "127.0.0.1";  // rank 0's host, as the other hosts reach it
  uint16_t master_port = 0;               // rank 0's port; 0 picks a free one (one host only)
  // The command line, before the worker flags, that starts a rank's process; empty: this very
  // binary's hidden `tp-worker` command (/proc/self/exe tp-worker).
  std::vector<std::string> worker_command;
  // When a rank dies, rank 0 reports it and ends the process (the group cannot go on, and a
  // server must not sit on a broken model); false leaves it to the next step to fail (tests).
  bool exit_when_a_rank_dies = true;
};

struct ModelOptions {
  std::string model;           // a path, org/name in the HF cache, or an alias (see model_aliases.h)
  std::string device = "cpu";  // cpu or cuda
  std::string dtype = "bf16";  // cuda activations: bf16 or f32 (the CPU runs f32 whatever this says)
  size_t threads = 0;          // CPU threads; 0 = all cores
  size_t context = 4096;       // tokens a sequence may hold (capped by the model)
  size_t batch_tokens = 512;   // tokens per forward step
  std::optional<std::string> chat_template_file;
  ParallelOptions parallel;
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

// With options.parallel.node_rank above 0 this does not return (see load_causal_lm).
Expected<ModelBundle> load_model_bundle(const ModelOptions& options);

// The model of `files` on options.device ("cpu" or "cuda"; cuda in a FERRUM_CUDA build), with
// options.dtype as the CUDA activation dtype: the one path every command builds models through
// (each rank's shard too: load_causal_lm in tensor_parallel_launch.h, with runtime.rank_group set).
Expected<std::unique_ptr<CausalLm>> create_model_on_device(const ModelFiles& files, const ModelOptions& options,
                                                           ModelRuntimeOptions runtime);

}  // namespace ferrum
