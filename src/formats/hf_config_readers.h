// Internal to the config.json parser: the per-family field readers hf_config.cpp dispatches to.
// Each reads one JSON object through JsonFields, which keeps the first error.
#pragma once

#include "formats/json_fields.h"
#include "formats/model_config.h"

namespace ferrum {

DecoderConfig read_hf_decoder(JsonFields& fields, ModelArch arch);
BertConfig read_hf_bert(JsonFields& fields);
WhisperConfig read_hf_whisper(JsonFields& fields);
ClipConfig read_hf_clip(JsonFields& fields);

}  // namespace ferrum
