#include "tokenizer/word_cache.h"

namespace ferrum::tokenizer {

bool WordCache::lookup(std::string_view word, std::vector<TokenId>& out) const {
  if (word.size() > kMaxWordBytes) return false;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(word);
  if (it == entries_.end()) return false;
  out.insert(out.end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::insert(std::string_view word, std::span<const TokenId> tokens) {
  if (word.size() > kMaxWordBytes) return;
  std::lock_guard lock(mutex_);
  // Starting over when full is crude but keeps memory bounded without per-entry bookkeeping; the
  // frequent words come back within a few sentences.
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_.emplace(std::string(word), std::vector<TokenId>(tokens.begin(), tokens.end()));
}

}  // namespace ferrum::tokenizer
