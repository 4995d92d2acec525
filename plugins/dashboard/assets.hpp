// The single-page app's files, built by npm (web/) and compiled into the .so
// (assets.cpp is generated from web/dist by web/embed.mjs at build time), so a
// hot swap of the plugin swaps the page together with the code serving it.
#pragma once

#include <span>
#include <string_view>

namespace hive::dashboard {

struct Asset {
  std::string_view path;         // "index.html", "assets/index-3f2a9c1b.js": relative to /dashboard/
  std::string_view contentType;  // "text/javascript; charset=utf-8"
  std::string_view etag;         // quoted strong validator: a digest of `identity`
  std::string_view identity;     // the bytes as built
  std::string_view gzip;         // the same, gzip-compressed at build time; empty when not smaller
  std::string_view brotli;       // the same, brotli-compressed; empty when not smaller
  bool immutable = false;        // a content-hashed name: cached for a year, never revalidated
};

// Every built file, sorted by path.
std::span<const Asset> embeddedAssets();

}  // namespace hive::dashboard
