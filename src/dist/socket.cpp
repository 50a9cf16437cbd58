#include "dist/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace ferrum::dist {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Milliseconds left until the deadline for poll(), -1 for none, 0 when it has passed.
int poll_timeout(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, 1000 * 1000));
}

void tune(int fd) {
  const int one = 1;
  // Small messages (step headers, decode-sized collectives) go out at once.
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  const int idle_seconds = 5, interval_seconds = 2, probes = 4;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_seconds, sizeof(idle_seconds));
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_seconds, sizeof(interval_seconds));
  (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
}

}  // namespace

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Socket::~Socket() {
  close();
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Expected<Socket> Socket::connect(const std::string& host, uint16_t port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int resolved = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  FERRUM_CHECK(resolved == 0 && found != nullptr, ErrorCode::kIo, "cannot resolve ", host, ": ",
               gai_strerror(resolved));
  sockaddr_in address{};
  std::memcpy(&address, found->ai_addr, sizeof(address));
  freeaddrinfo(found);

  std::string last_error;
  for (;;) {
    Socket socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    FERRUM_CHECK(socket.is_open(), ErrorCode::kIo, "socket(): ", errno_text());
    if (::connect(socket.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
      tune(socket.fd());
      return socket;
    }
    last_error = errno_text();
    if (Clock::now() >= deadline) {
      return make_error(ErrorCode::kIo, "cannot connect to ", host, ":", port, ": ", last_error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status Socket::send_all(std::span<const uint8_t> bytes, const std::string& peer) const {
  size_t sent = 0;
  while (sent < bytes.size()) {
    // MSG_NOSIGNAL: a closed peer gives EPIPE here instead of killing the process with SIGPIPE.
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    FERRUM_CHECK(n > 0, ErrorCode::kIo, "sending to ", peer, " failed: ", n < 0 ? errno_text() : "connection closed",
                 " (has that process exited?)");
    sent += static_cast<size_t>(n);
  }
  return ok();
}

Status Socket::send_all(std::span<const uint8_t> head, std::span<const uint8_t> body, const std::string& peer) const {
  iovec parts[2] = {{const_cast<uint8_t*>(head.data()), head.size()}, {const_cast<uint8_t*>(body.data()), body.size()}};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 2;
  const ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
  if (n < 0 && errno != EINTR) {
    return make_error(ErrorCode::kIo, "sending to ", peer, " failed: ", errno_text(), " (has that process exited?)");
  }
  // What the kernel did not take goes out by the plain path.
  const size_t sent = n < 0 ? 0 : static_cast<size_t>(n);
  if (sent < head.size()) FERRUM_TRY(send_all(head.subspan(sent), peer));
  const size_t body_sent = sent > head.size() ? sent - head.size() : 0;
  return send_all(body.subspan(body_sent), peer);
}

Status Socket::recv_exact(std::span<uint8_t> bytes, const std::string& peer,
                          std::optional<Clock::time_point> deadline) const {
  size_t received = 0;
  while (received < bytes.size()) {
    pollfd entry{fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, poll_timeout(deadline));
    if (ready < 0 && errno == EINTR) continue;
    FERRUM_CHECK(ready >= 0, ErrorCode::kIo, "waiting for ", peer, ": poll: ", errno_text());
    if (ready == 0) {
      if (deadline && Clock::now() >= *deadline) {
        return make_error(ErrorCode::kIo, peer, " sent nothing before the deadline (", received, " of ", bytes.size(),
                          " bytes arrived); it may be hung (set FERRUM_TP_TIMEOUT_S to wait longer)");
      }
      continue;
    }
    const ssize_t n = ::recv(fd_, bytes.data() + received, bytes.size() - received, 0);
    if (n < 0 && errno == EINTR) continue;
    FERRUM_CHECK(n != 0, ErrorCode::kIo, peer, " closed its connection (has that process exited?)");
    FERRUM_CHECK(n > 0, ErrorCode::kIo, "receiving from ", peer, " failed: ", errno_text());
    received += static_cast<size_t>(n);
  }
  return ok();
}

bool Socket::peer_closed() const {
  uint8_t byte = 0;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return false;
}

Expected<Listener> Listener::bind(const std::string& host, uint16_t port) {
  Listener listener;
  listener.socket_ = Socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  FERRUM_CHECK(listener.socket_.is_open(), ErrorCode::kIo, "socket(): ", errno_text());
  const int one = 1;
  (void)setsockopt(listener.socket_.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  FERRUM_CHECK(inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1, ErrorCode::kInvalidArgument,
               "cannot listen on '", host, "': not an IPv4 address");
  FERRUM_CHECK(::bind(listener.socket_.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0,
               ErrorCode::kIo, "cannot listen on ", host, ":", port, ": ", errno_text());
  FERRUM_CHECK(::listen(listener.socket_.fd(), 64) == 0, ErrorCode::kIo, "listen(): ", errno_text());
  socklen_t length = sizeof(address);
  FERRUM_CHECK(getsockname(listener.socket_.fd(), reinterpret_cast<sockaddr*>(&address), &length) == 0, ErrorCode::kIo,
               "getsockname(): ", errno_text());
  listener.port_ = ntohs(address.sin_port);
  return listener;
}

Expected<std::optional<Socket>> Listener::accept_for(std::chrono::milliseconds wait) {
  pollfd entry{socket_.fd(), POLLIN, 0};
  const int ready = ::poll(&entry, 1, static_cast<int>(wait.count()));
  if (ready < 0 && errno == EINTR) return std::optional<Socket>();
  FERRUM_CHECK(ready >= 0, ErrorCode::kIo, "poll on the listening socket: ", errno_text());
  if (ready == 0) return std::optional<Socket>();
  Socket socket(::accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  FERRUM_CHECK(socket.is_open(), ErrorCode::kIo, "accept(): ", errno_text());
  tune(socket.fd());
  return std::optional<Socket>(std::move(socket));
}

Expected<std::pair<std::string, uint16_t>> parse_host_port(const std::string& address) {
  const size_t colon = address.rfind(':');
  FERRUM_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < address.size(), ErrorCode::kInvalidArgument, "'",
               address, "' is not host:port");
  const std::string port_text = address.substr(colon + 1);
  FERRUM_CHECK(port_text.find_first_not_of("0123456789") == std::string::npos && port_text.size() <= 5,
               ErrorCode::kInvalidArgument, "'", address, "': port '", port_text, "' is not a number");
  const unsigned long port = std::stoul(port_text);
  FERRUM_CHECK(port > 0 && port < 65536, ErrorCode::kInvalidArgument, "'", address, "': port ", port,
               " is outside 1..65535");
  return std::pair<std::string, uint16_t>(address.substr(0, colon), static_cast<uint16_t>(port));
}

}  // namespace ferrum::dist
