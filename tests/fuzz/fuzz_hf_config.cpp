// Feeds arbitrary text to the config.json parser (and the quantization-config parser).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/hf_config.h"
#include "formats/json_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = ferrum::parse_json(text, "fuzz/config.json");
  if (!json) return 0;
  auto config = ferrum::parse_hf_config(*json, "fuzz/config.json");
  if (config) {
    if (const ferrum::DecoderConfig* decoder = config->decoder()) {
      // Derived per-layer tables must match the layer count the parser accepted.
      if (decoder->layer_types.size() != static_cast<size_t>(decoder->num_layers)) __builtin_trap();
      if (decoder->moe && decoder->moe->layer_is_moe.size() != static_cast<size_t>(decoder->num_layers)) {
        __builtin_trap();
      }
    }
  }
  (void)ferrum::parse_quantization_config(*json, "fuzz/quantize_config.json", "gptq");
  return 0;
}
