// A request head from bytes, apart from the socket: the checks the HTTP session
// makes before it routes a request. One function, so that the fuzz target
// (fuzz/http_request_fuzz.cpp) drives exactly what the server runs.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config.hpp"
#include "dispatcher.hpp"

namespace hive::api {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

enum class HeadScan { kIncomplete, kComplete, kMalformed };

// Finds the end of the request head in `data` and checks its raw bytes: bare
// CR, bare LF, NUL and obs-fold are refused here, before Beast's parser (which
// tolerates some of them) sees the head.
HeadScan scanHead(std::string_view data, std::size_t& headLength, std::string& problem);

// An answer given before any route is known; the connection closes after it.
struct HeadRefusal {
  int status;
  const char* title;
  std::string detail;
};

struct ParsedHead {
  Head head;                       // method, target, lower-cased header names; remoteAddress left empty
  bool transferEncoding = false;   // chunked (the only one accepted)
  std::size_t contentLengths = 0;  // how many (identical) Content-Length fields
  std::string contentLength;       // their value: digits only
  bool hasBody = false;
};

// Feeds `head` (complete, as scanHead found it) to `parser`, a fresh parser,
// with the settings' header limit and no body limit yet: a large Content-Length
// must not look like a malformed head, the route sets the real limit. On
// success the parser holds the message and waits for its body, if any.
std::variant<ParsedHead, HeadRefusal> parseHead(RequestParser& parser, std::string_view head,
                                                const Settings& settings);

}  // namespace hive::api
