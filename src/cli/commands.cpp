#include "cli/commands.h"

#include <array>

namespace ferrum::cli {

std::span<const Command> commands() {
  static constexpr std::array kCommands = {
      Command{"run", "generate text from a prompt, or chat in the terminal", run_run},
      Command{"serve", "serve a model over an OpenAI-compatible HTTP API", run_serve},
      Command{"pull", "download a model from the Hugging Face hub into the local cache", run_pull},
      Command{"inspect", "print a model file's metadata, tokenizer and tensors", run_inspect},
      Command{"tokenize", "print the token ids and pieces of a text", run_tokenize},
      Command{"detokenize", "print the text of token ids", run_detokenize},
      Command{"render-chat", "print the prompt a chat template renders from messages", run_render_chat},
      Command{"embed", "print the embedding of a text (BERT) or a text / image (CLIP)", run_embed},
      Command{"transcribe", "transcribe speech with a Whisper model", run_transcribe},
      Command{"quantize", "write a GGUF file with quantized weights from a GGUF file or a Hugging Face directory",
              run_quantize},
      Command{"logits", "print or save the logits of a forward pass over token ids", run_logits},
      Command{"gen-model", "write a random-weight model with the shapes of a real architecture", run_gen_model},
      Command{"bench", "measure prefill and decode speed against the memory-bandwidth and compute bounds", run_bench},
      Command{"bench-serve", "load-test an OpenAI-compatible server: throughput, TTFT, TPOT, latency percentiles",
              run_bench_serve},
      Command{"info", "print the build, the compiled backends and the CPU, and run a smoke test", run_info},
      Command{"tp-worker", "a tensor-parallel rank started by rank 0 (internal)", run_tp_worker, true},
  };
  return kCommands;
}

}  // namespace ferrum::cli
