#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "server/http/work_queue.h"

namespace ferrum::http {

// What exchanges share with the event loop: the list of connections with new output, and the
// eventfd that wakes the loop to send it.
struct ServerCore {
  std::mutex mutex;
  std::vector<uint64_t> ready;
  int event_fd = -1;

  void notify(uint64_t connection) {
    {
      std::lock_guard lock(mutex);
      ready.push_back(connection);
    }
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(event_fd, &one, sizeof one);
  }
};

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kListenerKey = 0;
constexpr uint64_t kWakeKey = 1;
constexpr size_t kMaxBufferedInput = 1u << 20;  // pipelined bytes held while a response is in flight

std::string hex(size_t value) {
  char buffer[32];
  const int length = std::snprintf(buffer, sizeof buffer, "%zx", value);
  return std::string(buffer, static_cast<size_t>(length));
}

}  // namespace

HttpExchange::HttpExchange(std::weak_ptr<ServerCore> core, uint64_t connection, int version_minor, bool keep_alive)
    : core_(std::move(core)), connection_(connection), version_minor_(version_minor), keep_alive_(keep_alive) {}

void HttpExchange::start_head(int status, std::string_view content_type, const std::vector<HttpHeader>& headers,
                              std::string& out, const std::string& framing) {
  out += "HTTP/1.1 " + std::to_string(status) + " " + std::string(status_reason(status)) + "\r\n";
  out += "Server: ferrum\r\n";
  if (!content_type.empty()) out += "Content-Type: " + std::string(content_type) + "\r\n";
  for (const HttpHeader& header : headers) out += header.name + ": " + header.value + "\r\n";
  out += framing;
  if (close_after_) {
    out += "Connection: close\r\n";
  } else if (version_minor_ == 0) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void HttpExchange::respond(int status, std::string_view content_type, std::string_view body,
                           const std::vector<HttpHeader>& headers) {
  std::string bytes;
  {
    std::lock_guard lock(mutex_);
    if (started_ || gone_) return;
    started_ = true;
    close_after_ = !keep_alive_;
    start_head(status, content_type, headers, bytes, "Content-Length: " + std::to_string(body.size()) + "\r\n");
  }
  bytes.append(body);
  queue(std::move(bytes), true);
}

void HttpExchange::start_stream(int status, std::string_view content_type, const std::vector<HttpHeader>& headers) {
  std::string bytes;
  {
    std::lock_guard lock(mutex_);
    if (started_ || gone_) return;
    started_ = true;
    chunked_ = version_minor_ >= 1;
    close_after_ = !keep_alive_ || !chunked_;
    start_head(status, content_type, headers, bytes, chunked_ ? "Transfer-Encoding: chunked\r\n" : "");
  }
  queue(std::move(bytes), false);
}

bool HttpExchange::send(std::string_view data) {
  std::string bytes;
  {
    std::lock_guard lock(mutex_);
    if (gone_) return false;
    if (!started_ || finished_ || data.empty()) return !gone_;
    if (chunked_) {
      bytes = hex(data.size()) + "\r\n";
      bytes.append(data);
      bytes += "\r\n";
    } else {
      bytes.assign(data);
    }
  }
  queue(std::move(bytes), false);
  return true;
}

void HttpExchange::end_stream() {
  bool chunked = false;
  {
    std::lock_guard lock(mutex_);
    if (!started_ || finished_) return;
    chunked = chunked_;
  }
  queue(chunked ? "0\r\n\r\n" : "", true);
}

bool HttpExchange::client_gone() const {
  std::lock_guard lock(mutex_);
  return gone_;
}

void HttpExchange::on_disconnect(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!gone_) {
      on_disconnect_ = std::move(callback);
      return;
    }
  }
  callback();
}

void HttpExchange::queue(std::string bytes, bool finished) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (gone_ || finished_) return;
    pending_ += bytes;
    finished_ = finished;
    wake = !notified_;
    notified_ = true;
  }
  if (!wake) return;
  if (std::shared_ptr<ServerCore> core = core_.lock()) core->notify(connection_);
}

struct HttpServer::Impl {
  struct Connection {
    uint64_t id = 0;
    int fd = -1;
    RequestParser parser;
    std::string input;
    std::string output;
    size_t output_sent = 0;
    std::shared_ptr<HttpExchange> exchange;
    Clock::time_point last_activity = Clock::now();
    bool close_when_sent = false;
    bool sent_continue = false;
    bool reading = true;
    bool writing = false;

    explicit Connection(const ParserLimits& limits) : parser(limits) {}
  };

  HttpServerOptions options;
  HttpHandler handler;
  int listen_fd = -1;
  int epoll_fd = -1;
  uint16_t port = 0;
  std::shared_ptr<ServerCore> core = std::make_shared<ServerCore>();
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = 2;
  std::atomic<size_t> open_count{0};
  std::atomic<bool> stopping{false};
  std::unique_ptr<WorkQueue> handlers;
  std::thread loop;

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (core->event_fd >= 0) ::close(core->event_fd);
  }

  Status listen() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* addresses = nullptr;
    const std::string service = std::to_string(options.port);
    const int resolved = ::getaddrinfo(options.host.c_str(), service.c_str(), &hints, &addresses);
    FERRUM_CHECK(resolved == 0, ErrorCode::kInvalidArgument, "cannot resolve --host '", options.host,
                 "': ", ::gai_strerror(resolved));
    std::string last_error = "no address";
    for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
      const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      const int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      if (::bind(fd, address->ai_addr, address->ai_addrlen) == 0 && ::listen(fd, 4096) == 0) {
        listen_fd = fd;
        break;
      }
      last_error = std::strerror(errno);
      ::close(fd);
    }
    ::freeaddrinfo(addresses);
    FERRUM_CHECK(listen_fd >= 0, ErrorCode::kIo, "cannot listen on ", options.host, ":", options.port, ": ",
                 last_error);
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &length);
    port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    core->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    FERRUM_CHECK(epoll_fd >= 0 && core->event_fd >= 0, ErrorCode::kIo, "epoll / eventfd: ", std::strerror(errno));
    epoll_event listener{};
    listener.events = EPOLLIN;
    listener.data.u64 = kListenerKey;
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u64 = kWakeKey;
    FERRUM_CHECK(::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &listener) == 0 &&
                     ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, core->event_fd, &wake) == 0,
                 ErrorCode::kIo, "epoll_ctl: ", std::strerror(errno));
    return ok();
  }

  void run() {
    std::vector<epoll_event> events(512);
    Clock::time_point last_sweep = Clock::now();
    while (!stopping.load()) {
      const int count = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 500);
      if (count < 0 && errno != EINTR) {
        FERRUM_LOG_ERROR("http: epoll_wait: ", std::strerror(errno));
        break;
      }
      for (int i = 0; i < count; ++i) {
        const uint64_t key = events[static_cast<size_t>(i)].data.u64;
        const uint32_t flags = events[static_cast<size_t>(i)].events;
        if (key == kListenerKey) {
          accept_all();
        } else if (key == kWakeKey) {
          drain_ready();
        } else {
          auto it = connections.find(key);
          if (it == connections.end()) continue;
          Connection& connection = *it->second;
          if (flags & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            if (!read_from(connection)) continue;  // closed
          }
          if (flags & EPOLLOUT) flush(connection);
        }
      }
      if (Clock::now() - last_sweep > std::chrono::milliseconds(500)) {
        sweep_idle();
        last_sweep = Clock::now();
      }
    }
    std::vector<uint64_t> ids;
    for (const auto& [id, connection] : connections) ids.push_back(id);
    for (uint64_t id : ids) close_connection(id);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) FERRUM_LOG_WARN("http: accept: ", std::strerror(errno));
        return;
      }
      if (connections.size() >= options.max_connections) {
        ::close(fd);  // over the limit: refuse by closing rather than queueing without bound
        continue;
      }
      const int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      auto connection = std::make_unique<Connection>(options.limits);
      connection->id = next_id++;
      connection->fd = fd;
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP;
      event.data.u64 = connection->id;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
        ::close(fd);
        continue;
      }
      connections.emplace(connection->id, std::move(connection));
      open_count.store(connections.size());
    }
  }

  void update_interest(Connection& connection) {
    epoll_event event{};
    event.events = EPOLLRDHUP | (connection.reading ? EPOLLIN : 0u) | (connection.writing ? EPOLLOUT : 0u);
    event.data.u64 = connection.id;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection.fd, &event);
  }

  // Reads what the socket has; returns false when the connection was closed.
  bool read_from(Connection& connection) {
    char buffer[65536];
    for (;;) {
      const ssize_t received = ::recv(connection.fd, buffer, sizeof buffer, 0);
      if (received > 0) {
        connection.input.append(buffer, static_cast<size_t>(received));
        connection.last_activity = Clock::now();
        if (connection.input.size() > kMaxBufferedInput) break;
        continue;
      }
      if (received == 0) {
        // The client closed its side. A response in flight has no one left to read it.
        close_connection(connection.id);
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_connection(connection.id);
      return false;
    }
    return process_input(connection);
  }

  // Parses buffered input into the next request when none is in flight. False when closed.
  bool process_input(Connection& connection) {
    while (!connection.exchange && !connection.close_when_sent && !connection.input.empty()) {
      const size_t used = connection.parser.feed(connection.input);
      connection.input.erase(0, used);
      if (connection.parser.state() == RequestParser::State::kError) {
        return send_error(connection, connection.parser.error_status(), connection.parser.error_message());
      }
      if (connection.parser.state() == RequestParser::State::kIncomplete) {
        if (connection.parser.expects_continue() && !connection.sent_continue) {
          connection.sent_continue = true;
          connection.output += "HTTP/1.1 100 Continue\r\n\r\n";
          if (!flush(connection)) return false;
        }
        break;
      }
      connection.sent_continue = false;
      HttpRequest request = connection.parser.take();
      auto exchange = std::make_shared<HttpExchange>(core, connection.id, request.version_minor, request.keep_alive);
      connection.exchange = exchange;
      handlers->post([handler = &handler, request = std::move(request), exchange]() mutable {
        try {
          (*handler)(std::move(request), exchange);
        } catch (const std::exception& error) {
          FERRUM_LOG_ERROR("http: handler threw: ", error.what());
          exchange->respond(500, "text/plain", "internal error");
        }
      });
    }
    // Stop reading while a response is in flight and the client has sent a lot ahead of it.
    const bool want_reading = connection.input.size() <= kMaxBufferedInput;
    if (want_reading != connection.reading) {
      connection.reading = want_reading;
      update_interest(connection);
    }
    return true;
  }

  // Answers an error the server detected itself and closes the connection once it is sent.
  bool send_error(Connection& connection, int status, std::string_view message) {
    const std::string body = options.error_body ? options.error_body(status, message) : std::string(message) + "\n";
    connection.output += "HTTP/1.1 " + std::to_string(status) + " " + std::string(status_reason(status)) +
                         "\r\nServer: ferrum\r\nContent-Type: " + options.error_content_type +
                         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    connection.close_when_sent = true;
    return flush(connection);
  }

  // Sends buffered output; closes the connection when a finished response has gone out and the
  // connection is not kept alive. False when the connection was closed.
  bool flush(Connection& connection) {
    while (connection.output_sent < connection.output.size()) {
      const ssize_t sent = ::send(connection.fd, connection.output.data() + connection.output_sent,
                                  connection.output.size() - connection.output_sent, MSG_NOSIGNAL);
      if (sent > 0) {
        connection.output_sent += static_cast<size_t>(sent);
        continue;
      }
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_connection(connection.id);
      return false;
    }
    if (connection.output_sent == connection.output.size()) {
      connection.output.clear();
      connection.output_sent = 0;
    } else if (connection.output_sent > (1u << 20)) {
      connection.output.erase(0, connection.output_sent);
      connection.output_sent = 0;
    }
    const bool want_writing = !connection.output.empty();
    if (want_writing != connection.writing) {
      connection.writing = want_writing;
      update_interest(connection);
    }
    if (connection.output.size() - connection.output_sent > options.max_buffered_output) {
      FERRUM_LOG_WARN("http: dropping a client that reads too slowly (", connection.output.size(), " bytes unsent)");
      close_connection(connection.id);
      return false;
    }
    if (connection.output.empty() && connection.close_when_sent) {
      close_connection(connection.id);
      return false;
    }
    return true;
  }

  void drain_ready() {
    uint64_t counter = 0;
    [[maybe_unused]] const ssize_t got = ::read(core->event_fd, &counter, sizeof counter);
    std::vector<uint64_t> ready;
    {
      std::lock_guard lock(core->mutex);
      ready.swap(core->ready);
    }
    for (uint64_t id : ready) {
      auto it = connections.find(id);
      if (it == connections.end()) continue;
      Connection& connection = *it->second;
      if (!connection.exchange) continue;
      bool finished = false;
      bool close_after = false;
      {
        HttpExchange& exchange = *connection.exchange;
        std::lock_guard lock(exchange.mutex_);
        connection.output += exchange.pending_;
        exchange.pending_.clear();
        exchange.notified_ = false;
        finished = exchange.finished_;
        close_after = exchange.close_after_;
      }
      connection.last_activity = Clock::now();
      if (finished) {
        connection.exchange.reset();
        if (close_after) connection.close_when_sent = true;
      }
      if (!flush(connection)) continue;
      if (finished && !connection.close_when_sent) process_input(connection);
    }
  }

  void sweep_idle() {
    const Clock::time_point now = Clock::now();
    std::vector<uint64_t> expired;
    for (const auto& [id, connection] : connections) {
      // A response in flight is the API layer's to time out; a slow reader is bounded by output size.
      if (connection->exchange || !connection->output.empty()) continue;
      if (now - connection->last_activity > options.idle_timeout) expired.push_back(id);
    }
    for (uint64_t id : expired) {
      Connection& connection = *connections.at(id);
      if (connection.parser.bytes_seen() > 0 || !connection.input.empty()) {
        send_error(connection, 408, "the request did not arrive within the idle timeout");
      } else {
        close_connection(id);
      }
    }
  }

  void close_connection(uint64_t id) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    std::unique_ptr<Connection> connection = std::move(it->second);
    connections.erase(it);
    open_count.store(connections.size());
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection->fd, nullptr);
    ::close(connection->fd);
    if (!connection->exchange) return;
    std::function<void()> callback;
    {
      HttpExchange& exchange = *connection->exchange;
      std::lock_guard lock(exchange.mutex_);
      if (exchange.finished_ && exchange.pending_.empty()) return;
      exchange.gone_ = true;
      exchange.pending_.clear();
      callback = std::move(exchange.on_disconnect_);
    }
    if (callback) callback();
  }
};

Expected<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions options, HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  FERRUM_TRY(impl->listen());
  impl->handlers = std::make_unique<WorkQueue>(impl->options.handler_threads);
  Impl* raw = impl.get();
  impl->loop = std::thread([raw] { raw->run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

uint16_t HttpServer::port() const {
  return impl_->port;
}

size_t HttpServer::open_connections() const {
  return impl_->open_count.load();
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(impl_->core->event_fd, &one, sizeof one);
  if (impl_->loop.joinable()) impl_->loop.join();
  impl_->handlers.reset();  // finishes handlers already running; their exchanges see the clients gone
}

}  // namespace ferrum::http
