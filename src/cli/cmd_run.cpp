// `ferrum run`: one-shot completion or an interactive chat in the terminal.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "engine/generator.h"
#include "engine/model_aliases.h"
#include "engine/model_bundle.h"

namespace ferrum::cli {
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_generating{false};

// Ctrl-C stops the generation in progress; at the prompt (or pressed twice) it ends the program.
extern "C" void on_interrupt(int) {
  if (!g_generating.load() || g_interrupted.exchange(true)) std::_Exit(130);
}

struct RunFlags {
  ModelOptions model;
  std::string prompt;
  std::optional<std::string> prompt_file;
  size_t max_tokens = 512;
  SamplingFlags sampling;
  std::vector<std::string> stop;
  bool chat = false;
  bool raw = false;
  bool ignore_eos = false;
  std::optional<std::string> system;
};

// Tokens already in the state that the new prompt starts with stay cached; the rest is recomputed.
size_t common_prefix(const std::vector<int32_t>& cached, const std::vector<int32_t>& prompt) {
  size_t length = 0;
  while (length < cached.size() && length < prompt.size() && cached[length] == prompt[length]) ++length;
  return length;
}

void print_stats(const GenerationResult& result, size_t prompt_tokens_computed) {
  const double prefill_rate = result.prefill_seconds > 0 ? prompt_tokens_computed / result.prefill_seconds : 0;
  const double decode_rate = result.decode_seconds > 0 ? result.tokens.size() / result.decode_seconds : 0;
  std::fprintf(stderr, "\n[prompt: %zu tokens, %.1f tok/s | generation: %zu tokens, %.1f tok/s | %s]\n",
               prompt_tokens_computed, prefill_rate, result.tokens.size(), decode_rate,
               std::string(finish_reason_name(result.finish_reason)).c_str());
}

class Session {
 public:
  Session(ModelBundle& bundle, const RunFlags& flags)
      : bundle_(bundle), flags_(flags), generator_(*bundle.model, *bundle.tokenizer) {}

  Status init() {
    FERRUM_ASSIGN_OR_RETURN(state_, bundle_.model->new_sequence(bundle_.model->info().max_context));
    return ok();
  }

  // Generates after `prompt`, reusing whatever prefix of it the state already holds.
  Expected<GenerationResult> complete(std::vector<int32_t> prompt) {
    const size_t reused = common_prefix(cached_, prompt);
    // Keep at least one token to compute: the logits of the last prompt token are needed.
    const size_t keep = std::min(reused, prompt.size() - 1);
    state_->truncate(keep);
    cached_.resize(keep);
    GenerationRequest request;
    request.prompt.assign(prompt.begin() + static_cast<ptrdiff_t>(keep), prompt.end());
    request.max_new_tokens = flags_.max_tokens;
    request.sampling = flags_.sampling.resolve(bundle_.default_sampling());
    request.stop_strings = flags_.stop;
    request.stop_tokens.assign(bundle_.end_tokens.begin(), bundle_.end_tokens.end());
    request.ignore_eos = flags_.ignore_eos;

    g_interrupted = false;
    g_generating = true;
    auto result = generator_.generate(
        *state_, request,
        [](std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
        },
        &g_interrupted);
    g_generating = false;
    if (!result) return result;
    cached_ = prompt;
    cached_.insert(cached_.end(), result->tokens.begin(), result->tokens.end());
    cached_.resize(state_->length());
    print_stats(*result, request.prompt.size());
    return result;
  }

 private:
  ModelBundle& bundle_;
  const RunFlags& flags_;
  Generator generator_;
  std::unique_ptr<SequenceState> state_;
  std::vector<int32_t> cached_;
};

Expected<std::vector<int32_t>> tokenize_chat(const ModelBundle& bundle, const nlohmann::ordered_json& messages) {
  chat::ChatInputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = true;
  FERRUM_ASSIGN_OR_RETURN(std::string prompt, bundle.render_chat(inputs));
  // Templates write BOS themselves; special tokens in the rendering are real control tokens.
  return bundle.tokenizer->encode(prompt, {.add_special = false, .parse_special = true});
}

Status run_chat(ModelBundle& bundle, const RunFlags& flags) {
  Session session(bundle, flags);
  FERRUM_TRY(session.init());
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (flags.system) messages.push_back({{"role", "system"}, {"content", *flags.system}});
  if (!bundle.chat_template) std::fprintf(stderr, "(this model has no chat template: using ferrum's ChatML default)\n");
  std::fprintf(stderr, "Chat with %s. Ctrl-C stops a reply; /clear forgets the conversation; /exit or Ctrl-D quits.\n",
               bundle.resolved_path.c_str());
  std::string pending_first = flags.prompt;
  for (;;) {
    std::string line;
    if (!pending_first.empty()) {
      line = std::exchange(pending_first, {});
    } else {
      std::fputs("\n> ", stdout);
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
    }
    if (line == "/exit" || line == "/quit") break;
    if (line == "/clear") {
      messages = nlohmann::ordered_json::array();
      if (flags.system) messages.push_back({{"role", "system"}, {"content", *flags.system}});
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    FERRUM_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, tokenize_chat(bundle, messages));
    auto result = session.complete(std::move(prompt));
    if (!result) {
      std::fprintf(stderr, "error: %s\n", result.error().message().c_str());
      messages.erase(messages.size() - 1);
      continue;
    }
    messages.push_back({{"role", "assistant"}, {"content", result->text}});
  }
  return ok();
}

Status run_once(ModelBundle& bundle, const RunFlags& flags) {
  Session session(bundle, flags);
  FERRUM_TRY(session.init());
  std::vector<int32_t> prompt;
  if (!flags.raw && bundle.chat_template) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    if (flags.system) messages.push_back({{"role", "system"}, {"content", *flags.system}});
    messages.push_back({{"role", "user"}, {"content", flags.prompt}});
    FERRUM_ASSIGN_OR_RETURN(prompt, tokenize_chat(bundle, messages));
  } else {
    prompt = bundle.tokenizer->encode(flags.prompt, {.add_special = true, .parse_special = true});
    std::fwrite(flags.prompt.data(), 1, flags.prompt.size(), stdout);
  }
  FERRUM_ASSIGN_OR_RETURN(GenerationResult result, session.complete(std::move(prompt)));
  (void)result;
  std::fputc('\n', stdout);
  return ok();
}

}  // namespace

int run_run(int argc, char** argv) {
  RunFlags flags;
  ArgParser parser("ferrum run", "[MODEL] [options]");
  parser.positional("MODEL", &flags.model.model,
                    "a .gguf, a model directory, org/name in the HF cache, or an alias (ferrum run --list-aliases)",
                    false);
  parser.option("-p,--prompt", &flags.prompt, "prompt (one-shot unless -i)");
  parser.option("-f,--file", &flags.prompt_file, "read the prompt from a file");
  parser.option("-n,--n-predict", &flags.max_tokens, "most tokens to generate per reply (default 512)");
  parser.option("--stop", &flags.stop, "stop when this text appears (repeatable)");
  parser.flag("-i,--chat", &flags.chat, "interactive chat (the default without a prompt)");
  parser.option("--system", &flags.system, "system message");
  parser.flag("--raw", &flags.raw, "complete the prompt as plain text, without the chat template");
  parser.flag("--ignore-eos", &flags.ignore_eos, "keep generating past end-of-generation tokens");
  bool list_aliases = false;
  parser.flag("--list-aliases", &list_aliases, "print the model aliases and exit");
  register_sampling_flags(parser, flags.sampling);
  register_model_flags(parser, flags.model);
  return report_errors("run", [&]() -> Status {
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::cout << parser.usage();
      return ok();
    }
    if (list_aliases) {
      for (const ModelAlias& alias : model_aliases()) {
        std::printf("%-14s %-36s %s\n", std::string(alias.alias).c_str(), std::string(alias.repo).c_str(),
                    std::string(alias.description).c_str());
      }
      return ok();
    }
    if (flags.model.model.empty()) flags.model.model = kDefaultModelAlias;
    if (flags.prompt_file) {
      std::ifstream in(*flags.prompt_file);
      FERRUM_CHECK(in.good(), ErrorCode::kNotFound, "cannot read prompt file ", *flags.prompt_file);
      std::stringstream text;
      text << in.rdbuf();
      flags.prompt = text.str();
    }
    std::fprintf(stderr, "loading %s ...\n", flags.model.model.c_str());
    FERRUM_ASSIGN_OR_RETURN(ModelBundle bundle, load_model_bundle(flags.model));
    const CausalLmInfo& info = bundle.model->info();
    std::fprintf(stderr, "loaded %s (%s, %zu layers, %.2f GB of weights) on %s in %.2f s; context %zu tokens\n",
                 bundle.resolved_path.c_str(), info.architecture.c_str(), info.num_layers, info.weight_bytes / 1e9,
                 info.device.c_str(), bundle.load_seconds, info.max_context);
    std::signal(SIGINT, on_interrupt);
    if (flags.chat || flags.prompt.empty()) return run_chat(bundle, flags);
    return run_once(bundle, flags);
  });
}

}  // namespace ferrum::cli
