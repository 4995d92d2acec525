#include "static_files.hpp"

#include <cstdlib>

namespace hive::dashboard {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Calls `each(name, parameters)` for every comma-separated element of a header.
template <typename Each>
void forEachElement(std::string_view header, Each each) {
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view element = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    std::size_t semicolon = element.find(';');
    each(trim(element.substr(0, semicolon)),
         semicolon == std::string_view::npos ? std::string_view() : element.substr(semicolon + 1));
  }
}

// RFC 9110 §12.4.2: a coding with q=0 is refused; any other weight accepts it.
bool refusedByWeight(std::string_view parameters) {
  std::size_t q = parameters.find("q=");
  if (q == std::string_view::npos) return false;
  std::string weight(trim(parameters.substr(q + 2)));
  return std::strtod(weight.c_str(), nullptr) <= 0.0;
}

std::string variantTag(const Asset& asset, Encoding encoding) {
  // A strong validator per representation (RFC 9110 §8.8.3): the digest of
  // the built file, suffixed by the coding of the bytes sent.
  std::string tag(asset.etag.substr(0, asset.etag.size() - 1));
  if (encoding == Encoding::kGzip) tag += "-gzip";
  if (encoding == Encoding::kBrotli) tag += "-br";
  return tag + '"';
}

bool noneMatch(const std::string* ifNoneMatch, std::string_view tag) {
  if (ifNoneMatch == nullptr) return false;
  bool matched = false;
  forEachElement(*ifNoneMatch, [&](std::string_view candidate, std::string_view) {
    if (candidate.starts_with("W/")) candidate.remove_prefix(2);
    if (candidate == "*" || candidate == tag) matched = true;
  });
  return matched;
}

http::Response notFound(std::string_view path) {
  return http::problem(404, "Not Found", "the dashboard has no file " + std::string(path));
}

}  // namespace

Encoding chooseEncoding(const Asset& asset, const std::string* acceptEncoding) {
  if (acceptEncoding == nullptr) return Encoding::kIdentity;
  bool brotli = false, gzip = false;
  forEachElement(*acceptEncoding, [&](std::string_view name, std::string_view parameters) {
    bool accepted = !refusedByWeight(parameters);
    if (equalsIgnoringCase(name, "br")) brotli = accepted;
    if (equalsIgnoringCase(name, "gzip") || equalsIgnoringCase(name, "x-gzip")) gzip = accepted;
  });
  if (brotli && !asset.brotli.empty()) return Encoding::kBrotli;
  if (gzip && !asset.gzip.empty()) return Encoding::kGzip;
  return Encoding::kIdentity;
}

http::Response assetResponse(const Asset& asset, const http::Request& request) {
  Encoding encoding = chooseEncoding(asset, request.header("accept-encoding"));
  std::string tag = variantTag(asset, encoding);
  http::Response response;
  response.contentType = std::string(asset.contentType);
  response.headers = {
      {"cache-control", asset.immutable ? "public, max-age=31536000, immutable" : "no-cache"},
      {"etag", tag},
      {"vary", "Accept-Encoding"},
      {"content-security-policy", std::string(kContentSecurityPolicy)},
      {"x-content-type-options", "nosniff"},
      {"referrer-policy", "no-referrer"},
      {"cross-origin-opener-policy", "same-origin"},
  };
  if (noneMatch(request.header("if-none-match"), tag)) {
    response.status = 304;
    return response;
  }
  switch (encoding) {
    case Encoding::kBrotli:
      response.headers.push_back({"content-encoding", "br"});
      response.body = std::string(asset.brotli);
      break;
    case Encoding::kGzip:
      response.headers.push_back({"content-encoding", "gzip"});
      response.body = std::string(asset.gzip);
      break;
    case Encoding::kIdentity: response.body = std::string(asset.identity); break;
  }
  return response;
}

StaticFiles::StaticFiles(std::span<const Asset> assets) {
  for (const Asset& asset : assets) byPath_.emplace(asset.path, &asset);
}

http::Response StaticFiles::answer(std::string_view path, const http::Request& request) const {
  auto found = byPath_.find(path);
  if (found == byPath_.end()) return notFound(path);
  return assetResponse(*found->second, request);
}

}  // namespace hive::dashboard
