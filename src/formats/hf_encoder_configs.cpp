// config.json fields of the encoder families: BERT, Whisper and CLIP.
#include "formats/hf_config_readers.h"

namespace ferrum {

BertConfig read_hf_bert(JsonFields& f) {
  BertConfig c;
  c.vocab_size = f.required_int("vocab_size");
  c.hidden_size = f.required_int("hidden_size");
  c.num_layers = f.required_int("num_hidden_layers");
  c.num_heads = f.required_int("num_attention_heads");
  c.intermediate_size = f.required_int("intermediate_size");
  c.hidden_act = f.string_or("hidden_act", "gelu");
  c.max_position_embeddings = f.int_or("max_position_embeddings", 512);
  c.type_vocab_size = f.int_or("type_vocab_size", 2);
  c.layer_norm_eps = f.number_or("layer_norm_eps", 1e-12);
  c.position_embedding_type = f.string_or("position_embedding_type", "absolute");
  if (c.num_heads > 0 && c.hidden_size % c.num_heads != 0) {
    f.fail("num_attention_heads", cat("is ", c.num_heads, ", which does not divide hidden_size ", c.hidden_size));
  }
  return c;
}

WhisperConfig read_hf_whisper(JsonFields& f) {
  WhisperConfig c;
  c.vocab_size = f.required_int("vocab_size");
  c.d_model = f.required_int("d_model");
  c.encoder_layers = f.required_int("encoder_layers");
  c.decoder_layers = f.required_int("decoder_layers");
  c.encoder_attention_heads = f.required_int("encoder_attention_heads");
  c.decoder_attention_heads = f.required_int("decoder_attention_heads");
  c.encoder_ffn_dim = f.required_int("encoder_ffn_dim");
  c.decoder_ffn_dim = f.required_int("decoder_ffn_dim");
  c.num_mel_bins = f.int_or("num_mel_bins", 80);
  c.max_source_positions = f.int_or("max_source_positions", 1500);
  c.max_target_positions = f.int_or("max_target_positions", 448);
  c.activation_function = f.string_or("activation_function", "gelu");
  c.scale_embedding = f.bool_or("scale_embedding", false);
  c.suppress_tokens = f.int_list("suppress_tokens");
  c.begin_suppress_tokens = f.int_list("begin_suppress_tokens");
  return c;
}

ClipConfig read_hf_clip(JsonFields& f) {
  ClipConfig c;
  JsonFields text = f.object("text_config");
  c.text.vocab_size = text.int_or("vocab_size", c.text.vocab_size);
  c.text.hidden_size = text.int_or("hidden_size", c.text.hidden_size);
  c.text.intermediate_size = text.int_or("intermediate_size", c.text.intermediate_size);
  c.text.num_layers = text.int_or("num_hidden_layers", c.text.num_layers);
  c.text.num_heads = text.int_or("num_attention_heads", c.text.num_heads);
  c.text.max_position_embeddings = text.int_or("max_position_embeddings", c.text.max_position_embeddings);
  c.text.hidden_act = text.string_or("hidden_act", c.text.hidden_act);
  c.text.layer_norm_eps = text.number_or("layer_norm_eps", c.text.layer_norm_eps);
  c.text.eos_token_id = text.int_or("eos_token_id", c.text.eos_token_id);
  JsonFields vision = f.object("vision_config");
  c.vision.hidden_size = vision.int_or("hidden_size", c.vision.hidden_size);
  c.vision.intermediate_size = vision.int_or("intermediate_size", c.vision.intermediate_size);
  c.vision.num_layers = vision.int_or("num_hidden_layers", c.vision.num_layers);
  c.vision.num_heads = vision.int_or("num_attention_heads", c.vision.num_heads);
  c.vision.image_size = vision.int_or("image_size", c.vision.image_size);
  c.vision.patch_size = vision.int_or("patch_size", c.vision.patch_size);
  c.vision.num_channels = vision.int_or("num_channels", c.vision.num_channels);
  c.vision.hidden_act = vision.string_or("hidden_act", c.vision.hidden_act);
  c.vision.layer_norm_eps = vision.number_or("layer_norm_eps", c.vision.layer_norm_eps);
  if (c.vision.patch_size <= 0 || c.vision.image_size % c.vision.patch_size != 0) {
    vision.fail("patch_size",
                cat("is ", c.vision.patch_size, ", which does not divide image_size ", c.vision.image_size));
  }
  c.projection_dim = f.int_or("projection_dim", c.projection_dim);
  c.logit_scale_init_value = f.number_or("logit_scale_init_value", c.logit_scale_init_value);
  f.absorb(text);
  f.absorb(vision);
  return c;
}

}  // namespace ferrum
