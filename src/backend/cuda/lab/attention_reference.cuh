// Plain attention reference for the attention labs, f64 throughout, the same masking rules as the
// backend (causal: key j <= p; window w: j > p - w; p = pos_offset + i). One block per checked
// query row: threads score the keys, then take the softmax, then spread over the value dims.
// Long prefills check every `row_step`-th row, which keeps the reference fast and still covers
// every query tile and mask boundary pattern.
#pragma once

#include <vector>

#include "backend/cuda/kernels/device_common.cuh"
#include "backend/cuda/lab/lab_common.cuh"

namespace lab {

struct RefProblem {
  int batch, heads, kv_heads, q_len, kv_len, kv_stride, pos_offset;
  int d1, d2, dv;  // key = k1 row (d1) ++ k2 row (d2); value = v row (dv)
  bool causal;
  int window;
  float scale;
};

template <class T>
__global__ void attention_reference_kernel(RefProblem p, const T* q, const T* k1, const T* k2, const T* v,
                                           size_t row_step, double* scores, double* out) {
  __shared__ double reduce[128];
  const size_t row = blockIdx.x * row_step;
  double* my_scores = scores + blockIdx.x * size_t{1} * p.kv_len;
  const int i = row % p.q_len, h = (row / p.q_len) % p.heads, b = row / (size_t{1} * p.q_len * p.heads);
  const int kh = h / (p.heads / p.kv_heads), dk = p.d1 + p.d2, pos = p.pos_offset + i;
  const T* q_row = q + row * dk;
  const size_t base = (size_t{1} * b * p.kv_heads + kh) * p.kv_stride;
  double local_max = -1e300;
  for (int j = threadIdx.x; j < p.kv_len; j += blockDim.x) {
    const bool visible = (!p.causal || j <= pos) && (p.window == 0 || j + p.window > pos);
    double s = -1e300;
    if (visible) {
      s = 0;
      for (int d = 0; d < p.d1; ++d) {
        s += double(ferrum::cuda::to_f32(q_row[d])) * ferrum::cuda::to_f32(k1[(base + j) * p.d1 + d]);
      }
      for (int d = 0; d < p.d2; ++d) {
        s += double(ferrum::cuda::to_f32(q_row[p.d1 + d])) * ferrum::cuda::to_f32(k2[(base + j) * p.d2 + d]);
      }
      s *= p.scale;
    }
    my_scores[j] = s;
    local_max = s > local_max ? s : local_max;
  }
  reduce[threadIdx.x] = local_max;
  __syncthreads();
  double max_score = -1e300;
  for (int t = 0; t < blockDim.x; ++t) max_score = reduce[t] > max_score ? reduce[t] : max_score;
  __syncthreads();
  double local_sum = 0;
  for (int j = threadIdx.x; j < p.kv_len; j += blockDim.x) {
    const double e = my_scores[j] <= -1e299 ? 0.0 : exp(my_scores[j] - max_score);
    my_scores[j] = e;
    local_sum += e;
  }
  reduce[threadIdx.x] = local_sum;
  __syncthreads();
  double sum = 0;
  for (int t = 0; t < blockDim.x; ++t) sum += reduce[t];
  for (int d = threadIdx.x; d < p.dv; d += blockDim.x) {
    double acc = 0;
    for (int j = 0; j < p.kv_len; ++j) {
      if (my_scores[j] != 0.0) acc += my_scores[j] * ferrum::cuda::to_f32(v[(base + j) * p.dv + d]);
    }
    out[blockIdx.x * size_t{1} * p.dv + d] = sum > 0 ? acc / sum : 0.0;
  }
}

// Reference rows 0, row_step, 2 row_step, ... (at most max_rows of them), [checked rows, dv].
template <class T>
std::vector<double> attention_reference(const RefProblem& p, const T* q, const T* k1, const T* k2, const T* v,
                                        size_t max_rows, size_t& row_step) {
  const size_t rows = size_t{1} * p.batch * p.heads * p.q_len;
  row_step = rows <= max_rows ? 1 : (rows + max_rows - 1) / max_rows;
  row_step |= 1;  // odd, so the sampled rows cycle through heads and positions
  const size_t checked = (rows + row_step - 1) / row_step;
  double* scores = device_alloc<double>(checked * p.kv_len);
  double* out = device_alloc<double>(checked * p.dv);
  attention_reference_kernel<<<checked, 128>>>(p, q, k1, k2, v, row_step, scores, out);
  LAB_LAUNCH_CHECK("attention_reference");
  std::vector<double> host(checked * p.dv);
  LAB_CHECK(cudaMemcpy(host.data(), out, host.size() * 8, cudaMemcpyDeviceToHost));
  LAB_CHECK(cudaFree(scores));
  LAB_CHECK(cudaFree(out));
  return host;
}

// The rows of `out` [rows, dv] that the reference computed.
inline std::vector<float> sampled_rows(const std::vector<float>& out, size_t dv, size_t row_step) {
  std::vector<float> picked;
  for (size_t r = 0; r * dv < out.size(); r += row_step) {
    picked.insert(picked.end(), out.begin() + r * dv, out.begin() + (r + 1) * dv);
  }
  return picked;
}

}  // namespace lab
