// ferrum's HTTP/1.1 server: one epoll event loop owns every socket; complete requests go to a pool
// of handler threads; handlers answer through an HttpExchange, from any thread and at any later
// time (a streamed response lasts as long as its generation). An idle connection or a stalled
// stream costs a few kilobytes and no thread, so thousands of concurrent SSE streams are cheap;
// a client that disconnects is noticed at once (EOF on the socket) and the exchange's disconnect
// callback runs, which is how a generation gets cancelled. docs/architecture.md explains the choice.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "server/http/http_request.h"
#include "server/http/request_parser.h"

namespace ferrum::http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  ParserLimits limits;
  // A connection with no request in progress, or a request that stops arriving, is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  size_t max_connections = 16'384;
  // Response bytes a connection may hold unsent; a client reading slower than that is dropped.
  size_t max_buffered_output = 8u << 20;
  size_t handler_threads = 4;
  // The body of the error responses the server itself sends (malformed requests, 413, ...).
  std::function<std::string(int status, std::string_view message)> error_body;
  std::string error_content_type = "text/plain; charset=utf-8";
};

struct ServerCore;

// One request's response channel. Thread-safe; every method may be called from any thread.
class HttpExchange {
 public:
  HttpExchange(std::weak_ptr<ServerCore> core, uint64_t connection, int version_minor, bool keep_alive);

  // A complete response with Content-Length. Ignored after the response started.
  void respond(int status, std::string_view content_type, std::string_view body,
               const std::vector<HttpHeader>& headers = {});
  // Starts a streamed response (chunked on HTTP/1.1; close-delimited on HTTP/1.0).
  void start_stream(int status, std::string_view content_type, const std::vector<HttpHeader>& headers = {});
  // Sends part of a streamed response; false once the client is gone (stop producing).
  bool send(std::string_view data);
  void end_stream();

  bool client_gone() const;
  // Runs `callback` once if the client disconnects before the response ends (at once if it already
  // has). It runs on the event loop: keep it short and non-blocking.
  void on_disconnect(std::function<void()> callback);

 private:
  friend class HttpServer;
  void queue(std::string bytes, bool finished);
  void start_head(int status, std::string_view content_type, const std::vector<HttpHeader>& headers, std::string& out,
                  const std::string& framing);

  std::weak_ptr<ServerCore> core_;
  const uint64_t connection_;
  const int version_minor_;
  const bool keep_alive_;

  mutable std::mutex mutex_;
  std::string pending_;  // bytes for the loop to send
  bool started_ = false;
  bool chunked_ = false;
  bool finished_ = false;
  bool gone_ = false;
  bool close_after_ = false;
  bool notified_ = false;
  std::function<void()> on_disconnect_;
};

using HttpHandler = std::function<void(HttpRequest request, std::shared_ptr<HttpExchange> exchange)>;

class HttpServer {
 public:
  // Binds and listens (errors name the address), then starts the loop and the handler threads.
  static Expected<std::unique_ptr<HttpServer>> start(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();

  uint16_t port() const;
  // Stops accepting, closes every connection (their disconnect callbacks run) and joins the threads.
  void stop();

  size_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferrum::http
