// http:// and https:// URLs as in-tree plugins that call out take them in
// their config or over REST (webhooks, an OTLP collector). Header-only, not
// part of the SDK.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "hive/config.hpp"
#include "hive/status.hpp"

namespace hive::plugin_common {

struct HttpUrl {
  bool tls = false;  // https
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target;  // path and query, "/" at least
};

// http://host[:port][/path] or https://…; kInvalidArgument with the reason
// otherwise (user information, spaces and control characters are refused).
inline Result<HttpUrl> parseHttpUrl(std::string_view text) {
  HttpUrl url;
  url.tls = text.rfind("https://", 0) == 0;
  std::string_view scheme = url.tls ? "https://" : "http://";
  if (text.rfind(scheme, 0) != 0) return invalidArgument("must start with http:// or https://");
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return invalidArgument("must not contain spaces, line breaks or control characters");
  std::string_view rest = text.substr(scheme.size());
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos)
    return invalidArgument("must not contain user information");
  std::string_view port;
  bool hasPort = false;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalidArgument("unclosed [ in the host");
    url.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return invalidArgument("bad host");
    hasPort = !authority.empty();
    if (hasPort) port = authority.substr(1);
  } else {
    std::size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    hasPort = colon != std::string_view::npos;
    if (hasPort) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return invalidArgument("has no host");
  url.port = hasPort ? std::string(port) : (url.tls ? "443" : "80");
  if (url.port.empty() || url.port.size() > 5 ||
      url.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(url.port) == 0 ||
      std::stoi(url.port) > 65535)
    return invalidArgument("has a bad port");
  return url;
}

// The `ca_file` setting of a section that calls https URLs: empty (the
// system's trust store) or a PEM file that can be read; otherwise an error at
// its place.
inline std::string readCaFile(ConfigReader& reader) {
  std::string caFile = reader.get<std::string>("ca_file", "");
  if (!caFile.empty() && ::access(caFile.c_str(), R_OK) != 0)
    reader.reject("ca_file", "cannot read " + caFile + ": " + std::strerror(errno));
  return caFile;
}

}  // namespace hive::plugin_common
