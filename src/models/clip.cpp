#include "models/clip.h"

#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "models/clip_impl.h"
#include "models/llama.h"

namespace ferrum {
namespace {

Expected<ClipTowerHParams> tower_hparams(std::string_view tower, int64_t hidden, int64_t layers, int64_t heads,
                                         int64_t ffn, double eps, const std::string& act) {
  FERRUM_CHECK(hidden > 0 && layers > 0 && heads > 0 && ffn > 0, ErrorCode::kInvalidArgument, "clip ", tower,
               " config: sizes must be positive");
  FERRUM_CHECK(hidden % heads == 0, ErrorCode::kInvalidArgument, "clip ", tower, " config: ", heads,
               " heads do not divide hidden_size ", hidden);
  ClipTowerHParams hp;
  hp.hidden_size = static_cast<size_t>(hidden);
  hp.num_layers = static_cast<size_t>(layers);
  hp.num_heads = static_cast<size_t>(heads);
  hp.intermediate_size = static_cast<size_t>(ffn);
  hp.layer_norm_eps = static_cast<float>(eps);
  FERRUM_ASSIGN_OR_RETURN(hp.activation, activation_from_name(act));
  return hp;
}

}  // namespace

Expected<ClipHParams> clip_hparams(const ModelConfig& config) {
  const ClipConfig* clip = config.clip();
  FERRUM_CHECK(clip != nullptr, ErrorCode::kUnsupported, "architecture ", config.architecture, " is not CLIP");
  const ClipTextConfig& t = clip->text;
  const ClipVisionConfig& v = clip->vision;
  ClipHParams hp;
  FERRUM_ASSIGN_OR_RETURN(hp.text, tower_hparams("text", t.hidden_size, t.num_layers, t.num_heads, t.intermediate_size,
                                                 t.layer_norm_eps, t.hidden_act));
  FERRUM_ASSIGN_OR_RETURN(hp.vision, tower_hparams("vision", v.hidden_size, v.num_layers, v.num_heads,
                                                   v.intermediate_size, v.layer_norm_eps, v.hidden_act));
  FERRUM_CHECK(t.vocab_size > 0 && t.max_position_embeddings > 0 && clip->projection_dim > 0 && v.num_channels > 0,
               ErrorCode::kInvalidArgument, config.architecture, ": sizes in config.json must be positive");
  hp.vocab_size = static_cast<size_t>(t.vocab_size);
  hp.max_text_positions = static_cast<size_t>(t.max_position_embeddings);
  hp.text_eos_token_id = t.eos_token_id;
  hp.image_size = static_cast<size_t>(v.image_size);
  hp.patch_size = static_cast<size_t>(v.patch_size);  // the config parser checked it divides image_size
  hp.num_channels = static_cast<size_t>(v.num_channels);
  hp.projection_dim = static_cast<size_t>(clip->projection_dim);
  return hp;
}

Expected<size_t> clip_text_pool_index(std::span<const uint32_t> ids, int64_t eos_token_id) {
  FERRUM_CHECK(!ids.empty(), ErrorCode::kInvalidArgument, "clip text: no tokens");
  if (eos_token_id == 2) {
    return static_cast<size_t>(std::max_element(ids.begin(), ids.end()) - ids.begin());
  }
  const auto eos = std::find(ids.begin(), ids.end(), static_cast<uint32_t>(eos_token_id));
  FERRUM_CHECK(eos != ids.end(), ErrorCode::kInvalidArgument, "clip text: the ids hold no end-of-text token ",
               eos_token_id, " to pool at");
  return static_cast<size_t>(eos - ids.begin());
}

template class ClipModel<CpuBackend>;

}  // namespace ferrum
