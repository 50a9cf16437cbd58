// The KV blocks of the paged cache, as the host sees them: reference counts, the free list, and the
// prefix cache. The engine's single owner of "which block holds what" (the pools themselves are the
// model's device buffers; this decides which block ids a sequence's table names).
//
// Prefix caching. A block that a sequence has filled is immutable: its contents are fixed by its
// tokens and by every token before them, so it is registered under a chained hash
//   hash_i = H(hash_{i-1}, tokens of block i)
// and a later sequence whose prompt starts with the same tokens finds it and shares it (the
// reference count says how many tables name it). Lookups compare the stored tokens and parent hash
// as well as the hash, so a hash collision costs a miss, never a wrong hit.
//
// Eviction. A block whose count falls to 0 goes to the tail of the free list but keeps its cached
// contents; allocation takes from the head, so the cached block freed longest ago is reused (evicted)
// first, and a hit on a free cached block takes it back out of the list (LRU over release time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace ferrum {

using BlockId = int32_t;
using BlockHash = uint64_t;

// The hash a chain starts from (the "parent" of a sequence's first block).
inline constexpr BlockHash kRootBlockHash = 0x9e3779b97f4a7c15ULL;

// hash_i from hash_{i-1} and block i's tokens.
BlockHash chain_block_hash(BlockHash parent, std::span<const int32_t> tokens);

class BlockPool {
 public:
  BlockPool(size_t num_blocks, size_t block_size);

  size_t num_blocks() const { return blocks_.size(); }
  size_t block_size() const { return block_size_; }
  // Blocks allocate() can hand out now: unreferenced ones, cached contents or not.
  size_t num_free() const { return free_count_; }
  // Blocks some sequence's table names.
  size_t num_used() const { return blocks_.size() - free_count_; }
  // Blocks in the prefix cache (referenced or free).
  size_t num_cached() const { return cached_.size(); }
  uint64_t evictions() const { return evictions_; }

  // Takes `count` blocks with a reference each, evicting the least recently freed cached blocks;
  // false (and nothing taken) when fewer are free.
  bool allocate(size_t count, std::vector<BlockId>& out);
  // One more table names `block` (a prefix-cache hit); a free block leaves the free list.
  void retain(BlockId block);
  // One table fewer names `block`; at zero it joins the free list's tail.
  void release(BlockId block);

  // A cached block holding `tokens` after the chain `parent`, or -1.
  BlockId find_cached(BlockHash hash, BlockHash parent, std::span<const int32_t> tokens) const;
  // `block` is full and will not change: make it findable under `hash`. A block already cached
  // under that hash wins (two sequences computed the same prefix at once); this one stays private.
  void register_full(BlockId block, BlockHash hash, BlockHash parent, std::span<const int32_t> tokens);

  size_t ref_count(BlockId block) const { return static_cast<size_t>(blocks_[static_cast<size_t>(block)].refs); }
  // Shared or cached: a sequence must copy it before writing (copy-on-write).
  bool is_immutable(BlockId block) const;
  // Free-list order from head (next evicted) to tail, for tests.
  std::vector<BlockId> free_order() const;

 private:
  struct Block {
    int32_t refs = 0;
    bool cached = false;  // registered in cached_
    BlockHash hash = 0;
    BlockHash parent = 0;
    std::vector<int32_t> tokens;  // what a cached block holds, to verify hits
    BlockId prev = -1;            // free-list links
    BlockId next = -1;
    bool in_free_list = false;
  };

  void push_free_tail(BlockId block);
  void unlink_free(BlockId block);
  void evict(BlockId block);

  size_t block_size_;
  std::vector<Block> blocks_;
  BlockId free_head_ = -1;
  BlockId free_tail_ = -1;
  size_t free_count_ = 0;
  uint64_t evictions_ = 0;
  std::unordered_map<BlockHash, BlockId> cached_;
};

}  // namespace ferrum
