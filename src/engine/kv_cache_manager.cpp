#include "engine/kv_cache_manager.h"

#include <algorithm>

namespace ferrum {

KvCacheManager::KvCacheManager(size_t num_blocks, size_t block_size, bool prefix_caching)
    : pool_(num_blocks, block_size), prefix_caching_(prefix_caching) {}

void KvCacheManager::hash_full_blocks(SequenceBlocks& seq, std::span<const int32_t> tokens) const {
  const size_t bs = block_size();
  const size_t full = tokens.size() / bs;
  while (seq.hashes.size() < full) {
    const size_t b = seq.hashes.size();
    const BlockHash parent = b == 0 ? kRootBlockHash : seq.hashes[b - 1];
    seq.hashes.push_back(chain_block_hash(parent, tokens.subspan(b * bs, bs)));
  }
}

size_t KvCacheManager::find_cached_prefix(SequenceBlocks& seq, std::span<const int32_t> tokens,
                                          std::vector<BlockId>& hits) {
  if (!prefix_caching_) return 0;
  hash_full_blocks(seq, tokens);
  const size_t bs = block_size();
  size_t found = 0;
  for (size_t b = 0; b < seq.hashes.size(); ++b) {
    const BlockHash parent = b == 0 ? kRootBlockHash : seq.hashes[b - 1];
    const BlockId block = pool_.find_cached(seq.hashes[b], parent, tokens.subspan(b * bs, bs));
    if (block < 0) break;
    hits.push_back(block);
    ++found;
  }
  return found * bs;
}

bool KvCacheManager::allocate(SequenceBlocks& seq, std::span<const BlockId> hits, size_t num_computed, size_t num_new,
                              std::vector<BlockCopy>& copies) {
  const size_t bs = block_size();
  const std::span<const BlockId> taken = seq.table.empty() ? hits : std::span<const BlockId>();
  const size_t table_after_hits = seq.table.size() + taken.size();
  const size_t blocks_needed = (num_computed + num_new + bs - 1) / bs;
  const size_t fresh = blocks_needed > table_after_hits ? blocks_needed - table_after_hits : 0;

  // Blocks already in the table that the new tokens write: those shared or cached need a copy.
  // (A hit is cached by definition, and will be shared once taken.)
  const auto table_block = [&](size_t b) { return b < seq.table.size() ? seq.table[b] : taken[b - seq.table.size()]; };
  size_t copies_needed = 0;
  const size_t first_written = num_computed / bs;
  for (size_t b = first_written; b < std::min(blocks_needed, table_after_hits); ++b) {
    const BlockId block = table_block(b);
    const bool will_be_shared = b >= seq.table.size() || pool_.is_immutable(block);
    if (num_new > 0 && will_be_shared) ++copies_needed;
  }
  // Hits sitting in the free list stop being free when taken.
  size_t hits_free = 0;
  for (BlockId block : taken) hits_free += pool_.ref_count(block) == 0 ? 1 : 0;
  if (pool_.num_free() < hits_free + fresh + copies_needed) return false;

  for (BlockId block : taken) {
    pool_.retain(block);
    seq.table.push_back(block);
  }
  if (copies_needed > 0) {
    for (size_t b = first_written; b < std::min(blocks_needed, table_after_hits); ++b) {
      const BlockId shared = seq.table[b];
      if (!pool_.is_immutable(shared)) continue;
      scratch_.clear();
      pool_.allocate(1, scratch_);
      copies.push_back({shared, scratch_[0]});
      // The copy runs before this step's forward, ahead of any write into a block freed here.
      pool_.release(shared);
      seq.table[b] = scratch_[0];
      // The copy is private and not yet full of known-cached content: it is offered to the cache
      // again at commit (where the original keeps the hash).
      seq.registered = std::min(seq.registered, b);
    }
  }
  return pool_.allocate(fresh, seq.table);
}

void KvCacheManager::commit(SequenceBlocks& seq, std::span<const int32_t> tokens, size_t num_computed) {
  if (!prefix_caching_) return;
  const size_t bs = block_size();
  const size_t full = std::min(num_computed / bs, seq.table.size());
  if (full <= seq.registered) return;
  hash_full_blocks(seq, tokens.first(full * bs));
  for (size_t b = seq.registered; b < full; ++b) {
    const BlockHash parent = b == 0 ? kRootBlockHash : seq.hashes[b - 1];
    pool_.register_full(seq.table[b], seq.hashes[b], parent, tokens.subspan(b * bs, bs));
  }
  seq.registered = full;
}

void KvCacheManager::free(SequenceBlocks& seq) {
  for (auto block = seq.table.rbegin(); block != seq.table.rend(); ++block) pool_.release(*block);
  seq.table.clear();
  seq.registered = 0;
}

int32_t KvCacheManager::slot(const SequenceBlocks& seq, size_t position) const {
  const size_t bs = block_size();
  return seq.table[position / bs] * static_cast<int32_t>(bs) + static_cast<int32_t>(position % bs);
}

}  // namespace ferrum
