// A tensor-parallel rank group: the processes that together hold one model, one per GPU (or, on
// the CPU backend, one per shard), connected to rank 0 over TCP in a star.
//
// Every non-zero rank opens two connections to rank 0:
//   data      messages in program order: the setup, each step rank 0 broadcasts, the NCCL unique id,
//             and on the CPU backend the collectives' payloads. Both sides run the same sequence of
//             calls, so a message's tag is known in advance and checked (a mismatch means the ranks
//             diverged, and the error says which tags met).
//   liveness  never carries data. A watcher thread polls these; when a peer's process dies the
//             kernel closes its sockets and the watcher learns it at once, even while the main
//             thread is blocked elsewhere (in a GPU collective that would otherwise hang forever).
//
// Deadlines: joining must finish within join_timeout; a message rank 0 waits for during a step
// within op_timeout (FERRUM_TP_TIMEOUT_S). Followers wait for rank 0's next step without a deadline
// (a server may sit idle for hours); they notice rank 0's death through end-of-file instead.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "dist/socket.h"

namespace ferrum::dist {

enum class MessageTag : uint32_t {
  kHello = 1,    // a joining rank introduces itself
  kWelcome,      // rank 0 accepts (or refuses, with the reason)
  kSetup,        // rank 0's description of the model to load
  kReady,        // a rank loaded its shard (or failed, with the reason)
  kStep,         // one step rank 0 broadcasts
  kCollective,   // payload of a host collective (CPU backend)
  kNcclUniqueId,  // the NCCL bootstrap id rank 0 created
  kIpcHandles     // the CUDA IPC all-reduce's buffers and whether every rank mapped them
};

std::string_view message_tag_name(MessageTag tag);

struct RankGroupOptions {
  std::chrono::milliseconds join_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds op_timeout{std::chrono::seconds(600)};
  // join_timeout from FERRUM_TP_JOIN_TIMEOUT_S and op_timeout from FERRUM_TP_TIMEOUT_S when set.
  static RankGroupOptions from_environment();
};

class RankGroup {
 public:
  // Rank 0: waits on `listener` until ranks 1..world_size-1 have joined. `still_waiting` runs
  // about every 100 ms and may end the wait with its error (a worker that failed to start).
  static Expected<std::unique_ptr<RankGroup>> host(Listener& listener, size_t world_size,
                                                   const RankGroupOptions& options,
                                                   const std::function<Status()>& still_waiting);
  // Rank `rank` > 0: connects to rank 0 at host:port (retrying until join_timeout while it starts).
  static Expected<std::unique_ptr<RankGroup>> join(const std::string& host, uint16_t port, size_t rank,
                                                   size_t world_size, const RankGroupOptions& options);
  ~RankGroup();
  RankGroup(const RankGroup&) = delete;
  RankGroup& operator=(const RankGroup&) = delete;

  size_t rank() const { return rank_; }
  size_t size() const { return world_size_; }
  const RankGroupOptions& options() const { return options_; }
  static std::string peer_name(size_t peer) { return "tensor-parallel rank " + std::to_string(peer); }
  // When a message rank 0 waits for during a step must have arrived.
  Clock::time_point op_deadline() const { return Clock::now() + options_.op_timeout; }

  // Point to point over the data connections: rank 0 talks to every rank, the others to rank 0.
  Status send(size_t peer, MessageTag tag, std::span<const uint8_t> payload);
  // Receives a message of exactly payload.size() bytes.
  Status recv(size_t peer, MessageTag tag, std::span<uint8_t> payload, std::optional<Clock::time_point> deadline);
  // Receives a message of any size.
  Expected<std::vector<uint8_t>> recv_message(size_t peer, MessageTag tag, std::optional<Clock::time_point> deadline);
  // Rank 0 sends `payload` to every other rank.
  Status send_to_all(MessageTag tag, std::span<const uint8_t> payload);

  // Rank 0, after telling the others to shut down: waits (until `deadline`) for every rank to
  // close its connections, so that no rank still watching sees rank 0 go first and reports it as
  // a failure.
  void await_departures(Clock::time_point deadline);

  // Starts the liveness watcher: `on_lost(peer, reason)` runs once, on the watcher thread, when a
  // peer's connection closes. Until then healthy() is true.
  using LostPeer = std::function<void(size_t peer, const std::string& reason)>;
  void watch_peers(LostPeer on_lost);
  // Stops the watcher (before an orderly shutdown, when peers are expected to go away).
  void stop_watching();
  bool healthy() const { return healthy_.load(); }
  // Why the group is not healthy (empty while it is).
  std::string failure() const;

 private:
  RankGroup(size_t rank, size_t world_size, const RankGroupOptions& options);
  Status check_peer(size_t peer) const;
  const Socket& data_socket(size_t peer) const { return rank_ == 0 ? data_[peer] : data_[0]; }
  void watch_loop();

  size_t rank_ = 0;
  size_t world_size_ = 1;
  RankGroupOptions options_;
  // Rank 0: indexed by rank (entry 0 unused). Others: one entry, the connection to rank 0.
  std::vector<Socket> data_;
  std::vector<Socket> liveness_;

  std::atomic<bool> healthy_{true};
  mutable std::mutex failure_mutex_;
  std::string failure_;
  LostPeer on_lost_;
  int wake_pipe_[2] = {-1, -1};
  std::thread watcher_;
};

}  // namespace ferrum::dist
