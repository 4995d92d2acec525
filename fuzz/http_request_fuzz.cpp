// HTTP request parsing as the api plugin's sessions do it (server.cpp): the raw
// head scan, the head checks under the default limits, then the body through
// Beast's parser with the default body limit, fed the way http::async_read
// feeds it. The socket is left out: everything it decides is in the bytes.
//
// Beyond "no sanitizer report", it checks the properties the session relies on:
// - a refusal is one of the statuses the session answers before routing;
// - a head without a body (hasBody false) leaves the parser done, so that an
//   early answer on a kept-alive connection cannot leave body bytes behind to
//   be read as the next request;
// - a body never grows beyond the limit it was read under.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "request_head.hpp"

namespace {

using hive::api::HeadRefusal;
using hive::api::HeadScan;
using hive::api::ParsedHead;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hive::api::Settings settings;  // the documented defaults
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The session looks for the end of the head in what it has read, and refuses
  // a head that has not ended within headerBytes.
  std::string_view window = bytes.substr(0, settings.headerBytes);
  std::size_t headLength = 0;
  std::string problem;
  HeadScan scan = hive::api::scanHead(window, headLength, problem);
  if (scan == HeadScan::kMalformed && problem.empty()) broken("a malformed head without a reason");
  if (scan != HeadScan::kComplete) return 0;
  if (headLength < 4 || headLength > window.size()) broken("head length outside the bytes read");

  hive::api::RequestParser parser;
  auto parsed = hive::api::parseHead(parser, bytes.substr(0, headLength), settings);
  if (auto* refusal = std::get_if<HeadRefusal>(&parsed)) {
    int s = refusal->status;
    if (s != 400 && s != 414 && s != 431 && s != 505) broken("a refusal with an unexpected status");
    if (refusal->detail.empty()) broken("a refusal without a detail");
    return 0;
  }
  const ParsedHead& head = std::get<ParsedHead>(parsed);
  if (!head.hasBody && !parser.is_done()) broken("no body announced, yet the parser waits for one");
  if (head.head.target.size() > settings.targetBytes) broken("a target over the limit was accepted");

  // The body, under the server-wide limit (a route may only lower it). Beast
  // checks a Content-Length against body_limit while it parses the head, where
  // the limit is still unset, so the session compares it itself and answers
  // 413 before reading (server.cpp, onHead); without that, the parser reserves
  // the announced length at the body's start.
  if (head.contentLengths > 0) {
    std::uint64_t length = head.contentLength.size() > 18 ? UINT64_MAX : std::stoull(head.contentLength);
    if (length > settings.bodyBytes) return 0;
  }
  parser.body_limit(settings.bodyBytes);
  parser.eager(true);
  std::string_view rest = bytes.substr(headLength);
  while (!parser.is_done() && !rest.empty()) {
    boost::system::error_code error;
    std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), error);
    if (used > rest.size()) broken("the parser used more than it was given");
    rest.remove_prefix(used);
    if (error == boost::beast::http::error::need_more) {
      if (used == 0) break;  // the session would read more from the socket here
      continue;
    }
    if (error) return 0;  // 400 or 413, and the connection closes
  }
  if (parser.is_done() && parser.get().body().size() > settings.bodyBytes)
    broken("a body over the limit was accepted");
  return 0;
}
