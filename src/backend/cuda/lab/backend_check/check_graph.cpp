// CUDA-graph decode: a tiny multi-op decode step (embedding -> norm -> QKV GEMM -> RoPE -> KV append
// -> attention -> output GEMM -> argmax) run eagerly on one context, and on another captured once
// in device-state mode and then replayed with new tokens and positions. Logits must match.
#include "backend/cuda/lab/backend_check/check_common.h"

namespace ferrum::cuda_check {
namespace {

constexpr size_t kVocab = 97, kDim = 64, kHeads = 2, kHeadDim = 32, kCapacity = 32;

struct Weights {
  CudaBuffer table, norm, qkv, out, cos, sin;
};

struct State {
  CudaBuffer x, xn, qkv, q, k, v, q_hm, k_hm, v_hm, cache_k, cache_v, attn, attn_t, logits, next;
};

State make_state(Checker& c) {
  auto buffer = [&](size_t n, DType dtype = DType::kF32) { return c.value("alloc", B::alloc(n, dtype)); };
  return State{buffer(kDim),
               buffer(kDim),
               buffer(3 * kDim),
               buffer(kDim),
               buffer(kDim),
               buffer(kDim),
               buffer(kDim),
               buffer(kDim),
               buffer(kDim),
               buffer(kHeads * kCapacity * kHeadDim),
               buffer(kHeads * kCapacity * kHeadDim),
               buffer(kDim),
               buffer(kDim),
               buffer(kVocab),
               buffer(1, DType::kI32)};
}

Status decode_step(CudaContext& ctx, const Weights& w, State& s, uint32_t token, size_t step) {
  const std::vector<uint32_t> ids = {token};
  FERRUM_TRY(B::embedding_lookup(ctx, w.table, ids, s.x, kDim));
  FERRUM_TRY(B::rms_norm(ctx, s.x, w.norm, 1e-6f, s.xn, 1, kDim));
  FERRUM_TRY(B::gemm(ctx, s.xn, w.qkv, s.qkv, 1, 3 * kDim, kDim));
  FERRUM_TRY(B::split_qkv(ctx, s.qkv, s.q, s.k, s.v, 1, kDim, kDim));
  FERRUM_TRY(B::qk_norm_rope(ctx, s.q, w.norm, w.cos, w.sin, s.q_hm, 1, kHeads, kHeadDim, step, 1e-6f, kQkRope));
  FERRUM_TRY(B::qk_norm_rope(ctx, s.k, w.norm, w.cos, w.sin, s.k_hm, 1, kHeads, kHeadDim, step, 1e-6f, kQkRope));
  FERRUM_TRY(
      B::qk_norm_rope(ctx, s.v, w.norm, w.cos, w.sin, s.v_hm, 1, kHeads, kHeadDim, step, 1e-6f, kQkTransposeOnly));
  FERRUM_TRY(
      B::kv_cache_append_head_major(ctx, s.cache_k, s.cache_v, step, kCapacity, s.k_hm, s.v_hm, 1, kHeads, kHeadDim));
  const AttnConfig cfg{kHeads, kHeads, kHeadDim, true, 1.0f / std::sqrt(float(kHeadDim)), kCapacity, 0};
  FERRUM_TRY(B::flash_attention(ctx, s.q_hm, s.cache_k, s.cache_v, s.attn, 1, 1, step + 1, step, cfg));
  FERRUM_TRY(B::transpose_head_to_token(ctx, s.attn, s.attn_t, 1, kHeads, kHeadDim));
  FERRUM_TRY(B::gemm(ctx, s.attn_t, w.out, s.logits, 1, kVocab, kDim));
  return B::argmax_rows(ctx, s.logits, s.next, 1, kVocab);
}

}  // namespace

void check_graph_decode(Checker& c) {
  Weights w{upload(c, random_values(kVocab * kDim, 60), DType::kF32),
            upload(c, random_values(kDim, 61, 0.5f, 1.5f), DType::kF32),
            upload(c, random_values(3 * kDim * kDim, 62, -0.3f, 0.3f), DType::kF32),
            upload(c, random_values(kVocab * kDim, 63, -0.3f, 0.3f), DType::kF32),
            CudaBuffer{},
            CudaBuffer{}};
  std::vector<float> cos_table(kCapacity * kHeadDim / 2), sin_table(kCapacity * kHeadDim / 2);
  for (size_t p = 0; p < kCapacity; ++p) {
    for (size_t d = 0; d < kHeadDim / 2; ++d) {
      cos_table[p * kHeadDim / 2 + d] = std::cos(p * std::pow(10000.0f, -2.0f * d / kHeadDim));
      sin_table[p * kHeadDim / 2 + d] = std::sin(p * std::pow(10000.0f, -2.0f * d / kHeadDim));
    }
  }
  w.cos = upload(c, cos_table, DType::kF32);
  w.sin = upload(c, sin_table, DType::kF32);
  const std::vector<uint32_t> tokens = {5, 17, 3, 96, 42, 42, 0, 71, 8, 60, 33, 1};
  const size_t capture_step = 3;

  CudaContext eager = B::new_context();
  CudaContext graphed = B::new_context();
  State es = make_state(c), gs = make_state(c);
  auto replayed = B::replay_last_graph(graphed);
  c.expect_true("replay_last_graph without a graph returns false", replayed && !*replayed);
  double worst = 0;
  bool all_ran = true;
  for (size_t step = 0; step < tokens.size(); ++step) {
    c.status("eager step", decode_step(eager, w, es, tokens[step], step));
    const std::vector<float> ref = download(c, es.logits, kVocab);
    B::set_decode_state(graphed, tokens[step], static_cast<uint32_t>(step));
    auto done = B::replay_last_graph(graphed);
    if (!done) {
      c.status("replay", Status(done.error()));
      all_ran = false;
      break;
    }
    if (!*done) {
      if (step == capture_step) {
        B::set_dev_state_mode(graphed, true);
        c.status("begin_graph_capture", B::begin_graph_capture(graphed));
        c.status("captured step", decode_step(graphed, w, gs, tokens[step], step));
        c.status("end_graph_capture", B::end_graph_capture(graphed));
        B::set_dev_state_mode(graphed, false);
      } else {
        c.status("eager step (graphed context)", decode_step(graphed, w, gs, tokens[step], step));
      }
    } else if (step <= capture_step) {
      all_ran = false;  // a graph exists before it was captured
    }
    const std::vector<float> got = download(c, gs.logits, kVocab);
    for (size_t i = 0; i < kVocab; ++i) worst = std::max(worst, double(std::fabs(got[i] - ref[i])));
    const std::vector<float> next_eager = download(c, es.next, 1), next_graph = download(c, gs.next, 1);
    all_ran = all_ran && next_eager == next_graph;
  }
  c.status("sync", B::sync(graphed));
  c.expect_true("graph decode: replays with new tokens/positions match eager", all_ran && worst <= 1e-4,
                "worst |logit diff| " + std::to_string(worst) + " over " + std::to_string(tokens.size()) + " steps");
  B::reset_graph(graphed);
  auto after_reset = B::replay_last_graph(graphed);
  c.expect_true("reset_graph drops the graph", after_reset && !*after_reset);
}

}  // namespace ferrum::cuda_check
