#include "grammar/grammar_constraint.h"

#include <limits>

namespace ferrum::grammar {

GrammarConstraint::GrammarConstraint(std::shared_ptr<GrammarTokenMasks> masks, std::unordered_set<int32_t> end_tokens)
    : masks_(std::move(masks)), end_tokens_(std::move(end_tokens)), matcher_(masks_->automaton()) {}

void GrammarConstraint::mask(std::span<float> logits) {
  constexpr float kForbidden = -std::numeric_limits<float>::infinity();
  masks_->allowed(matcher_, allowed_);
  // End tokens carry no bytes, so the grammar's mask removes them; keep the model's own logits to
  // put back once the grammar is satisfied.
  end_logits_.clear();
  if (matcher_.accepting()) {
    for (int32_t token : end_tokens_) {
      if (token >= 0 && static_cast<size_t>(token) < logits.size()) {
        end_logits_.emplace_back(token, logits[static_cast<size_t>(token)]);
      }
    }
  }
  const std::span<const uint64_t> words = allowed_.words();
  const size_t covered = std::min(logits.size(), allowed_.size());
  for (size_t w = 0; w * 64 < covered; ++w) {
    const uint64_t word = words[w];
    if (word == ~uint64_t{0}) continue;
    const size_t end = std::min(covered, w * 64 + 64);
    for (size_t i = w * 64; i < end; ++i) {
      if (!((word >> (i & 63)) & 1)) logits[i] = kForbidden;
    }
  }
  // Ids past the tokenizer's vocabulary (padded embedding rows) never carry text.
  for (size_t i = covered; i < logits.size(); ++i) logits[i] = kForbidden;
  for (const auto& [token, logit] : end_logits_) logits[static_cast<size_t>(token)] = logit;
}

bool GrammarConstraint::accept(int32_t token) {
  if (end_tokens_.contains(token)) return matcher_.accepting();
  if (token < 0 || static_cast<size_t>(token) >= masks_->trie().vocab_size()) return false;
  const std::string_view bytes = masks_->trie().token_bytes(token);
  return !bytes.empty() && matcher_.accept(bytes);
}

bool GrammarConstraint::complete() const {
  return matcher_.accepting() && !matcher_.can_continue();
}

}  // namespace ferrum::grammar
