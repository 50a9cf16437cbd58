// TCP sockets for the tensor-parallel rank group: blocking streams with deadlines, so a peer that
// dies is noticed (the kernel closes its sockets: reads see end-of-file at once) and a peer that
// hangs is noticed when the deadline passes, never as a process stuck forever in recv().
//
// Keep-alive probes are turned on with short intervals, so a host that vanishes without closing its
// connections (power loss, network partition) is noticed within about 15 seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "core/error.h"

namespace ferrum::dist {

using Clock = std::chrono::steady_clock;
// No deadline: wait as long as it takes (a follower waiting for rank 0's next step).
inline constexpr std::optional<Clock::time_point> kNoDeadline = std::nullopt;

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  // Connects to host:port, retrying while nothing listens there yet (the other side may still be
  // starting) until `deadline`.
  static Expected<Socket> connect(const std::string& host, uint16_t port, Clock::time_point deadline);

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void close();

  // Writes every byte. `peer` names the other side in errors ("rank 1").
  Status send_all(std::span<const uint8_t> bytes, const std::string& peer) const;
  // Writes `head` then `body` with one system call where the kernel takes both (one segment on the
  // wire for a small frame, so the reader wakes once).
  Status send_all(std::span<const uint8_t> head, std::span<const uint8_t> body, const std::string& peer) const;
  // Reads exactly bytes.size() bytes; end-of-file, an error or the deadline give an error naming `peer`.
  Status recv_exact(std::span<uint8_t> bytes, const std::string& peer, std::optional<Clock::time_point> deadline) const;
  // True when the peer has closed its end (or the connection broke) without sending anything; for
  // connections that carry no data, only liveness.
  bool peer_closed() const;

 private:
  int fd_ = -1;
};

class Listener {
 public:
  // Binds host:port (port 0: any free port; host "0.0.0.0": every interface) and listens.
  static Expected<Listener> bind(const std::string& host, uint16_t port);

  uint16_t port() const { return port_; }
  // Waits for one connection until `deadline`; `still_waiting` is called about every 100 ms and may
  // end the wait with its error (a spawned worker that already exited will never connect).
  template <class StillWaiting>
  Expected<Socket> accept(Clock::time_point deadline, StillWaiting&& still_waiting) {
    for (;;) {
      FERRUM_ASSIGN_OR_RETURN(std::optional<Socket> socket, accept_for(std::chrono::milliseconds(100)));
      if (socket) return std::move(*socket);
      FERRUM_TRY(still_waiting());
      if (Clock::now() >= deadline) {
        return make_error(ErrorCode::kIo, "no connection on port ", port_, " before the deadline");
      }
    }
  }

 private:
  Expected<std::optional<Socket>> accept_for(std::chrono::milliseconds wait);

  Socket socket_;
  uint16_t port_ = 0;
};

// "host:port" -> (host, port).
Expected<std::pair<std::string, uint16_t>> parse_host_port(const std::string& address);

}  // namespace ferrum::dist
