// TLS server contexts for the api listener (OpenSSL through boost::asio::ssl,
// which Beast's TLS streams need). No OpenSSL or Asio header here: only
// server.cpp and tls.cpp see them.
//
// Certificate rotation without a restart: a new connection asks current() for
// the context; at most once per reload_interval that looks at the files
// (inode, size, mtime) and, when one changed, loads them into a new context.
// Connections hold the context they started with, so in-flight connections
// finish on the old certificate while new ones get the new one. Files that do
// not load (a key written before its certificate, say) leave the previous
// context in use and are tried again at the next look. A changed `tls` section
// swaps the api plugin (the new generation loads the files; the old one drains).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "config.hpp"
#include "hive/log.hpp"
#include "hive/status.hpp"

namespace boost::asio::ssl {
class context;
}

namespace hive::api {

class TlsContexts {
 public:
  // Loads the files; the error names the file and OpenSSL's reason.
  static Result<std::unique_ptr<TlsContexts>> create(const TlsSettings& settings, Logger& log);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // The context for a new connection (any thread).
  std::shared_ptr<boost::asio::ssl::context> current();

 private:
  TlsContexts(TlsSettings settings, Logger& log) : settings_(std::move(settings)), log_(log) {}

  const TlsSettings settings_;
  Logger& log_;
  std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::string fingerprint_;        // of the files context_ was loaded from
  std::string failedFingerprint_;  // of files that did not load (logged once)
  std::chrono::steady_clock::time_point nextLook_;
};

// Whether `settings` make a context (the config check).
Status checkTls(const TlsSettings& settings);

}  // namespace hive::api
