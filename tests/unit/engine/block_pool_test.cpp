// The block pool: chained prefix hashes, reference counts, LRU eviction of free cached blocks, and
// the KV cache manager's prefix lookups and copy-on-write.
#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <numeric>

#include "engine/kv_cache_manager.h"

namespace ferrum {
namespace {

std::vector<int32_t> iota_tokens(size_t count, int32_t first = 0) {
  std::vector<int32_t> tokens(count);
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

TEST(BlockHash, ChainsThroughEveryEarlierBlock) {
  const std::vector<int32_t> a = {1, 2, 3, 4};
  const std::vector<int32_t> b = {1, 2, 3, 5};
  const BlockHash first = chain_block_hash(kRootBlockHash, a);
  EXPECT_EQ(first, chain_block_hash(kRootBlockHash, a));  // deterministic
  EXPECT_NE(first, chain_block_hash(kRootBlockHash, b));  // every token counts
  // The same tokens after a different prefix are a different block.
  const BlockHash after_a = chain_block_hash(first, a);
  const BlockHash after_b = chain_block_hash(chain_block_hash(kRootBlockHash, b), a);
  EXPECT_NE(after_a, after_b);
  // Token order and count matter.
  EXPECT_NE(chain_block_hash(kRootBlockHash, std::vector<int32_t>{2, 1, 3, 4}), first);
  EXPECT_NE(chain_block_hash(kRootBlockHash, std::vector<int32_t>{1, 2, 3}), chain_block_hash(kRootBlockHash, a));
}

TEST(BlockPool, AllocatesUntilEmptyAndReleasesToTheTail) {
  BlockPool pool(4, 16);
  std::vector<BlockId> blocks;
  ASSERT_TRUE(pool.allocate(3, blocks));
  EXPECT_EQ(pool.num_used(), 3u);
  EXPECT_FALSE(pool.allocate(2, blocks));  // only one left: nothing taken
  EXPECT_EQ(blocks.size(), 3u);
  EXPECT_EQ(pool.num_free(), 1u);
  pool.release(blocks[2]);
  pool.release(blocks[0]);
  EXPECT_EQ(pool.free_order(), (std::vector<BlockId>{3, blocks[2], blocks[0]}));
  pool.retain(blocks[1]);
  EXPECT_EQ(pool.ref_count(blocks[1]), 2u);
  EXPECT_TRUE(pool.is_immutable(blocks[1]));  // shared
  pool.release(blocks[1]);
  pool.release(blocks[1]);
  EXPECT_EQ(pool.num_used(), 0u);
}

TEST(BlockPool, FreeCachedBlocksAreEvictedLeastRecentlyReleasedFirst) {
  BlockPool pool(3, 2);
  std::vector<BlockId> blocks;
  ASSERT_TRUE(pool.allocate(3, blocks));
  // Cache all three under distinct contents, then free them in the order 1, 0, 2.
  for (int i = 0; i < 3; ++i) {
    const std::vector<int32_t> tokens = {i, i};
    pool.register_full(blocks[static_cast<size_t>(i)], chain_block_hash(kRootBlockHash, tokens), kRootBlockHash,
                       tokens);
  }
  EXPECT_EQ(pool.num_cached(), 3u);
  pool.release(blocks[1]);
  pool.release(blocks[0]);
  pool.release(blocks[2]);
  // A hit takes block 0 back out of the free list: it is no longer up for eviction.
  const std::vector<int32_t> zero = {0, 0};
  const BlockId hit = pool.find_cached(chain_block_hash(kRootBlockHash, zero), kRootBlockHash, zero);
  ASSERT_EQ(hit, blocks[0]);
  pool.retain(hit);
  std::vector<BlockId> fresh;
  ASSERT_TRUE(pool.allocate(1, fresh));
  EXPECT_EQ(fresh[0], blocks[1]);  // released first, evicted first
  EXPECT_EQ(pool.evictions(), 1u);
  const std::vector<int32_t> one = {1, 1};
  EXPECT_EQ(pool.find_cached(chain_block_hash(kRootBlockHash, one), kRootBlockHash, one), -1);
  const std::vector<int32_t> two = {2, 2};
  EXPECT_EQ(pool.find_cached(chain_block_hash(kRootBlockHash, two), kRootBlockHash, two), blocks[2]);
}

TEST(BlockPool, LookupsCheckTokensAndParentNotJustTheHash) {
  BlockPool pool(2, 2);
  std::vector<BlockId> blocks;
  ASSERT_TRUE(pool.allocate(2, blocks));
  const std::vector<int32_t> tokens = {5, 6};
  const BlockHash hash = chain_block_hash(kRootBlockHash, tokens);
  pool.register_full(blocks[0], hash, kRootBlockHash, tokens);
  EXPECT_EQ(pool.find_cached(hash, kRootBlockHash, tokens), blocks[0]);
  // A colliding hash with other tokens or another parent is a miss.
  EXPECT_EQ(pool.find_cached(hash, kRootBlockHash, std::vector<int32_t>{5, 7}), -1);
  EXPECT_EQ(pool.find_cached(hash, 42, tokens), -1);
  // The first block registered under a hash keeps it.
  pool.register_full(blocks[1], hash, kRootBlockHash, tokens);
  EXPECT_EQ(pool.find_cached(hash, kRootBlockHash, tokens), blocks[0]);
  EXPECT_FALSE(pool.is_immutable(blocks[1]));
}

TEST(KvCacheManager, SharesFullBlocksOfACommonPrefix) {
  KvCacheManager kv(8, 4, true);
  std::vector<int32_t> first = iota_tokens(10);
  SequenceBlocks a;
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.allocate(a, {}, 0, first.size(), copies));
  EXPECT_EQ(a.table.size(), 3u);
  kv.commit(a, first, first.size());  // blocks 0 and 1 are full: cached
  EXPECT_EQ(kv.pool().num_cached(), 2u);

  // 9 tokens in common (two full blocks), then different.
  std::vector<int32_t> second = iota_tokens(9);
  second.push_back(100);
  second.push_back(101);
  SequenceBlocks b;
  std::vector<BlockId> hits;
  EXPECT_EQ(kv.find_cached_prefix(b, second, hits), 8u);
  ASSERT_TRUE(kv.allocate(b, hits, 8, second.size() - 8, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(b.table[0], a.table[0]);
  EXPECT_EQ(b.table[1], a.table[1]);
  EXPECT_NE(b.table[2], a.table[2]);
  EXPECT_EQ(kv.pool().ref_count(a.table[0]), 2u);
  EXPECT_EQ(kv.slot(b, 9), b.table[2] * 4 + 1);

  kv.free(a);
  kv.free(b);
  EXPECT_EQ(kv.pool().num_used(), 0u);
  EXPECT_EQ(kv.pool().num_cached(), 2u);  // still findable after both finished
}

TEST(KvCacheManager, CopiesASharedBlockBeforeWritingIt) {
  KvCacheManager kv(8, 4, true);
  const std::vector<int32_t> prompt = iota_tokens(8);
  SequenceBlocks a;
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.allocate(a, {}, 0, 8, copies));
  kv.commit(a, prompt, 8);
  // The same prompt again: every block is a hit, but the last token must be recomputed, and it
  // lives in a cached block, so that block is copied first.
  SequenceBlocks b;
  std::vector<BlockId> hits;
  ASSERT_EQ(kv.find_cached_prefix(b, prompt, hits), 8u);
  ASSERT_TRUE(kv.allocate(b, hits, 7, 1, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].from, a.table[1]);
  EXPECT_EQ(copies[0].to, b.table[1]);
  EXPECT_EQ(b.table[0], a.table[0]);
  EXPECT_NE(b.table[1], a.table[1]);
  EXPECT_EQ(kv.pool().ref_count(a.table[1]), 1u);
  kv.free(b);
  kv.free(a);
  EXPECT_EQ(kv.pool().num_used(), 0u);
}

TEST(KvCacheManager, RefusesWithoutChangingAnythingWhenFull) {
  KvCacheManager kv(3, 4, false);
  SequenceBlocks a;
  SequenceBlocks b;
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.allocate(a, {}, 0, 9, copies));  // 3 blocks
  EXPECT_FALSE(kv.allocate(b, {}, 0, 1, copies));
  EXPECT_TRUE(b.table.empty());
  EXPECT_EQ(kv.pool().num_used(), 3u);
  // Growing within the last block needs nothing new.
  EXPECT_TRUE(kv.allocate(a, {}, 9, 3, copies));
  EXPECT_FALSE(kv.allocate(a, {}, 12, 1, copies));
  kv.free(a);
  EXPECT_EQ(kv.pool().num_used(), 0u);
}

}  // namespace
}  // namespace ferrum
