// Internal to server.cpp and websocket.cpp (through upgrade.hpp): the stream
// under a WebSocket connection, plain TCP or TLS over TCP. One branch per
// operation, not per byte; the lowest layer is the beast::tcp_stream either
// way, so timeouts and closing work the same on both.
#pragma once

#include <utility>
#include <variant>

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace hive::api {

using TlsStream = boost::asio::ssl::stream<boost::beast::tcp_stream>;

class WebSocketTransport {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit WebSocketTransport(boost::beast::tcp_stream plain) : stream_(std::move(plain)) {}
  explicit WebSocketTransport(TlsStream secure) : stream_(std::move(secure)) {}

  executor_type get_executor() { return next_layer().get_executor(); }

  // What beast::get_lowest_layer() finds: the TCP stream in both cases.
  boost::beast::tcp_stream& next_layer() {
    if (auto* secure = std::get_if<TlsStream>(&stream_)) return secure->next_layer();
    return std::get<boost::beast::tcp_stream>(stream_);
  }

  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (auto* secure = std::get_if<TlsStream>(&stream_))
      return secure->async_read_some(buffers, std::forward<Handler>(handler));
    std::get<boost::beast::tcp_stream>(stream_).async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <typename Buffers, typename Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (auto* secure = std::get_if<TlsStream>(&stream_))
      return secure->async_write_some(buffers, std::forward<Handler>(handler));
    std::get<boost::beast::tcp_stream>(stream_).async_write_some(buffers, std::forward<Handler>(handler));
  }

  // The WebSocket closing handshake ends with these (found by ADL): TLS sends
  // its close_notify before the TCP shutdown.
  template <typename Handler>
  friend void async_teardown(boost::beast::role_type role, WebSocketTransport& transport, Handler&& handler) {
    if (auto* secure = std::get_if<TlsStream>(&transport.stream_))
      return boost::beast::async_teardown(role, *secure, std::forward<Handler>(handler));
    boost::beast::async_teardown(role, std::get<boost::beast::tcp_stream>(transport.stream_),
                                 std::forward<Handler>(handler));
  }
  friend void teardown(boost::beast::role_type role, WebSocketTransport& transport,
                       boost::system::error_code& error) {
    if (auto* secure = std::get_if<TlsStream>(&transport.stream_))
      return boost::beast::teardown(role, *secure, error);
    boost::beast::teardown(role, std::get<boost::beast::tcp_stream>(transport.stream_), error);
  }

 private:
  std::variant<boost::beast::tcp_stream, TlsStream> stream_;
};

}  // namespace hive::api
