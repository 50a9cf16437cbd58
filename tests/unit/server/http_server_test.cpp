// The HTTP server over real loopback sockets: keep-alive and pipelining, chunked streaming from
// another thread, errors the server answers itself, and the disconnect callback that cancels work.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace ferrum::http {
namespace {

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ASSERT_GT(sent, 0);
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
}

// Reads until `marker` has arrived `count` times (or the peer closes / the timeout hits).
std::string read_until(int fd, std::string_view marker, int count = 1) {
  std::string data;
  char buffer[4096];
  auto occurrences = [&] {
    int found = 0;
    for (size_t at = data.find(marker); at != std::string::npos; at = data.find(marker, at + 1)) ++found;
    return found;
  };
  while (occurrences() < count) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    data.append(buffer, static_cast<size_t>(got));
  }
  return data;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpHandler handler, HttpServerOptions options = {}) {
    options.port = 0;
    auto server = HttpServer::start(std::move(options), std::move(handler));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
  }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  start([](HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
    exchange->respond(200, "text/plain", request.method + " " + request.path + " " + request.body);
  });
  const int fd = connect_to(server_->port());
  send_all(fd,
           "GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
           "GET /three HTTP/1.1\r\n\r\n");
  const std::string all = read_until(fd, "GET /three");
  EXPECT_NE(all.find("GET /one "), std::string::npos);
  EXPECT_NE(all.find("POST /two body"), std::string::npos);
  EXPECT_NE(all.find("GET /three"), std::string::npos);
  EXPECT_LT(all.find("/one"), all.find("/two"));  // answered in order
  ::close(fd);
}

TEST_F(HttpServerTest, ChunkedStreamFromAnotherThread) {
  start([](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
    exchange->start_stream(200, "text/event-stream");
    std::thread([exchange] {
      for (int i = 0; i < 3; ++i) {
        exchange->send("data: " + std::to_string(i) + "\n\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      exchange->end_stream();
    }).detach();
  });
  const int fd = connect_to(server_->port());
  send_all(fd, "GET /stream HTTP/1.1\r\n\r\n");
  const std::string reply = read_until(fd, "0\r\n\r\n");
  EXPECT_NE(reply.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(reply.find("9\r\ndata: 0\n\n\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("data: 2"), std::string::npos);
  ::close(fd);
}

TEST_F(HttpServerTest, DisconnectRunsTheCallback) {
  std::promise<void> disconnected;
  std::promise<std::shared_ptr<HttpExchange>> stream_started;
  start([&](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
    exchange->start_stream(200, "text/event-stream");
    exchange->send("data: hello\n\n");
    exchange->on_disconnect([&] { disconnected.set_value(); });
    stream_started.set_value(exchange);
  });
  const int fd = connect_to(server_->port());
  send_all(fd, "GET /stream HTTP/1.1\r\n\r\n");
  read_until(fd, "hello");
  auto exchange = stream_started.get_future().get();
  ::close(fd);
  ASSERT_EQ(disconnected.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(exchange->client_gone());
  EXPECT_FALSE(exchange->send("data: more\n\n"));
}

TEST_F(HttpServerTest, ServerAnswersMalformedAndOversizedRequests) {
  HttpServerOptions options;
  options.limits.max_body_bytes = 16;
  options.error_body = [](int status, std::string_view message) {
    return "{\"status\": " + std::to_string(status) + ", \"message\": \"" + std::string(message) + "\"}";
  };
  start([](HttpRequest, std::shared_ptr<HttpExchange> exchange) { exchange->respond(200, "text/plain", "ok"); },
        options);
  const std::pair<std::string, std::string> cases[] = {
      {"BROKEN\r\n\r\n", "HTTP/1.1 400"},
      {"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", "HTTP/1.1 413"},
      {"GET / HTTP/3\r\n\r\n", "HTTP/1.1 505"},
  };
  for (const auto& [request, status] : cases) {
    const int fd = connect_to(server_->port());
    send_all(fd, request);
    const std::string reply = read_until(fd, "}");
    EXPECT_TRUE(reply.starts_with(status)) << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos);
    ::close(fd);
  }
}

TEST_F(HttpServerTest, ExpectContinueGetsTheGoAhead) {
  start([](HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
    exchange->respond(200, "text/plain", request.body);
  });
  const int fd = connect_to(server_->port());
  send_all(fd, "POST /upload HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_TRUE(read_until(fd, "\r\n\r\n").starts_with("HTTP/1.1 100 Continue"));
  send_all(fd, "audio");
  EXPECT_NE(read_until(fd, "audio").find("200 OK"), std::string::npos);
  ::close(fd);
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  start([](HttpRequest, std::shared_ptr<HttpExchange> exchange) { exchange->respond(200, "text/plain", "ok"); },
        options);
  const int fd = connect_to(server_->port());
  send_all(fd, "GET /slow HTTP/1.1\r\nHost");  // a request that never finishes
  const std::string reply = read_until(fd, "never-arrives");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 408")) << reply;
  ::close(fd);
}

}  // namespace
}  // namespace ferrum::http
