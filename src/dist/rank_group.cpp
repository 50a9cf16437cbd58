#include "dist/rank_group.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "dist/wire.h"

namespace ferrum::dist {
namespace {

constexpr uint32_t kMagic = 0x50544652;  // "FRTP"
constexpr uint32_t kProtocolVersion = 1;
enum Channel : uint8_t { kDataChannel = 0, kLivenessChannel = 1 };

struct FrameHeader {
  uint32_t tag = 0;
  uint32_t reserved = 0;
  uint64_t length = 0;
};
static_assert(sizeof(FrameHeader) == 16);

Status send_frame(const Socket& socket, MessageTag tag, std::span<const uint8_t> payload, const std::string& peer) {
  const FrameHeader header{static_cast<uint32_t>(tag), 0, payload.size()};
  return socket.send_all(std::span(reinterpret_cast<const uint8_t*>(&header), sizeof(header)), payload, peer);
}

Expected<FrameHeader> recv_header(const Socket& socket, MessageTag expected, const std::string& peer,
                                  std::optional<Clock::time_point> deadline) {
  FrameHeader header;
  FERRUM_TRY(socket.recv_exact(std::span(reinterpret_cast<uint8_t*>(&header), sizeof(header)), peer, deadline));
  FERRUM_CHECK(header.tag == static_cast<uint32_t>(expected), ErrorCode::kInternal, peer, " sent a ",
               message_tag_name(static_cast<MessageTag>(header.tag)), " message where a ", message_tag_name(expected),
               " message was expected: the ranks are out of step");
  return header;
}

std::chrono::milliseconds seconds_from_environment(const char* name, std::chrono::milliseconds fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (end == text || seconds <= 0) return fallback;
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

struct Hello {
  uint64_t rank = 0;
  uint64_t world_size = 0;
  uint8_t channel = kDataChannel;
};

std::vector<uint8_t> encode_hello(const Hello& hello) {
  WireWriter writer;
  writer.put(kMagic);
  writer.put(kProtocolVersion);
  writer.put(hello.rank);
  writer.put(hello.world_size);
  writer.put(hello.channel);
  return std::move(writer.bytes());
}

Expected<Hello> decode_hello(std::span<const uint8_t> bytes) {
  WireReader reader(bytes, "hello message");
  FERRUM_ASSIGN_OR_RETURN(uint32_t magic, reader.get<uint32_t>());
  FERRUM_ASSIGN_OR_RETURN(uint32_t version, reader.get<uint32_t>());
  FERRUM_CHECK(magic == kMagic, ErrorCode::kParse, "a connection that is not a ferrum rank reached the group's port");
  FERRUM_CHECK(version == kProtocolVersion, ErrorCode::kUnsupported, "a rank speaks protocol version ", version,
               ", this one ", kProtocolVersion, " (mixed ferrum builds?)");
  Hello hello;
  FERRUM_ASSIGN_OR_RETURN(hello.rank, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(hello.world_size, reader.get<uint64_t>());
  FERRUM_ASSIGN_OR_RETURN(hello.channel, reader.get<uint8_t>());
  return hello;
}

}  // namespace

std::string_view message_tag_name(MessageTag tag) {
  switch (tag) {
    case MessageTag::kHello: return "hello";
    case MessageTag::kWelcome: return "welcome";
    case MessageTag::kSetup: return "setup";
    case MessageTag::kReady: return "ready";
    case MessageTag::kStep: return "step";
    case MessageTag::kCollective: return "collective";
    case MessageTag::kNcclUniqueId: return "NCCL unique id";
    case MessageTag::kIpcHandles: return "IPC handles";
  }
  return "unknown";
}

RankGroupOptions RankGroupOptions::from_environment() {
  RankGroupOptions options;
  options.join_timeout = seconds_from_environment("FERRUM_TP_JOIN_TIMEOUT_S", options.join_timeout);
  options.op_timeout = seconds_from_environment("FERRUM_TP_TIMEOUT_S", options.op_timeout);
  return options;
}

RankGroup::RankGroup(size_t rank, size_t world_size, const RankGroupOptions& options)
    : rank_(rank), world_size_(world_size), options_(options) {}

RankGroup::~RankGroup() {
  stop_watching();
}

Expected<std::unique_ptr<RankGroup>> RankGroup::host(Listener& listener, size_t world_size,
                                                     const RankGroupOptions& options,
                                                     const std::function<Status()>& still_waiting) {
  FERRUM_CHECK(world_size >= 1, ErrorCode::kInvalidArgument, "a rank group needs at least one rank");
  std::unique_ptr<RankGroup> group(new RankGroup(0, world_size, options));
  group->data_.resize(world_size);
  group->liveness_.resize(world_size);
  const Clock::time_point deadline = Clock::now() + options.join_timeout;
  size_t missing = 2 * (world_size - 1);
  while (missing > 0) {
    auto socket = listener.accept(deadline, still_waiting);
    if (!socket) {
      return std::move(socket).error().with_context(cat("waiting for ", missing, " connection(s) of ", world_size - 1,
                                                        " tensor-parallel worker(s) (FERRUM_TP_JOIN_TIMEOUT_S)"));
    }
    const std::string who = "a joining rank";
    FERRUM_ASSIGN_OR_RETURN(FrameHeader header,
                            recv_header(*socket, MessageTag::kHello, who, Clock::now() + std::chrono::seconds(10)));
    FERRUM_CHECK(header.length < 1024, ErrorCode::kParse, "hello message of ", header.length, " bytes");
    std::vector<uint8_t> payload(header.length);
    FERRUM_TRY(socket->recv_exact(payload, who, Clock::now() + std::chrono::seconds(10)));
    FERRUM_ASSIGN_OR_RETURN(Hello hello, decode_hello(payload));
    std::string refusal;
    if (hello.world_size != world_size) {
      refusal = cat("it expects ", hello.world_size, " ranks but rank 0 runs ", world_size);
    } else if (hello.rank == 0 || hello.rank >= world_size) {
      refusal = cat("rank ", hello.rank, " is outside 1..", world_size - 1);
    } else if (hello.channel > kLivenessChannel) {
      refusal = cat("unknown channel ", int(hello.channel));
    } else if ((hello.channel == kDataChannel ? group->data_ : group->liveness_)[hello.rank].is_open()) {
      refusal = cat("rank ", hello.rank, " joined twice");
    }
    if (hello.channel == kDataChannel || !refusal.empty()) {
      WireWriter welcome;
      welcome.put<uint8_t>(refusal.empty() ? 1 : 0);
      welcome.put_string(refusal);
      (void)send_frame(*socket, MessageTag::kWelcome, welcome.bytes(), peer_name(hello.rank));
    }
    FERRUM_CHECK(refusal.empty(), ErrorCode::kInvalidArgument, "refused a rank joining the group: ", refusal);
    (hello.channel == kDataChannel ? group->data_ : group->liveness_)[hello.rank] = std::move(*socket);
    --missing;
  }
  return group;
}

Expected<std::unique_ptr<RankGroup>> RankGroup::join(const std::string& host, uint16_t port, size_t rank,
                                                     size_t world_size, const RankGroupOptions& options) {
  FERRUM_CHECK(rank > 0 && rank < world_size, ErrorCode::kInvalidArgument, "rank ", rank, " is outside 1..",
               world_size - 1);
  std::unique_ptr<RankGroup> group(new RankGroup(rank, world_size, options));
  const Clock::time_point deadline = Clock::now() + options.join_timeout;
  const std::string rank0 = peer_name(0) + " at " + host + ":" + std::to_string(port);
  for (uint8_t channel : {kDataChannel, kLivenessChannel}) {
    FERRUM_ASSIGN_OR_RETURN(Socket socket, Socket::connect(host, port, deadline));
    FERRUM_TRY(send_frame(socket, MessageTag::kHello, encode_hello({rank, world_size, channel}), rank0));
    (channel == kDataChannel ? group->data_ : group->liveness_).push_back(std::move(socket));
  }
  FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> welcome, group->recv_message(0, MessageTag::kWelcome, deadline));
  WireReader reader(welcome, "welcome message");
  FERRUM_ASSIGN_OR_RETURN(uint8_t accepted, reader.get<uint8_t>());
  FERRUM_ASSIGN_OR_RETURN(std::string refusal, reader.get_string());
  FERRUM_CHECK(accepted == 1, ErrorCode::kInvalidArgument, rank0, " refused rank ", rank, ": ", refusal);
  return group;
}

Status RankGroup::check_peer(size_t peer) const {
  FERRUM_CHECK(peer < world_size_ && peer != rank_ && (rank_ == 0 || peer == 0), ErrorCode::kInternal, "rank ", rank_,
               " has no connection to rank ", peer);
  return ok();
}

Status RankGroup::send(size_t peer, MessageTag tag, std::span<const uint8_t> payload) {
  FERRUM_TRY(check_peer(peer));
  return send_frame(data_socket(peer), tag, payload, peer_name(peer));
}

Status RankGroup::recv(size_t peer, MessageTag tag, std::span<uint8_t> payload,
                       std::optional<Clock::time_point> deadline) {
  FERRUM_TRY(check_peer(peer));
  const std::string name = peer_name(peer);
  FERRUM_ASSIGN_OR_RETURN(FrameHeader header, recv_header(data_socket(peer), tag, name, deadline));
  FERRUM_CHECK(header.length == payload.size(), ErrorCode::kInternal, name, " sent a ", message_tag_name(tag),
               " message of ", header.length, " bytes where ", payload.size(),
               " were expected: the ranks are out of step");
  return data_socket(peer).recv_exact(payload, name, deadline);
}

Expected<std::vector<uint8_t>> RankGroup::recv_message(size_t peer, MessageTag tag,
                                                       std::optional<Clock::time_point> deadline) {
  FERRUM_TRY(check_peer(peer));
  const std::string name = peer_name(peer);
  FERRUM_ASSIGN_OR_RETURN(FrameHeader header, recv_header(data_socket(peer), tag, name, deadline));
  FERRUM_CHECK(header.length <= (uint64_t{1} << 34), ErrorCode::kParse, name, " announced a message of ", header.length,
               " bytes");
  std::vector<uint8_t> payload(header.length);
  FERRUM_TRY(data_socket(peer).recv_exact(payload, name, deadline));
  return payload;
}

Status RankGroup::send_to_all(MessageTag tag, std::span<const uint8_t> payload) {
  FERRUM_CHECK(rank_ == 0, ErrorCode::kInternal, "only rank 0 sends to every rank");
  for (size_t peer = 1; peer < world_size_; ++peer) FERRUM_TRY(send(peer, tag, payload));
  return ok();
}

void RankGroup::await_departures(Clock::time_point deadline) {
  if (rank_ != 0) return;
  for (size_t peer = 1; peer < world_size_; ++peer) {
    const Socket& socket = data_[peer];
    while (socket.is_open() && !socket.peer_closed()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return;
      pollfd entry{socket.fd(), POLLIN, 0};
      if (poll(&entry, 1, static_cast<int>(std::min<long long>(left, 100))) > 0 && !socket.peer_closed()) {
        uint8_t scratch[256];  // nothing is expected after shutdown; drop it
        (void)!read(socket.fd(), scratch, sizeof(scratch));
      }
    }
  }
}

void RankGroup::watch_peers(LostPeer on_lost) {
  if (watcher_.joinable() || world_size_ == 1) return;
  on_lost_ = std::move(on_lost);
  if (pipe(wake_pipe_) != 0) {
    wake_pipe_[0] = wake_pipe_[1] = -1;
    return;
  }
  watcher_ = std::thread([this] { watch_loop(); });
}

void RankGroup::stop_watching() {
  if (!watcher_.joinable()) return;
  const uint8_t byte = 1;
  (void)!write(wake_pipe_[1], &byte, 1);
  watcher_.join();
  close(wake_pipe_[0]);
  close(wake_pipe_[1]);
  wake_pipe_[0] = wake_pipe_[1] = -1;
}

std::string RankGroup::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

void RankGroup::watch_loop() {
  std::vector<pollfd> entries;
  std::vector<size_t> peers;
  entries.push_back({wake_pipe_[0], POLLIN, 0});
  peers.push_back(rank_);
  for (size_t peer = 0; peer < liveness_.size(); ++peer) {
    if (!liveness_[peer].is_open()) continue;
    entries.push_back({liveness_[peer].fd(), POLLIN, 0});
    peers.push_back(rank_ == 0 ? peer : 0);
  }
  for (;;) {
    const int ready = poll(entries.data(), entries.size(), -1);
    if (ready < 0) continue;  // EINTR
    if (entries[0].revents != 0) return;
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].revents == 0) continue;
      const Socket& socket = liveness_[rank_ == 0 ? peers[i] : 0];
      if (!socket.peer_closed()) {
        // Liveness connections carry nothing; drain whatever arrived so poll does not spin.
        uint8_t scratch[64];
        (void)!read(socket.fd(), scratch, sizeof(scratch));
        continue;
      }
      const std::string reason = peer_name(peers[i]) + " closed its connection: its process exited or its host is gone";
      {
        std::lock_guard lock(failure_mutex_);
        failure_ = reason;
      }
      healthy_ = false;
      if (on_lost_) on_lost_(peers[i], reason);
      return;
    }
  }
}

}  // namespace ferrum::dist
