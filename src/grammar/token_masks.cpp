#include "grammar/token_masks.h"

namespace ferrum::grammar {

GrammarTokenMasks::GrammarTokenMasks(std::shared_ptr<const Automaton> automaton, std::shared_ptr<const TokenTrie> trie)
    : automaton_(std::move(automaton)), trie_(std::move(trie)) {}

GrammarTokenMasks::Stats GrammarTokenMasks::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

GrammarTokenMasks::LocalMask GrammarTokenMasks::walk(StateId state) const {
  LocalMask mask{TokenBitset(trie_->vocab_size()), {}};
  StackArena stacks;
  Stepper stepper(*automaton_, stacks);
  const size_t max_depth = trie_->max_token_bytes();
  std::vector<std::vector<Thread>> levels(max_depth + 1);
  std::vector<uint8_t> left_rule_at(max_depth + 1, 0);  // the path left the rule after this many bytes
  std::vector<uint32_t> exits_on_path(max_depth + 1, 0);
  levels[0].push_back({state, StackArena::kBottom});
  const std::span<const TokenTrie::Node> nodes = trie_->nodes();
  const std::span<const int32_t> token_ids = trie_->token_ids();
  for (size_t i = 0; i < nodes.size();) {
    const TokenTrie::Node& node = nodes[i];
    const size_t depth = node.depth;
    const bool left = stepper.step(levels[depth - 1], node.byte, levels[depth]);
    left_rule_at[depth] = left;
    exits_on_path[depth] = exits_on_path[depth - 1] + left;
    const bool alive = !levels[depth].empty();
    for (uint32_t t = node.tokens_begin; t < node.tokens_end; ++t) {
      const int32_t token = token_ids[t];
      if (alive || left) {
        mask.accepted.set(static_cast<size_t>(token));
        continue;
      }
      for (size_t exit = 1; exit < depth && exits_on_path[depth - 1] > 0; ++exit) {
        if (left_rule_at[exit]) mask.uncertain.emplace_back(token, static_cast<uint16_t>(exit));
      }
    }
    i = (alive || exits_on_path[depth] > 0) ? i + 1 : node.subtree_end;
  }
  return mask;
}

std::shared_ptr<const GrammarTokenMasks::LocalMask> GrammarTokenMasks::local_mask(StateId state) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = local_.find(state); it != local_.end()) return it->second;
  }
  // Walk without the lock: other requests keep going; two walks of one state agree.
  auto mask = std::make_shared<const LocalMask>(walk(state));
  std::lock_guard lock(mutex_);
  ++stats_.local_masks;
  return local_.try_emplace(state, std::move(mask)).first->second;
}

std::string GrammarTokenMasks::configuration_key(GrammarMatcher& matcher) {
  std::string key;
  const auto append = [&](uint32_t value) { key.append(reinterpret_cast<const char*>(&value), sizeof value); };
  for (const Thread& thread : matcher.threads()) {
    append(thread.state);
    for (uint32_t stack = thread.stack; stack != StackArena::kBottom; stack = matcher.stacks().pop(stack)) {
      append(matcher.stacks().top(stack));
    }
    append(UINT32_MAX);
  }
  return key;
}

void GrammarTokenMasks::allowed(GrammarMatcher& matcher, TokenBitset& out) {
  const std::string key = configuration_key(matcher);
  {
    std::lock_guard lock(mutex_);
    if (auto it = memo_.find(key); it != memo_.end()) {
      ++stats_.memo_hits;
      out = *it->second;
      return;
    }
    ++stats_.memo_misses;
  }
  out = TokenBitset(trie_->vocab_size());
  Stepper& stepper = matcher.stepper();
  std::vector<Thread> caller, current, next;
  // Copy: the stepper below may grow the matcher's stack arena, never its threads.
  const std::vector<Thread> threads(matcher.threads().begin(), matcher.threads().end());
  for (const Thread& thread : threads) {
    const std::shared_ptr<const LocalMask> local = local_mask(thread.state);
    out.merge(local->accepted);
    // A token leaving the rule continues in the caller, which only this configuration knows.
    if (local->uncertain.empty() || thread.stack == StackArena::kBottom) continue;
    caller.clear();
    stepper.closure({matcher.stacks().top(thread.stack), matcher.stacks().pop(thread.stack)}, caller);
    sort_unique(caller);
    for (const auto& [token, offset] : local->uncertain) {
      if (out.test(static_cast<size_t>(token))) continue;
      const std::string_view bytes = trie_->token_bytes(token);
      current = caller;
      bool accepted = true;
      for (size_t i = offset; i < bytes.size(); ++i) {
        const bool ended = stepper.step(current, static_cast<uint8_t>(bytes[i]), next);
        if (next.empty() && !(ended && i + 1 == bytes.size())) {
          accepted = false;
          break;
        }
        current.swap(next);
      }
      if (accepted) out.set(static_cast<size_t>(token));
    }
  }
  auto stored = std::make_shared<const TokenBitset>(out);
  std::lock_guard lock(mutex_);
  if (memo_.size() >= kMaxMemoEntries) memo_.clear();
  memo_.try_emplace(key, std::move(stored));
}

}  // namespace ferrum::grammar
