// Answers for the app's files: the variant the client accepts (brotli, gzip,
// identity), cache headers by kind of name, the Content-Security-Policy.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>

#include "assets.hpp"
#include "hive/services/http.hpp"

namespace hive::dashboard {

// The policy every answer carries. The app has no inline script or style and
// talks only to its own origin (REST and the /api/v2/ws WebSocket).
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; manifest-src 'self'; worker-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Which stored variant of an asset to send for an Accept-Encoding header.
enum class Encoding { kIdentity, kGzip, kBrotli };
Encoding chooseEncoding(const Asset& asset, const std::string* acceptEncoding);

// The answer to a GET of `asset` (200 with the chosen variant, or 304 when
// If-None-Match names it).
http::Response assetResponse(const Asset& asset, const http::Request& request);

// The built files by path ("index.html", "assets/index-3f2a9c1b.js").
class StaticFiles {
 public:
  explicit StaticFiles(std::span<const Asset> assets);

  // 200 with the file, 304, or a 404 problem.
  http::Response answer(std::string_view path, const http::Request& request) const;
  std::size_t size() const { return byPath_.size(); }

 private:
  std::map<std::string_view, const Asset*, std::less<>> byPath_;
};

}  // namespace hive::dashboard
