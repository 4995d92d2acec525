#include "request_head.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

#include <boost/asio/buffer.hpp>

namespace hive::api {

namespace bhttp = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

HeadScan scanHead(std::string_view data, std::size_t& headLength, std::string& problem) {
  std::size_t end = data.find("\r\n\r\n");
  std::size_t limit = end == std::string_view::npos ? data.size() : end + 4;
  for (std::size_t i = 0; i < limit; ++i) {
    char c = data[i];
    if (c == '\0') {
      problem = "NUL byte in the request head";
      return HeadScan::kMalformed;
    }
    if (c == '\n' && (i == 0 || data[i - 1] != '\r')) {
      problem = "bare LF in the request head";
      return HeadScan::kMalformed;
    }
    if (c == '\r' && i + 1 < data.size() && data[i + 1] != '\n') {
      problem = "bare CR in the request head";
      return HeadScan::kMalformed;
    }
    if (c == '\n' && i + 1 < limit && (data[i + 1] == ' ' || data[i + 1] == '\t')) {
      problem = "obsolete line folding in a header";
      return HeadScan::kMalformed;
    }
  }
  if (end == std::string_view::npos) return HeadScan::kIncomplete;
  headLength = end + 4;
  return HeadScan::kComplete;
}

std::variant<ParsedHead, HeadRefusal> parseHead(RequestParser& parser, std::string_view head,
                                                const Settings& settings) {
  parser.header_limit(static_cast<std::uint32_t>(settings.headerBytes));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code error;
  std::size_t used = parser.put(boost::asio::buffer(head.data(), head.size()), error);
  if (error == bhttp::error::header_limit)
    return HeadRefusal{431, "Request Header Fields Too Large", "the request head exceeds the limit"};
  if (error || used != head.size() || !parser.is_header_done())
    return HeadRefusal{400, "Bad Request",
                       error ? "malformed request head: " + error.message() : "malformed head"};

  auto& message = parser.get();
  if (message.target().size() > settings.targetBytes)
    return HeadRefusal{414, "URI Too Long", "the request target exceeds the limit"};
  if (message.version() != 11 && message.version() != 10)
    return HeadRefusal{505, "HTTP Version Not Supported", "only HTTP/1.0 and HTTP/1.1"};
  ParsedHead parsed;
  std::size_t count = 0, hosts = 0;
  for (const auto& field : message) {
    if (++count > settings.headerCount)
      return HeadRefusal{431, "Request Header Fields Too Large", "too many header fields"};
    std::string name = lower(field.name_string());
    std::string_view value = field.value();
    if (name == "content-length") {
      if (value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return HeadRefusal{400, "Bad Request", "malformed Content-Length"};
      if (parsed.contentLengths++ > 0 && value != parsed.contentLength)
        return HeadRefusal{400, "Bad Request", "differing Content-Length headers"};
      parsed.contentLength = std::string(value);
    } else if (name == "transfer-encoding") {
      if (parsed.transferEncoding || !iequals(value, "chunked"))
        return HeadRefusal{400, "Bad Request", "unsupported Transfer-Encoding"};
      parsed.transferEncoding = true;
    } else if (name == "host") {
      ++hosts;
    }
    parsed.head.headers.push_back({std::move(name), std::string(value)});
  }
  if (parsed.transferEncoding && parsed.contentLengths > 0)
    return HeadRefusal{400, "Bad Request", "Content-Length together with Transfer-Encoding"};
  if (hosts > 1 || (hosts == 0 && message.version() == 11))
    return HeadRefusal{400, "Bad Request", "bad Host header"};
  parsed.hasBody =
      parsed.transferEncoding ||
      (parsed.contentLengths > 0 && parsed.contentLength.find_first_not_of('0') != std::string::npos);
  parsed.head.method = std::string(message.method_string());
  parsed.head.target = std::string(message.target());
  return parsed;
}

}  // namespace hive::api
