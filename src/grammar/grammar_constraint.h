// The engine's TokenConstraint for a grammar: before each sampled token it masks every token whose
// bytes the grammar rejects (end-of-generation tokens only once the grammar is satisfied); after it,
// it advances the grammar by the chosen token's bytes. One per request; the masks it reads are
// shared through GrammarTokenMasks.
#pragma once

#include <memory>
#include <unordered_set>
#include <vector>

#include "engine/engine.h"
#include "grammar/matcher.h"
#include "grammar/token_masks.h"

namespace ferrum::grammar {

class GrammarConstraint final : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<GrammarTokenMasks> masks, std::unordered_set<int32_t> end_tokens);

  void mask(std::span<float> logits) override;
  bool accept(int32_t token) override;
  // Satisfied and nothing more may follow: the engine ends the request here.
  bool complete() const override;

  const GrammarMatcher& matcher() const { return matcher_; }

 private:
  std::shared_ptr<GrammarTokenMasks> masks_;
  std::unordered_set<int32_t> end_tokens_;
  GrammarMatcher matcher_;
  TokenBitset allowed_;
  std::vector<std::pair<int32_t, float>> end_logits_;
};

}  // namespace ferrum::grammar
