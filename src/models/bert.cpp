#include "models/bert.h"

#include "backend/cpu/cpu_backend.h"
#include "models/bert_impl.h"
#include "models/llama.h"

namespace ferrum {

Expected<BertHParams> bert_hparams(const ModelConfig& config) {
  const BertConfig* bert = config.bert();
  FERRUM_CHECK(bert != nullptr, ErrorCode::kUnsupported, "architecture ", config.architecture, " is not BERT");
  FERRUM_CHECK(bert->position_embedding_type == "absolute", ErrorCode::kUnsupported, config.architecture,
               ": position_embedding_type \"", bert->position_embedding_type,
               "\" is not supported (only \"absolute\")");
  BertHParams hp;
  hp.vocab_size = static_cast<size_t>(bert->vocab_size);
  hp.hidden_size = static_cast<size_t>(bert->hidden_size);
  hp.num_layers = static_cast<size_t>(bert->num_layers);
  hp.num_heads = static_cast<size_t>(bert->num_heads);
  hp.intermediate_size = static_cast<size_t>(bert->intermediate_size);
  hp.max_positions = static_cast<size_t>(bert->max_position_embeddings);
  hp.type_vocab_size = static_cast<size_t>(bert->type_vocab_size);
  hp.layer_norm_eps = static_cast<float>(bert->layer_norm_eps);
  FERRUM_ASSIGN_OR_RETURN(hp.activation, activation_from_name(bert->hidden_act));
  FERRUM_CHECK(hp.vocab_size > 0 && hp.hidden_size > 0 && hp.num_layers > 0 && hp.num_heads > 0 &&
                   hp.intermediate_size > 0 && hp.max_positions > 0 && hp.type_vocab_size > 0,
               ErrorCode::kInvalidArgument, config.architecture, ": sizes in config.json must be positive");
  FERRUM_CHECK(hp.hidden_size % hp.num_heads == 0, ErrorCode::kInvalidArgument, config.architecture, ": ", hp.num_heads,
               " heads do not divide hidden_size ", hp.hidden_size);
  return hp;
}

template class BertModel<CpuBackend>;

}  // namespace ferrum
