#include "engine/block_pool.h"

#include <algorithm>
#include <cassert>

namespace ferrum {
namespace {

// splitmix64's finaliser: every input bit flips about half the output bits.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash chain_block_hash(BlockHash parent, std::span<const int32_t> tokens) {
  uint64_t hash = mix(parent ^ 0x5851f42d4c957f2dULL);
  for (int32_t token : tokens) hash = mix(hash + static_cast<uint32_t>(token));
  return mix(hash ^ tokens.size());
}

BlockPool::BlockPool(size_t num_blocks, size_t block_size) : block_size_(block_size), blocks_(num_blocks) {
  for (size_t i = 0; i < num_blocks; ++i) push_free_tail(static_cast<BlockId>(i));
}

bool BlockPool::allocate(size_t count, std::vector<BlockId>& out) {
  if (count > free_count_) return false;
  for (size_t i = 0; i < count; ++i) {
    const BlockId block = free_head_;
    unlink_free(block);
    evict(block);
    blocks_[static_cast<size_t>(block)].refs = 1;
    out.push_back(block);
  }
  return true;
}

void BlockPool::retain(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  if (b.refs == 0) unlink_free(block);
  ++b.refs;
}

void BlockPool::release(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  assert(b.refs > 0);
  if (--b.refs == 0) push_free_tail(block);
}

BlockId BlockPool::find_cached(BlockHash hash, BlockHash parent, std::span<const int32_t> tokens) const {
  const auto found = cached_.find(hash);
  if (found == cached_.end()) return -1;
  const Block& b = blocks_[static_cast<size_t>(found->second)];
  if (b.parent != parent || !std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end())) return -1;
  return found->second;
}

void BlockPool::register_full(BlockId block, BlockHash hash, BlockHash parent, std::span<const int32_t> tokens) {
  Block& b = blocks_[static_cast<size_t>(block)];
  if (b.cached || cached_.contains(hash)) return;
  b.cached = true;
  b.hash = hash;
  b.parent = parent;
  b.tokens.assign(tokens.begin(), tokens.end());
  cached_.emplace(hash, block);
}

bool BlockPool::is_immutable(BlockId block) const {
  const Block& b = blocks_[static_cast<size_t>(block)];
  return b.refs > 1 || b.cached;
}

std::vector<BlockId> BlockPool::free_order() const {
  std::vector<BlockId> order;
  for (BlockId block = free_head_; block != -1; block = blocks_[static_cast<size_t>(block)].next) {
    order.push_back(block);
  }
  return order;
}

void BlockPool::push_free_tail(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  b.prev = free_tail_;
  b.next = -1;
  if (free_tail_ != -1) {
    blocks_[static_cast<size_t>(free_tail_)].next = block;
  } else {
    free_head_ = block;
  }
  free_tail_ = block;
  b.in_free_list = true;
  ++free_count_;
}

void BlockPool::unlink_free(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  assert(b.in_free_list);
  if (b.prev != -1) {
    blocks_[static_cast<size_t>(b.prev)].next = b.next;
  } else {
    free_head_ = b.next;
  }
  if (b.next != -1) {
    blocks_[static_cast<size_t>(b.next)].prev = b.prev;
  } else {
    free_tail_ = b.prev;
  }
  b.prev = b.next = -1;
  b.in_free_list = false;
  --free_count_;
}

void BlockPool::evict(BlockId block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  if (!b.cached) return;
  cached_.erase(b.hash);
  b.cached = false;
  b.tokens.clear();
  ++evictions_;
}

}  // namespace ferrum
