#include "engine/model_bundle.h"

#include <chrono>

#include "chat/template_source.h"
#include "core/thread_pool.h"
#include "engine/model_aliases.h"
#include "engine/stop_conditions.h"
#include "engine/tensor_parallel_launch.h"
#include "formats/gguf_file.h"
#include "models/causal_lm_factory.h"
#include "tokenizer/loader.h"

namespace ferrum {

namespace {

Expected<chat::ChatTemplateSet> find_chat_templates(const ModelOptions& options, const ModelFiles& files) {
  if (options.chat_template_file) return chat::load_chat_template_file(*options.chat_template_file);
  if (!files.is_gguf()) return chat::load_chat_templates_from_directory(files.dir.root.string());
  FERRUM_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(files.dir.weights));
  std::vector<std::pair<std::string, std::string>> templates;
  for (const GgufKeyValue& entry : gguf.metadata()) {
    if (!entry.key.starts_with("tokenizer.chat_template")) continue;
    if (auto text = entry.value.as_string()) templates.emplace_back(std::string(entry.key), std::string(*text));
  }
  return chat::chat_templates_from_gguf_metadata(templates);
}

std::optional<std::string> token_text(const tokenizer::Vocab& vocab, tokenizer::TokenId id) {
  if (!vocab.contains(id)) return std::nullopt;
  return std::string(vocab.text(id));
}

}  // namespace

Expected<std::string> ModelBundle::render_chat(chat::ChatInputs inputs) const {
  const tokenizer::Vocab& vocab = tokenizer->vocab();
  if (!inputs.bos_token) inputs.bos_token = token_text(vocab, vocab.special().bos);
  if (!inputs.eos_token) inputs.eos_token = token_text(vocab, vocab.special().eos);
  if (chat_template) return chat_template->render_chat(inputs);
  FERRUM_ASSIGN_OR_RETURN(chat::ChatTemplate fallback,
                          chat::ChatTemplate::parse(chat::default_chat_template(), "ferrum default (ChatML)"));
  return fallback.render_chat(inputs);
}

SamplingParams ModelBundle::default_sampling() const {
  SamplingParams params;
  params.temperature = 0.8f;
  params.top_k = 40;
  params.top_p = 0.95f;
  params.min_p = 0.05f;
  if (!generation_config) return params;
  const GenerationConfig& g = *generation_config;
  if (g.do_sample && !*g.do_sample) params.temperature = 0.0f;
  if (g.temperature) params.temperature = static_cast<float>(*g.temperature);
  if (g.top_k) params.top_k = static_cast<int>(*g.top_k);
  if (g.top_p) params.top_p = static_cast<float>(*g.top_p);
  if (g.min_p) params.min_p = static_cast<float>(*g.min_p);
  if (g.repetition_penalty) params.repetition_penalty = static_cast<float>(*g.repetition_penalty);
  return params;
}

Expected<std::unique_ptr<CausalLm>> create_model_on_device(const ModelFiles& files, const ModelOptions& options,
                                                           ModelRuntimeOptions runtime) {
  if (options.device == "cpu") return create_cpu_causal_lm(files, runtime);
  if (options.device != "cuda") {
    return make_error(ErrorCode::kInvalidArgument, "unknown device '", options.device, "' (cpu or cuda)");
  }
#ifdef FERRUM_HAS_CUDA
  if (options.dtype == "bf16") {
    runtime.compute_dtype = DType::kBF16;
  } else if (options.dtype == "f32") {
    runtime.compute_dtype = DType::kF32;
  } else {
    return make_error(ErrorCode::kInvalidArgument, "--dtype '", options.dtype, "': cuda runs bf16 or f32");
  }
  return create_cuda_causal_lm(files, runtime);
#else
  return make_error(ErrorCode::kUnsupported, "this build has no CUDA backend: build with `cmake --preset cuda`");
#endif
}

Expected<ModelBundle> load_model_bundle(const ModelOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ModelBundle bundle;
  FERRUM_ASSIGN_OR_RETURN(bundle.resolved_path, resolve_model_spec(options.model));
  FERRUM_ASSIGN_OR_RETURN(bundle.files, open_model_files(bundle.resolved_path));
  if (options.threads != 0) set_default_thread_count(options.threads);

  ModelRuntimeOptions runtime;
  runtime.max_context = options.context;
  runtime.max_batch_tokens = options.batch_tokens;
  FERRUM_ASSIGN_OR_RETURN(bundle.model, load_causal_lm(bundle.files, bundle.resolved_path, options, runtime));

  const std::filesystem::path tokenizer_source =
      bundle.files.is_gguf() ? bundle.files.dir.weights : bundle.files.dir.root;
  auto tokenizer = tokenizer::load_tokenizer(tokenizer_source);
  if (!tokenizer) return std::move(tokenizer).error().with_context("loading the tokenizer");
  bundle.tokenizer = std::move(*tokenizer);
  FERRUM_CHECK(bundle.tokenizer->vocab().size() <= bundle.model->info().vocab_size, ErrorCode::kShapeMismatch,
               "the tokenizer has ", bundle.tokenizer->vocab().size(), " tokens but the model only ",
               bundle.model->info().vocab_size, " logits");
  bundle.end_tokens = end_of_generation_tokens(bundle.tokenizer->vocab(), bundle.files.config);
  if (bundle.files.dir.generation_config) {
    FERRUM_ASSIGN_OR_RETURN(bundle.generation_config, load_generation_config(*bundle.files.dir.generation_config));
    for (int64_t id : bundle.generation_config->eos_token_ids) {
      if (bundle.tokenizer->vocab().contains(static_cast<int32_t>(id)))
        bundle.end_tokens.insert(static_cast<int32_t>(id));
    }
  }

  FERRUM_ASSIGN_OR_RETURN(chat::ChatTemplateSet templates, find_chat_templates(options, bundle.files));
  if (!templates.empty()) {
    FERRUM_ASSIGN_OR_RETURN(std::string source, templates.select());
    FERRUM_ASSIGN_OR_RETURN(bundle.chat_template, chat::ChatTemplate::parse(source, bundle.resolved_path));
  }
  bundle.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return bundle;
}

}  // namespace ferrum
