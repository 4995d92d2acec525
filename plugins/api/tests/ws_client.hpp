// A WebSocket test client on Beast (the kernel's Asio runtime), every
// operation bounded by a timeout: async operations run with run_for().
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace hive::api_test {

class WsClient {
 public:
  struct Options {
    std::string protocol = "hive.v1";
    std::string origin;
  };

  WsClient() : ws_(io_) {}

  // Returns the handshake's HTTP status (101 when open, 0 on a network error).
  int connect(std::uint16_t port, const std::string& path) {
    return connect(port, path, Options{"hive.v1", ""});
  }
  int connect(std::uint16_t port, const std::string& path, Options options) {
    namespace websocket = boost::beast::websocket;
    boost::system::error_code error;
    boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), port);
    ws_.next_layer().connect(endpoint, error);
    if (error) return 0;
    ws_.set_option(websocket::stream_base::decorator([options](websocket::request_type& request) {
      if (!options.protocol.empty())
        request.set(boost::beast::http::field::sec_websocket_protocol, options.protocol);
      if (!options.origin.empty()) request.set(boost::beast::http::field::origin, options.origin);
    }));
    bool done = false;
    ws_.async_handshake(response_, "localhost", path, [&](const boost::system::error_code& e) {
      error = e;
      done = true;
    });
    if (!run(done, std::chrono::seconds(10))) return 0;
    if (!error) open_ = true;
    return static_cast<int>(response_.result_int());
  }

  const boost::beast::websocket::response_type& response() const { return response_; }

  bool send(const std::string& text, bool binary = false) {
    boost::system::error_code error;
    bool done = false;
    ws_.binary(binary);
    ws_.async_write(boost::asio::buffer(text), [&](const boost::system::error_code& e, std::size_t) {
      error = e;
      done = true;
    });
    return run(done, std::chrono::seconds(10)) && !error;
  }

  bool ping() {
    boost::system::error_code error;
    bool done = false;
    ws_.async_ping({}, [&](const boost::system::error_code& e) {
      error = e;
      done = true;
    });
    return run(done, std::chrono::seconds(10)) && !error;
  }

  // The next text message; nullopt on timeout or when the connection closed
  // (then closeCode() tells how).
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    boost::system::error_code error;
    bool done = false;
    buffer_.clear();
    ws_.async_read(buffer_, [&](const boost::system::error_code& e, std::size_t) {
      error = e;
      done = true;
    });
    if (!run(done, timeout)) return std::nullopt;
    if (error) {
      closed_ = true;
      closeCode_ = ws_.reason().code;
      closeError_ = error.message();
      return std::nullopt;
    }
    return boost::beast::buffers_to_string(buffer_.data());
  }

  // Reads until the server closes; its close code, or -1 when it did not close in time.
  int awaitClose(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_ && std::chrono::steady_clock::now() < deadline) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (!read(left) && !closed_) break;
    }
    return closed_ ? closeCode_ : -1;
  }

  // Reads the raw socket, answering nothing (not even a close frame), until the
  // server drops the TCP connection; how long that took, or nullopt when it
  // did not within the timeout.
  std::optional<std::chrono::milliseconds> awaitDroppedWithoutAnswering(std::chrono::milliseconds timeout) {
    auto started = std::chrono::steady_clock::now();
    std::array<char, 4096> bytes;
    for (;;) {
      auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started);
      if (left <= std::chrono::milliseconds(0)) return std::nullopt;
      boost::system::error_code error;
      bool done = false;
      ws_.next_layer().async_read_some(boost::asio::buffer(bytes),
                                       [&](const boost::system::error_code& e, std::size_t) {
                                         error = e;
                                         done = true;
                                       });
      if (!run(done, left)) return std::nullopt;
      if (error) {
        closed_ = true;
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                     started);
      }
    }
  }

  bool closed() const { return closed_; }
  int closeCode() const { return closeCode_; }
  // How the read loop ended ("The WebSocket stream was gracefully closed...", "End of file", ...).
  const std::string& closeError() const { return closeError_; }

  void close() {
    if (!open_ || closed_) return;
    bool done = false;
    ws_.async_close(boost::beast::websocket::close_code::normal,
                    [&](const boost::system::error_code&) { done = true; });
    run(done, std::chrono::seconds(2));
    closed_ = true;
  }

  ~WsClient() {
    boost::system::error_code ignored;
    ws_.next_layer().close(ignored);
    io_.restart();
    io_.run_for(std::chrono::milliseconds(100));
  }

 private:
  // Runs the io_context until `done` or the timeout; on timeout the socket is
  // closed so that the operation completes before its captures go away.
  bool run(bool& done, std::chrono::milliseconds timeout) {
    io_.restart();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done && std::chrono::steady_clock::now() < deadline)
      io_.run_one_for(std::chrono::milliseconds(20));
    if (done) return true;
    boost::system::error_code ignored;
    ws_.next_layer().cancel(ignored);
    while (!done) {
      io_.restart();
      io_.run_one_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::websocket::response_type response_;
  boost::beast::flat_buffer buffer_;
  bool open_ = false;
  bool closed_ = false;
  int closeCode_ = 0;
  std::string closeError_;
};

}  // namespace hive::api_test
