// Tensor-parallel collectives of the CPU backend over the rank group's TCP connections. The group is
// a star around rank 0, so every collective is a gather to rank 0 followed by a send back: two
// message latencies, which is what the CPU path (CI's stand-in for NCCL) needs. Rank 0 combines
// the parts in rank order, so the result does not depend on which rank's data arrived first and
// every rank receives the very same bytes.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_common.h"

namespace ferrum {
namespace {

using dist::MessageTag;
using dist::RankGroup;

std::span<uint8_t> bytes_of(CpuBuffer& buffer, size_t offset_bytes, size_t size) {
  return {static_cast<uint8_t*>(buffer.data()) + offset_bytes, size};
}

Expected<size_t> element_bytes(std::string_view op, const CpuBuffer& buffer) {
  const DTypeInfo& info = dtype_info(buffer.dtype());
  FERRUM_CHECK(!info.is_quantized, ErrorCode::kUnsupported, op, ": a buffer of block type ", buffer.dtype(),
               " cannot be exchanged element by element");
  return info.block_bytes;
}

float combine(float a, float b, ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return a + b;
    case ReduceOp::kMax: return std::max(a, b);
    case ReduceOp::kMin: return std::min(a, b);
  }
  return a;
}

}  // namespace

Expected<CpuContext> CpuBackend::new_parallel_context(std::shared_ptr<dist::RankGroup> group, size_t /*local_device*/) {
  FERRUM_CHECK(group != nullptr, ErrorCode::kInvalidArgument, "new_parallel_context: no rank group");
  CpuContext ctx;
  ctx.rank_group = std::move(group);
  return ctx;
}

Status CpuBackend::all_reduce(CpuContext& ctx, CpuBuffer& data, size_t len, ReduceOp op) {
  FERRUM_CHECK(data.dtype() == DType::kF32, ErrorCode::kUnsupported, "all_reduce: data is ", data.dtype(),
               ", the CPU backend reduces f32");
  FERRUM_TRY(cpu::check_range("all_reduce", "data", data.numel(), 0, len));
  RankGroup* group = ctx.rank_group.get();
  if (group == nullptr || group->size() == 1 || len == 0) return ok();
  const size_t bytes = len * sizeof(float);
  float* values = data.data_as<float>();
  if (group->rank() != 0) {
    FERRUM_TRY(group->send(0, MessageTag::kCollective, bytes_of(data, 0, bytes)));
    return group->recv(0, MessageTag::kCollective, bytes_of(data, 0, bytes), group->op_deadline());
  }
  std::vector<float> part(len);
  for (size_t peer = 1; peer < group->size(); ++peer) {
    FERRUM_TRY(group->recv(peer, MessageTag::kCollective, std::span(reinterpret_cast<uint8_t*>(part.data()), bytes),
                           group->op_deadline()));
    for (size_t i = 0; i < len; ++i) values[i] = combine(values[i], part[i], op);
  }
  return group->send_to_all(MessageTag::kCollective, bytes_of(data, 0, bytes));
}

Status CpuBackend::all_gather(CpuContext& ctx, const CpuBuffer& local, CpuBuffer& global, size_t local_len) {
  FERRUM_CHECK(local.dtype() == global.dtype(), ErrorCode::kUnsupported, "all_gather: local is ", local.dtype(),
               ", global ", global.dtype());
  RankGroup* group = ctx.rank_group.get();
  const size_t ranks = group ? group->size() : 1;
  FERRUM_TRY(cpu::check_range("all_gather", "local", local.numel(), 0, local_len));
  FERRUM_TRY(cpu::check_range("all_gather", "global", global.numel(), 0, local_len * ranks));
  // With one rank the concatenation over ranks is the local part itself.
  if (ranks == 1) return cpu::copy_elements("all_gather", local, 0, global, 0, local_len);
  FERRUM_ASSIGN_OR_RETURN(size_t element, element_bytes("all_gather", local));
  const size_t part_bytes = local_len * element;
  if (group->rank() != 0) {
    FERRUM_TRY(
        group->send(0, MessageTag::kCollective, std::span(static_cast<const uint8_t*>(local.data()), part_bytes)));
    return group->recv(0, MessageTag::kCollective, bytes_of(global, 0, part_bytes * ranks), group->op_deadline());
  }
  if (part_bytes > 0) std::memcpy(global.data(), local.data(), part_bytes);
  for (size_t peer = 1; peer < ranks; ++peer) {
    FERRUM_TRY(group->recv(peer, MessageTag::kCollective, bytes_of(global, peer * part_bytes, part_bytes),
                           group->op_deadline()));
  }
  return group->send_to_all(MessageTag::kCollective, bytes_of(global, 0, part_bytes * ranks));
}

Status CpuBackend::broadcast(CpuContext& ctx, CpuBuffer& data, size_t len, size_t src_rank) {
  RankGroup* group = ctx.rank_group.get();
  const size_t ranks = group ? group->size() : 1;
  FERRUM_CHECK(src_rank < ranks, ErrorCode::kInvalidArgument, "broadcast: src_rank ", src_rank, " with world_size ",
               ranks);
  FERRUM_TRY(cpu::check_range("broadcast", "data", data.numel(), 0, len));
  if (ranks == 1) return ok();
  FERRUM_ASSIGN_OR_RETURN(size_t element, element_bytes("broadcast", data));
  const std::span<uint8_t> bytes = bytes_of(data, 0, len * element);
  const size_t rank = group->rank();
  // Everything passes through rank 0: a source elsewhere sends to rank 0 first.
  if (src_rank != 0) {
    if (rank == src_rank) FERRUM_TRY(group->send(0, MessageTag::kCollective, bytes));
    if (rank == 0) FERRUM_TRY(group->recv(src_rank, MessageTag::kCollective, bytes, group->op_deadline()));
  }
  if (rank == 0) {
    for (size_t peer = 1; peer < ranks; ++peer) {
      if (peer != src_rank) FERRUM_TRY(group->send(peer, MessageTag::kCollective, bytes));
    }
    return ok();
  }
  if (rank == src_rank) return ok();
  return group->recv(0, MessageTag::kCollective, bytes, group->op_deadline());
}

}  // namespace ferrum
