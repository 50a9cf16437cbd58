// Block tables of the engine's sequences over the BlockPool: which blocks a sequence's tokens live
// in, prefix-cache lookups and registration, and copy-on-write of shared blocks.
//
// Invariant: a block that more than one table names, or that is registered in the prefix cache,
// is never written. The only write that can land in one is the recompute of a prompt's last token
// when the whole prompt was a cache hit (its logits are needed to sample); allocate() then gives
// the sequence a private copy of that block first (the copy is returned for the engine to run
// before the step's forward).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "engine/block_pool.h"

namespace ferrum {

// The blocks of one sequence: its block table and the hash chain of its full blocks.
struct SequenceBlocks {
  std::vector<BlockId> table;
  std::vector<BlockHash> hashes;  // hash of each full block of the tokens seen so far
  size_t registered = 0;          // leading blocks already offered to the prefix cache
};

struct BlockCopy {
  BlockId from = -1;
  BlockId to = -1;
};

class KvCacheManager {
 public:
  KvCacheManager(size_t num_blocks, size_t block_size, bool prefix_caching);

  const BlockPool& pool() const { return pool_; }
  size_t block_size() const { return pool_.block_size(); }
  bool prefix_caching() const { return prefix_caching_; }

  // The cached full blocks `tokens` starts with (appended to `hits`), and how many tokens they
  // hold. Takes no reference: allocate() does, if the sequence is admitted.
  size_t find_cached_prefix(SequenceBlocks& seq, std::span<const int32_t> tokens, std::vector<BlockId>& hits);

  // Makes room for tokens [num_computed, num_computed + num_new): a sequence with an empty table
  // first takes `hits` (its cached prefix), then fresh blocks cover the rest. Any block the new
  // tokens would write that is shared or cached is replaced by a private copy, appended to
  // `copies`. False, and nothing changed, when too few blocks are free.
  bool allocate(SequenceBlocks& seq, std::span<const BlockId> hits, size_t num_computed, size_t num_new,
                std::vector<BlockCopy>& copies);

  // Tokens [0, num_computed) now have their K / V in the cache: offers the full blocks among them
  // to the prefix cache.
  void commit(SequenceBlocks& seq, std::span<const int32_t> tokens, size_t num_computed);

  // Releases every block of the table, last first (so a sequence's tail is evicted before its
  // prefix, which others are likelier to share).
  void free(SequenceBlocks& seq);

  // Where position `position` of the sequence lives: block * block_size + row.
  int32_t slot(const SequenceBlocks& seq, size_t position) const;

 private:
  // Extends seq.hashes over the full blocks of `tokens`.
  void hash_full_blocks(SequenceBlocks& seq, std::span<const int32_t> tokens) const;

  BlockPool pool_;
  bool prefix_caching_;
  std::vector<BlockId> scratch_;
};

}  // namespace ferrum
