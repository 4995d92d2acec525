#include "http_client.hpp"

#include <chrono>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace hive::tools {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Result<HttpAnswer> httpRequest(const std::string& url, const std::string& method, const std::string& target,
                               const std::string& body, const std::string& apiKey) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0)
    return invalidArgument("'" + url + "': give http://host:port (this client does not speak https)");
  std::string authority = url.substr(kScheme.size());
  authority = authority.substr(0, authority.find('/'));
  std::size_t colon = authority.rfind(':');
  const std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, authority);
    request.set(http::field::user_agent, "hive-cli");
    request.set(http::field::accept, "application/json");
    if (!apiKey.empty()) request.set(http::field::authorization, "Bearer " + apiKey);
    if (!body.empty() || method == "POST") {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
      request.prepare_payload();
    }
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return HttpAnswer{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
  } catch (const std::exception& error) {
    return unavailable("cannot reach Hive at " + url + ": " + error.what());
  }
}

}  // namespace hive::tools
