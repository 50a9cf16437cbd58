// The serving engine's paged-cache ops: paged_cache_write (rows into slots, skipped slots, every
// dtype, f8_e4m3 byte for byte against a search-based e4m3 reference, MLA's single latent head,
// block sizes 1 / 7 / 16), paged_attention and paged_mla_attention (f8_e4m3 pools too)
// over mixed batches (decode rows beside prefill chunks and chunked prefills, a sequence with no
// query rows this step, contexts that end mid-block and on a block edge, shuffled block ids, blocks
// shared by several sequences as the prefix cache shares them, unused table slots holding -1,
// GQA 1 / 4 / 8, sliding windows, block sizes 1 / 16 / 32 / 48; with half q / out on backends that
// take them, the tensor-core prefill path), gather_rows (and its vocabulary-slice forms) and
// copy_from_host.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <tuple>
#include <type_traits>

#include "op_test.h"
#include "reference_ops.h"

namespace ferrum::op_test {
namespace {

struct SeqShape {
  size_t q_len;
  size_t context;
};

struct PagedCase {
  std::string label;
  size_t block_size;
  size_t heads, kv_heads, head_dim;  // MLA: head_dim = rank, kv_heads = rope dims
  bool causal;
  size_t window;
  DType kv_dtype;
  std::vector<SeqShape> seqs;
  bool share_prefix;  // every sequence's leading full blocks are sequence 0's
  bool heavy;
};

// Block tables for `c`: distinct shuffled block ids (or shared leading blocks), -1 past each
// sequence's last block, and a few pool blocks no one uses.
ref::PagedBatch make_batch(const PagedCase& c, Rng& rng, size_t& num_blocks) {
  ref::PagedBatch batch;
  batch.block_size = c.block_size;
  size_t most_blocks = 0;
  size_t total_blocks = 0;
  for (const SeqShape& seq : c.seqs) {
    const size_t blocks = (seq.context + c.block_size - 1) / c.block_size;
    most_blocks = std::max(most_blocks, blocks);
    total_blocks += blocks;
  }
  batch.max_blocks_per_seq = most_blocks + 1;
  num_blocks = total_blocks + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng.below(i)]);
  batch.block_tables.assign(c.seqs.size() * batch.max_blocks_per_seq, -1);
  batch.query_start.push_back(0);
  size_t next_id = 0;
  for (size_t s = 0; s < c.seqs.size(); ++s) {
    const SeqShape& seq = c.seqs[s];
    const size_t blocks = (seq.context + c.block_size - 1) / c.block_size;
    for (size_t b = 0; b < blocks; ++b) {
      const bool shared = c.share_prefix && s > 0 && (b + 1) * c.block_size <= c.seqs[0].context &&
                          (b + 1) * c.block_size <= seq.context - seq.q_len;
      batch.block_tables[s * batch.max_blocks_per_seq + b] = shared ? batch.block_tables[b] : ids[next_id++];
    }
    batch.context_lens.push_back(static_cast<int32_t>(seq.context));
    batch.query_start.push_back(batch.query_start.back() + static_cast<int32_t>(seq.q_len));
  }
  return batch;
}

// Whether a backend reads the batch metadata on the host (and so can validate its values).
template <Backend B>
constexpr bool reads_metadata_on_host() {
  return std::is_same_v<B, CpuBackend>;
}

template <Backend B>
struct BatchBuffers {
  typename B::Buffer query_start, context_lens, block_tables;

  static Expected<BatchBuffers> upload(const ref::PagedBatch& batch) {
    const auto as_floats = [](const std::vector<int32_t>& values) {
      return std::vector<float>(values.begin(), values.end());
    };
    BatchBuffers buffers;
    FERRUM_ASSIGN_OR_RETURN(buffers.query_start, B::from_slice(as_floats(batch.query_start), DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(buffers.context_lens, B::from_slice(as_floats(batch.context_lens), DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(buffers.block_tables, B::from_slice(as_floats(batch.block_tables), DType::kI32));
    return buffers;
  }

  // host_hint: pass query_start's host values too, as the engine does.
  PagedAttnBatch<typename B::Buffer> view(const ref::PagedBatch& batch, bool host_hint = false) const {
    size_t longest_query = 0;
    for (size_t s = 0; s < batch.num_seqs(); ++s) {
      longest_query =
          std::max<size_t>(longest_query, static_cast<size_t>(batch.query_start[s + 1] - batch.query_start[s]));
    }
    PagedAttnBatch<typename B::Buffer> view;
    view.query_start = &query_start;
    view.context_lens = &context_lens;
    view.block_tables = &block_tables;
    view.num_seqs = batch.num_seqs();
    view.num_tokens = batch.num_tokens();
    view.max_blocks_per_seq = batch.max_blocks_per_seq;
    view.block_size = batch.block_size;
    view.max_query_len = longest_query;
    view.max_context_len = static_cast<size_t>(*std::max_element(batch.context_lens.begin(), batch.context_lens.end()));
    if (host_hint) view.host_query_start = batch.query_start;
    return view;
  }
};

// `rows` rows of `width` random values in a pool of `dtype`, uploaded; `values` receives what each
// element stands for. f8_e4m3 rows (laid out as backend_types.h says) get magnitudes from 1e-2 to
// 3, so that their scales differ (larger ones make the softmax too peaked to judge in f32).
template <Backend B>
Expected<typename B::Buffer> random_pool(Rng& rng, size_t rows, size_t width, DType dtype, std::vector<float>& values) {
  values = random_values(rng, rows * width, dtype);
  if (dtype != DType::kF8E4M3) return upload<B>(values, dtype);
  std::vector<uint8_t> bytes(rows * (width + sizeof(float)));
  for (size_t r = 0; r < rows; ++r) {
    const float magnitude = std::pow(10.0f, rng.uniform(-2.0f, 0.5f));
    float* row = values.data() + r * width;
    for (size_t d = 0; d < width; ++d) row[d] *= magnitude;
    const float scale = ref::e4m3_scaled_row(row, width, &bytes[r * width]);
    std::memcpy(&bytes[rows * width + r * sizeof(float)], &scale, sizeof scale);
    for (size_t d = 0; d < width; ++d) row[d] = static_cast<float>(ref::e4m3_value(bytes[r * width + d]) * scale);
  }
  return B::from_bytes(bytes, dtype, bytes.size());
}

std::vector<PagedCase> attention_cases() {
  const DType f32 = DType::kF32;
  const DType bf16 = DType::kBF16;
  const DType f16 = DType::kF16;
  const DType f8 = DType::kF8E4M3;
  return {
      {"decode only, contexts mid-block and on edges",
       16,
       4,
       2,
       64,
       true,
       0,
       f32,
       {{1, 1}, {1, 17}, {1, 33}, {1, 100}, {1, 16}},
       false,
       false},
      {"mixed: prefill, decode, chunked prefill, idle sequence",
       16,
       8,
       2,
       64,
       true,
       0,
       bf16,
       {{37, 37}, {1, 200}, {20, 70}, {0, 12}, {1, 2}},
       false,
       false},
      {"prefix blocks shared by three sequences",
       16,
       4,
       1,
       128,
       true,
       0,
       f16,
       {{50, 50}, {3, 83}, {1, 64}},
       true,
       false},
      {"sliding window 8, mixed", 16, 4, 2, 64, true, 8, f32, {{30, 30}, {1, 45}, {9, 40}}, false, false},
      {"block size 1", 1, 2, 2, 80, true, 0, f32, {{5, 9}, {1, 4}}, false, false},
      {"block size 32 (the CPU key block)", 32, 8, 1, 64, true, 0, bf16, {{40, 100}, {1, 33}, {1, 32}}, false, false},
      {"block size 48, gqa 8", 48, 8, 1, 128, true, 0, f32, {{1, 200}, {17, 97}}, false, false},
      {"non-causal", 16, 2, 1, 64, false, 0, f32, {{7, 20}, {3, 3}}, false, false},
      {"64 decodes, head_dim 128", 16, 8, 2, 128, true, 0, bf16, std::vector<SeqShape>(64, SeqShape{1, 300}), false,
       true},
      {"prefill 256 beside 16 decodes", 16, 8, 2, 128, true, 0, f16,
       [] {
         std::vector<SeqShape> seqs(16, SeqShape{1, 777});
         seqs.push_back({256, 512});
         return seqs;
       }(),
       false, true},
      {"fp8 cache: mixed, chunked prefill, idle sequence",
       16,
       8,
       2,
       64,
       true,
       0,
       f8,
       {{37, 37}, {1, 200}, {20, 70}, {0, 12}, {1, 2}},
       false,
       false},
      {"fp8 cache: shared prefix, head_dim 128", 16, 4, 1, 128, true, 0, f8, {{50, 50}, {3, 83}, {1, 64}}, true, false},
      {"fp8 cache: block size 1, window 3", 1, 2, 2, 80, true, 3, f8, {{5, 9}, {1, 4}}, false, false},
      {"fp8 cache: 64 decodes, head_dim 128", 16, 8, 2, 128, true, 0, f8, std::vector<SeqShape>(64, SeqShape{1, 300}),
       false, true},
  };
}

// Prefill chunks for the tensor-core paged kernel (q / out in the pools' half type on backends that
// take half activations): windows, non-causal, block size 1, every head_dim it has, sequences just
// at and below its 16-row threshold beside decodes; then decode-only batches for the tiled decode
// kernel: mixed lengths, windows, key splits, block sizes 1, 8, 24 and 48, shared blocks, one and
// two tile stages.
std::vector<PagedCase> half_activation_cases() {
  const DType bf16 = DType::kBF16;
  const DType f16 = DType::kF16;
  return {
      {"flash: window 8", 16, 4, 2, 64, true, 8, bf16, {{30, 30}, {1, 45}, {20, 40}}, false, false},
      {"flash: non-causal", 16, 2, 1, 128, false, 0, f16, {{17, 20}, {3, 3}}, false, false},
      {"flash: block size 1", 1, 2, 2, 80, true, 0, bf16, {{24, 30}, {1, 4}}, false, false},
      {"flash: 16 / 15 rows beside decodes",
       16,
       8,
       2,
       96,
       true,
       0,
       f16,
       {{16, 16}, {15, 40}, {16, 300}, {1, 33}},
       false,
       false},
      {"flash: head_dim 256, block size 48", 48, 4, 1, 256, true, 0, bf16, {{130, 200}, {1, 60}}, false, false},
      {"flash: shared prefix, chunked", 16, 8, 2, 128, true, 0, bf16, {{200, 200}, {64, 264}, {1, 300}}, true, false},
      // Decode-only batches: the tiled decode kernel (paged_decode.cuh) on CUDA.
      {"decode: 48 sequences of 1..700 keys, gqa 4", 16, 32, 8, 128, true, 0, bf16,
       [] {
         std::vector<SeqShape> seqs;
         for (size_t s = 0; s < 48; ++s) seqs.push_back({1, 1 + (s * 157) % 700});
         return seqs;
       }(),
       false, false},
      {"decode: window 20, gqa 8", 16, 8, 1, 64, true, 20, f16, {{1, 100}, {1, 7}, {1, 64}, {1, 65}}, false, false},
      {"decode: split keys", 16, 4, 2, 128, true, 0, bf16, {{1, 3000}, {1, 1}, {1, 129}}, false, false},
      {"decode: block size 48, gqa 1", 48, 2, 2, 64, true, 0, f16, {{1, 97}, {1, 200}}, false, false},
      {"decode: shared prefix", 16, 8, 2, 128, true, 0, bf16, {{1, 130}, {1, 140}, {1, 33}}, true, false},
      // 64 x 8 KV heads: 512 blocks, more than one wave holds with two tile stages, so one stage.
      {"decode: 64 sequences, one tile stage", 16, 32, 8, 128, true, 0, bf16,
       [] {
         std::vector<SeqShape> seqs;
         for (size_t s = 0; s < 64; ++s) seqs.push_back({1, 1 + (s * 89) % 300});
         return seqs;
       }(),
       false, false},
      // Block sizes below, at and off the copy's row step (16 rows a pass at head_dim 64, 8 at 128).
      {"decode: block size 1, gqa 4", 1, 8, 2, 128, true, 0, bf16, {{1, 70}, {1, 1}, {1, 129}}, false, false},
      {"decode: block size 8, window 30", 8, 4, 1, 64, true, 30, f16, {{1, 200}, {1, 9}, {1, 64}}, false, false},
      {"decode: block size 24, split keys", 24, 8, 1, 128, true, 0, bf16, {{1, 2000}, {1, 65}, {1, 24}}, false, false},
  };
}

std::vector<PagedCase> mla_cases() {
  return {
      {"mla mixed, tiny deepseek", 16, 4, 8, 16, true, 0, DType::kF32, {{40, 40}, {1, 70}, {9, 50}}, false, false},
      {"mla shared prefix", 16, 16, 16, 32, true, 0, DType::kBF16, {{20, 40}, {1, 41}}, true, false},
      {"mla deepseek v3 decode x8", 16, 16, 64, 512, true, 0, DType::kBF16, std::vector<SeqShape>(8, SeqShape{1, 600}),
       false, true},
      {"mla fp8 cache, mixed", 16, 4, 8, 16, true, 0, DType::kF8E4M3, {{40, 40}, {1, 70}, {9, 50}}, false, false},
      {"mla fp8 cache, deepseek v3 decode x8", 16, 16, 64, 512, true, 0, DType::kF8E4M3,
       std::vector<SeqShape>(8, SeqShape{1, 600}), false, true},
  };
}

template <Backend B>
constexpr bool kHasTokenMajorPaged = requires(typename B::Context& ctx, typename B::Buffer& b,
                                              const PagedAttnBatch<typename B::Buffer>& batch, const AttnConfig& cfg) {
  B::paged_attention_token_major(ctx, b, b, b, b, batch, cfg);
};

// [heads, tokens, dim] -> [tokens, heads, dim].
std::vector<double> heads_to_tokens(const std::vector<double>& values, size_t heads, size_t tokens, size_t dim) {
  std::vector<double> out(values.size());
  for (size_t h = 0; h < heads; ++h) {
    for (size_t t = 0; t < tokens; ++t) {
      std::copy_n(values.begin() + static_cast<ptrdiff_t>((h * tokens + t) * dim), dim,
                  out.begin() + static_cast<ptrdiff_t>((t * heads + h) * dim));
    }
  }
  return out;
}

// q and out in `act`: f32, or (backends taking half activations) the pools' dtype; host_hint as
// BatchBuffers::view takes it; `token_major`: paged_attention_token_major (out [tokens, heads, dim]).
template <Backend B>
CaseResult run_paged_attention(const PagedCase& c, DType act = DType::kF32, bool host_hint = false,
                               bool token_major = false) {
  Rng rng(c.block_size * 7919 + c.seqs.size() * 31 + c.head_dim);
  size_t num_blocks = 0;
  const ref::PagedBatch batch = make_batch(c, rng, num_blocks);
  AttnConfig cfg;
  cfg.num_heads = c.heads;
  cfg.num_kv_heads = c.kv_heads;
  cfg.head_dim = c.head_dim;
  cfg.causal = c.causal;
  cfg.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  cfg.sliding_window = c.window;
  const size_t pool_rows = num_blocks * c.kv_heads * c.block_size;
  const size_t q_numel = c.heads * batch.num_tokens() * c.head_dim;
  // Queries scaled up so the softmax is peaked rather than flat (a flat one hides masking bugs).
  const std::vector<float> q = random_values(rng, q_numel, act, -3.0f, 3.0f);
  std::vector<float> k, v;
  OP_ASSIGN(auto q_buffer, upload<B>(q, act));
  OP_ASSIGN(auto k_buffer, random_pool<B>(rng, pool_rows, c.head_dim, c.kv_dtype, k));
  OP_ASSIGN(auto v_buffer, random_pool<B>(rng, pool_rows, c.head_dim, c.kv_dtype, v));
  OP_ASSIGN(auto out, B::alloc(q_numel, act));
  OP_ASSIGN(auto buffers, BatchBuffers<B>::upload(batch));
  auto ctx = B::new_context();
  if constexpr (kHasTokenMajorPaged<B>) {
    if (token_major) {
      OP_TRY(
          B::paged_attention_token_major(ctx, q_buffer, k_buffer, v_buffer, out, buffers.view(batch, host_hint), cfg));
    }
  }
  if (!token_major)
    OP_TRY(B::paged_attention(ctx, q_buffer, k_buffer, v_buffer, out, buffers.view(batch, host_hint), cfg));
  OP_ASSIGN(auto actual, download<B>(ctx, out, q_numel));
  // Half outputs: the store's rounding, and the probabilities' rounding before P.V on tensor cores.
  const double tolerance = act == DType::kF32 ? kF32Math : 2 * stored_tolerance(act, kF32Math);
  std::vector<double> expected = ref::paged_attention(q, k, v, batch, cfg);
  if (token_major) expected = heads_to_tokens(expected, c.heads, batch.num_tokens(), c.head_dim);
  return compare(actual, expected, tolerance);
}

template <Backend B>
CaseResult run_paged_mla(const PagedCase& c) {
  const size_t rank = c.head_dim;
  const size_t rope = c.kv_heads;
  Rng rng(c.block_size * 13 + c.seqs.size() + rank);
  size_t num_blocks = 0;
  const ref::PagedBatch batch = make_batch(c, rng, num_blocks);
  AttnConfig cfg;
  cfg.num_heads = c.heads;
  cfg.num_kv_heads = 1;
  cfg.head_dim = rank + rope;
  cfg.causal = true;
  cfg.scale = 1.0f / std::sqrt(static_cast<float>(cfg.head_dim));
  const size_t q_numel = c.heads * batch.num_tokens() * cfg.head_dim;
  const size_t out_numel = c.heads * batch.num_tokens() * rank;
  const std::vector<float> q = random_values(rng, q_numel, DType::kF32, -3.0f, 3.0f);
  std::vector<float> latent, rope_key;
  OP_ASSIGN(auto q_buffer, upload<B>(q, DType::kF32));
  OP_ASSIGN(auto latent_buffer, random_pool<B>(rng, num_blocks * c.block_size, rank, c.kv_dtype, latent));
  OP_ASSIGN(auto rope_buffer, random_pool<B>(rng, num_blocks * c.block_size, rope, c.kv_dtype, rope_key));
  OP_ASSIGN(auto out, B::alloc(out_numel, DType::kF32));
  OP_ASSIGN(auto buffers, BatchBuffers<B>::upload(batch));
  auto ctx = B::new_context();
  OP_TRY(B::paged_mla_attention(ctx, q_buffer, latent_buffer, rope_buffer, out, buffers.view(batch), cfg, rank, rope));
  OP_ASSIGN(auto actual, download<B>(ctx, out, out_numel));
  return compare(actual, ref::paged_mla_attention(q, latent, rope_key, batch, cfg, rank, rope), kF32Math);
}

template <Backend B>
CaseResult run_cache_write(size_t tokens, size_t heads, size_t width, size_t block_size, DType dtype) {
  Rng rng(tokens * 131 + heads * 17 + width + block_size);
  const size_t num_blocks = (tokens + block_size - 1) / block_size + 2;
  // Distinct slots in a shuffled order; every fifth token is skipped (-1).
  std::vector<int32_t> all_slots(num_blocks * block_size);
  std::iota(all_slots.begin(), all_slots.end(), 0);
  for (size_t i = all_slots.size(); i > 1; --i) std::swap(all_slots[i - 1], all_slots[rng.below(i)]);
  std::vector<int32_t> slots(all_slots.begin(), all_slots.begin() + static_cast<std::ptrdiff_t>(tokens));
  for (size_t t = 3; t < tokens; t += 5) slots[t] = -1;
  std::vector<float> pool;
  OP_ASSIGN(auto pool_buffer, random_pool<B>(rng, num_blocks * heads * block_size, width, dtype, pool));
  std::vector<float> rows = random_values(rng, heads * tokens * width, DType::kF32, -3.0f, 3.0f);
  for (size_t h = 0; h < heads; ++h)
    std::fill_n(rows.begin() + static_cast<std::ptrdiff_t>(h * tokens * width), width, 0.0f);
  OP_ASSIGN(auto rows_buffer, upload<B>(rows, DType::kF32));
  OP_ASSIGN(auto slot_buffer, upload<B>(std::vector<float>(slots.begin(), slots.end()), DType::kI32));
  auto ctx = B::new_context();
  if (dtype == DType::kF8E4M3) {
    // Byte for byte: the codes and the scales.
    std::vector<uint8_t> before(pool_buffer.nbytes()), after(pool_buffer.nbytes());
    OP_TRY(B::to_host(pool_buffer, std::span<uint8_t>(before)));
    OP_TRY(B::paged_cache_write(ctx, pool_buffer, rows_buffer, slot_buffer, tokens, heads, width, block_size));
    OP_TRY(B::sync(ctx));
    OP_TRY(B::to_host(pool_buffer, std::span<uint8_t>(after)));
    const std::vector<uint8_t> expected = ref::paged_cache_write_e4m3(before, rows, slots, heads, width, block_size);
    CaseResult result;
    const auto miss = std::mismatch(after.begin(), after.end(), expected.begin());
    result.passed = miss.first == after.end();
    result.numeric = false;
    if (!result.passed) {
      result.detail = cat("byte ", miss.first - after.begin(), " of ", after.size(), " is ", int{*miss.first},
                          ", expected ", int{*miss.second});
    }
    return result;
  }
  OP_TRY(B::paged_cache_write(ctx, pool_buffer, rows_buffer, slot_buffer, tokens, heads, width, block_size));
  OP_ASSIGN(auto actual, download<B>(ctx, pool_buffer, pool.size()));
  return compare(actual, ref::paged_cache_write(pool, rows, slots, heads, width, block_size),
                 stored_tolerance(dtype, kExact));
}

// gather_rows, or with `slice` its vocabulary-parallel forms over a table holding the rows of ids
// [first_id, first_id + rows): ids are drawn on both sides of the slice, which look up zeros.
template <Backend B>
CaseResult run_gather_rows(size_t rows, size_t count, size_t dim, DType dtype, bool slice) {
  Rng rng(rows * 7 + count * 3 + dim);
  const std::vector<float> table = random_values(rng, rows * dim, dtype);
  const size_t first_id = slice ? rows / 2 + 1 : 0;
  std::vector<float> ids(count);
  for (float& id : ids) id = static_cast<float>(rng.below(slice ? 2 * rows + 2 : rows));  // repeats included
  OP_ASSIGN(auto table_buffer, upload<B>(table, dtype));
  OP_ASSIGN(auto id_buffer, upload<B>(ids, DType::kI32));
  OP_ASSIGN(auto out, B::alloc(count * dim, DType::kF32));
  auto ctx = B::new_context();
  std::vector<double> expected(count * dim, 0.0);
  for (size_t i = 0; i < count; ++i) {
    const auto id = static_cast<size_t>(ids[i]);
    if (id < first_id || id - first_id >= rows) continue;
    for (size_t d = 0; d < dim; ++d) expected[i * dim + d] = table[(id - first_id) * dim + d];
  }
  if (!slice) {
    OP_TRY(B::gather_rows(ctx, table_buffer, id_buffer, count, out, dim));
    OP_ASSIGN(auto actual, download<B>(ctx, out, count * dim));
    return compare(actual, expected, kExact);
  }
  OP_TRY(B::gather_rows_slice(ctx, table_buffer, id_buffer, count, first_id, out, dim));
  OP_ASSIGN(auto from_device_ids, download<B>(ctx, out, count * dim));
  CaseResult device_ids = compare(from_device_ids, expected, kExact);
  if (!device_ids.passed) return device_ids;
  const std::vector<uint32_t> host_ids(ids.begin(), ids.end());
  OP_TRY(B::embedding_lookup_slice(ctx, table_buffer, host_ids, first_id, out, dim));
  OP_ASSIGN(auto from_host_ids, download<B>(ctx, out, count * dim));
  return compare(from_host_ids, expected, kExact);
}

template <Backend B>
CaseResult run_copy_from_host() {
  OP_ASSIGN(auto ints, B::alloc(10, DType::kI32));
  OP_ASSIGN(auto floats, B::alloc(6, DType::kF32));
  const std::vector<int32_t> int_values = {7, -1, 1 << 30, 0};
  const std::vector<float> float_values = {0.5f, -3.25f};
  auto ctx = B::new_context();
  const auto bytes_of = [](const auto& values) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(values[0]));
  };
  OP_TRY(B::copy_from_host(ctx, bytes_of(int_values), ints, 5));
  OP_TRY(B::copy_from_host(ctx, bytes_of(float_values), floats, 4));
  OP_TRY(B::sync(ctx));
  std::vector<int32_t> int_back(10);
  OP_TRY(B::to_host(ints, std::span<uint8_t>(reinterpret_cast<uint8_t*>(int_back.data()), 40)));
  OP_ASSIGN(auto float_back, download<B>(ctx, floats, 6));
  const std::vector<int32_t> int_expected = {0, 0, 0, 0, 0, 7, -1, 1 << 30, 0, 0};
  if (int_back != int_expected) {
    CaseResult result;
    result.detail = "i32 elements 5..8 did not come back as written";
    return result;
  }
  return compare(float_back, std::vector<double>{0, 0, 0, 0, 0.5, -3.25}, kExact);
}

std::string attention_case_name(const PagedCase& c) {
  std::string shapes;
  for (const SeqShape& seq : c.seqs) shapes += cat(seq.q_len, "/", seq.context, " ");
  if (c.seqs.size() > 6) shapes = cat(c.seqs.size(), " sequences ");
  return cat(c.label, ": q/ctx ", shapes, "bs=", c.block_size, " h=", c.heads, "/", c.kv_heads, " hd=", c.head_dim,
             c.window ? cat(" win=", c.window) : "");
}

template <Backend B>
void add_cases(CaseList& cases) {
  for (const PagedCase& c : attention_cases()) {
    add_case<B>(cases, "paged_attention", attention_case_name(c), std::string(dtype_name(c.kv_dtype)), c.heavy,
                [c] { return run_paged_attention<B>(c); });
  }
  if constexpr (takes_half_activations<B>()) {
    std::vector<PagedCase> half_cases = half_activation_cases();
    for (const PagedCase& c : attention_cases()) {
      if (c.kv_dtype == DType::kBF16 || c.kv_dtype == DType::kF16) half_cases.push_back(c);
    }
    for (const PagedCase& c : half_cases) {
      for (bool hint : {false, true}) {
        add_case<B>(cases, "paged_attention",
                    cat(attention_case_name(c), ", q/out ", dtype_name(c.kv_dtype), hint ? ", host lengths" : ""),
                    std::string(dtype_name(c.kv_dtype)), c.heavy,
                    [c, hint] { return run_paged_attention<B>(c, c.kv_dtype, hint); });
      }
      if constexpr (kHasTokenMajorPaged<B>) {
        // Host lengths, as the engine passes them: decode-only batches take the decode kernels'
        // token-major stores, the others the transposing fallback.
        add_case<B>(cases, "paged_attention_token_major",
                    cat(attention_case_name(c), ", q/out ", dtype_name(c.kv_dtype), ", host lengths"),
                    std::string(dtype_name(c.kv_dtype)), c.heavy,
                    [c] { return run_paged_attention<B>(c, c.kv_dtype, true, true); });
      }
    }
  }
  for (const PagedCase& c : mla_cases()) {
    const std::string name = cat(c.label, ": ", c.seqs.size(), " sequences, bs=", c.block_size, " h=", c.heads,
                                 " rank=", c.head_dim, "+", c.kv_heads);
    add_case<B>(cases, "paged_mla_attention", name, std::string(dtype_name(c.kv_dtype)), c.heavy,
                [c] { return run_paged_mla<B>(c); });
  }
  struct WriteCase {
    size_t tokens, heads, width, block_size;
    DType dtype;
  };
  for (const WriteCase& w : {WriteCase{1, 1, 1, 1, DType::kF32}, WriteCase{40, 4, 64, 16, DType::kF32},
                             WriteCase{33, 2, 80, 7, DType::kBF16}, WriteCase{100, 1, 17, 16, DType::kF16},
                             WriteCase{64, 8, 128, 16, DType::kBF16}, WriteCase{1, 1, 4, 1, DType::kF8E4M3},
                             WriteCase{40, 4, 64, 16, DType::kF8E4M3}, WriteCase{33, 2, 80, 7, DType::kF8E4M3},
                             WriteCase{20, 1, 512, 16, DType::kF8E4M3}}) {
    add_case<B>(cases, "paged_cache_write",
                shape_name({{"tokens", w.tokens}, {"heads", w.heads}, {"width", w.width}, {"bs", w.block_size}}),
                std::string(dtype_name(w.dtype)), false,
                [w] { return run_cache_write<B>(w.tokens, w.heads, w.width, w.block_size, w.dtype); });
  }
  for (auto [rows, count, dim, dtype] : {std::tuple<size_t, size_t, size_t, DType>{1, 1, 1, DType::kF32},
                                         {512, 64, 64, DType::kF32},
                                         {4096, 300, 17, DType::kBF16},
                                         {100, 5, 4096, DType::kF16}}) {
    add_case<B>(cases, "gather_rows", shape_name({{"rows", rows}, {"ids", count}, {"dim", dim}}),
                std::string(dtype_name(dtype)), false,
                [=] { return run_gather_rows<B>(rows, count, dim, dtype, false); });
    add_case<B>(cases, "gather_rows_slice", shape_name({{"rows", rows}, {"ids", count}, {"dim", dim}}),
                std::string(dtype_name(dtype)), false,
                [=] { return run_gather_rows<B>(rows, count, dim, dtype, true); });
  }
  add_case<B>(cases, "copy_from_host", "i32 and f32 at offsets", "i32/f32", false,
              [] { return run_copy_from_host<B>(); });

  using Buffer = typename B::Buffer;
  // A valid decode of two sequences (contexts 5 and 20, block size 4, 2 heads over 1 KV head of dim
  // 8, a pool of 8 blocks) with one thing broken.
  struct Broken {
    std::vector<float> query_start = {0, 1, 2};
    std::vector<float> context_lens = {5, 20};
    std::vector<float> tables = {0, 1, -1, -1, -1, 2, 3, 4, 5, 6};
    size_t num_tokens = 2;
    size_t pool_numel = 8 * 4 * 8;
  };
  auto attend = [](Broken broken) -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer q, B::alloc(2 * 3 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer k, B::alloc(broken.pool_numel, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer v, B::alloc(broken.pool_numel, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 3 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer query_start, B::from_slice(broken.query_start, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer context_lens, B::from_slice(broken.context_lens, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer tables, B::from_slice(broken.tables, DType::kI32));
    PagedAttnBatch<Buffer> batch{&query_start, &context_lens, &tables, 2, broken.num_tokens, 5, 4, 1, 20};
    AttnConfig cfg{2, 1, 8, true, 0.35f, 0, 0};
    auto ctx = B::new_context();
    FERRUM_TRY(B::paged_attention(ctx, q, k, v, out, batch, cfg));
    return B::sync(ctx);
  };
  add_error_case<B>(cases, "paged_attention", "pool not whole blocks", ErrorCode::kShapeMismatch, [=] {
    Broken broken;
    broken.pool_numel = 8 * 4 * 8 - 1;
    return attend(broken);
  });
  add_error_case<B>(cases, "paged_cache_write", "slot_mapping is f32", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer pool, B::alloc(2 * 4 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer rows, B::alloc(2 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer slots, B::alloc(2, DType::kF32));
    auto ctx = B::new_context();
    return B::paged_cache_write(ctx, pool, rows, slots, 2, 1, 8, 4);
  });
  add_error_case<B>(cases, "paged_cache_write", "fp8 pool rows not a multiple of 4", ErrorCode::kUnsupported,
                    []() -> Status {
                      FERRUM_ASSIGN_OR_RETURN(Buffer pool, B::alloc(2 * 4 * (6 + 4), DType::kF8E4M3));
                      FERRUM_ASSIGN_OR_RETURN(Buffer rows, B::alloc(2 * 6, DType::kF32));
                      FERRUM_ASSIGN_OR_RETURN(Buffer slots, B::alloc(2, DType::kI32));
                      auto ctx = B::new_context();
                      return B::paged_cache_write(ctx, pool, rows, slots, 2, 1, 6, 4);
                    });
  add_error_case<B>(cases, "copy_from_host", "past the end", ErrorCode::kShapeMismatch, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer ints, B::alloc(4, DType::kI32));
    const std::vector<int32_t> values = {1, 2};
    auto ctx = B::new_context();
    return B::copy_from_host(ctx, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()), 8), ints,
                             3);
  });
  add_error_case<B>(cases, "gather_rows", "ids are f32", ErrorCode::kUnsupported, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer table, B::alloc(4 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::alloc(2, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 8, DType::kF32));
    auto ctx = B::new_context();
    return B::gather_rows(ctx, table, ids, 2, out, 8);
  });
  // The values of the metadata are checked only where they are on the host before the kernel runs;
  // a device backend trusts the engine's tables (its kernels skip block ids outside the pool).
  if constexpr (!reads_metadata_on_host<B>()) return;
  add_error_case<B>(cases, "paged_attention", "block id past the pool", ErrorCode::kOutOfRange, [=] {
    Broken broken;
    broken.tables[7] = 8;
    return attend(broken);
  });
  add_error_case<B>(cases, "paged_attention", "context shorter than its query rows", ErrorCode::kInvalidArgument, [=] {
    Broken broken;
    broken.query_start = {0, 2, 3};
    broken.num_tokens = 3;
    broken.context_lens = {1, 20};
    return attend(broken);
  });
  add_error_case<B>(cases, "paged_attention", "context needs more blocks than the table has", ErrorCode::kOutOfRange,
                    [=] {
                      Broken broken;
                      broken.context_lens = {5, 21};
                      return attend(broken);
                    });
  add_error_case<B>(cases, "paged_attention", "query_start does not end at num_tokens", ErrorCode::kShapeMismatch, [=] {
    Broken broken;
    broken.num_tokens = 1;
    return attend(broken);
  });
  add_error_case<B>(cases, "gather_rows", "id past the table", ErrorCode::kOutOfRange, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer table, B::alloc(4 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::from_slice(std::vector<float>{3, 4}, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(2 * 8, DType::kF32));
    auto ctx = B::new_context();
    return B::gather_rows(ctx, table, ids, 2, out, 8);
  });
  add_error_case<B>(cases, "gather_rows", "negative id", ErrorCode::kOutOfRange, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer table, B::alloc(4 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer ids, B::from_slice(std::vector<float>{-1}, DType::kI32));
    FERRUM_ASSIGN_OR_RETURN(Buffer out, B::alloc(8, DType::kF32));
    auto ctx = B::new_context();
    return B::gather_rows(ctx, table, ids, 1, out, 8);
  });
  add_error_case<B>(cases, "paged_cache_write", "slot past the pool", ErrorCode::kOutOfRange, []() -> Status {
    FERRUM_ASSIGN_OR_RETURN(Buffer pool, B::alloc(2 * 4 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer rows, B::alloc(2 * 8, DType::kF32));
    FERRUM_ASSIGN_OR_RETURN(Buffer slots, B::from_slice(std::vector<float>{1, 8}, DType::kI32));
    auto ctx = B::new_context();
    FERRUM_TRY(B::paged_cache_write(ctx, pool, rows, slots, 2, 1, 8, 4));
    return B::sync(ctx);
  });
}

}  // namespace

void add_paged_cases(CaseList& cases) {
  for_each_backend([&]<Backend B>() { add_cases<B>(cases); });
}

}  // namespace ferrum::op_test
