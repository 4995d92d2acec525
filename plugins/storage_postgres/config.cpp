#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace hive::storage_postgres {
namespace {

bool isSchemaName(const std::string& name) {
  if (name.empty() || name.size() > 48) return false;
  if (!(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '_';
  });
}

bool isUrlForm(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

// [begin, end) of the password inside a URL's userinfo, or npos.
std::pair<std::size_t, std::size_t> urlPasswordSpan(const std::string& url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return {std::string::npos, 0};
  std::size_t authorityBegin = scheme + 3;
  std::size_t authorityEnd = url.find_first_of("/?", authorityBegin);
  if (authorityEnd == std::string::npos) authorityEnd = url.size();
  std::size_t at = url.rfind('@', authorityEnd);
  if (at == std::string::npos || at < authorityBegin) return {std::string::npos, 0};
  std::size_t colon = url.find(':', authorityBegin);
  if (colon == std::string::npos || colon > at) return {std::string::npos, 0};
  return {colon + 1, at};
}

// [begin, end) of the value of a `password` parameter: `password=...` in a
// key=value string (optionally quoted) or in a URL query.
std::pair<std::size_t, std::size_t> keywordPasswordSpan(const std::string& text, std::size_t from) {
  static constexpr std::string_view kKey = "password";
  for (std::size_t pos = text.find(kKey, from); pos != std::string::npos; pos = text.find(kKey, pos + 1)) {
    bool boundary = pos == 0 || text[pos - 1] == ' ' || text[pos - 1] == '?' || text[pos - 1] == '&' ||
                    text[pos - 1] == '\t';
    std::size_t cursor = pos + kKey.size();
    while (cursor < text.size() && text[cursor] == ' ') ++cursor;
    if (!boundary || cursor >= text.size() || text[cursor] != '=') continue;
    ++cursor;
    while (cursor < text.size() && text[cursor] == ' ') ++cursor;
    std::size_t begin = cursor;
    if (cursor < text.size() && text[cursor] == '\'') {
      ++cursor;
      while (cursor < text.size() && text[cursor] != '\'') cursor += text[cursor] == '\\' ? 2 : 1;
      return {begin, std::min(cursor + 1, text.size())};
    }
    while (cursor < text.size() && text[cursor] != ' ' && text[cursor] != '&') ++cursor;
    return {begin, cursor};
  }
  return {std::string::npos, 0};
}

}  // namespace

std::string redactUrl(const std::string& url) {
  std::string out = url;
  auto [begin, end] = urlPasswordSpan(out);
  if (begin != std::string::npos) out.replace(begin, end - begin, "***");
  std::size_t from = 0;
  for (;;) {
    auto [keyBegin, keyEnd] = keywordPasswordSpan(out, from);
    if (keyBegin == std::string::npos) break;
    out.replace(keyBegin, keyEnd - keyBegin, "***");
    from = keyBegin + 3;
  }
  return out;
}

std::string passwordOf(const std::string& url) {
  auto [begin, end] = urlPasswordSpan(url);
  if (begin != std::string::npos) return url.substr(begin, end - begin);
  auto [keyBegin, keyEnd] = keywordPasswordSpan(url, 0);
  if (keyBegin == std::string::npos) return {};
  std::string value = url.substr(keyBegin, keyEnd - keyBegin);
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
    value = value.substr(1, value.size() - 2);
  return value;
}

std::string withConnectTimeout(const std::string& url, std::chrono::milliseconds timeout) {
  long long seconds = std::max<long long>(1, (timeout.count() + 999) / 1000);
  std::string setting = "connect_timeout=" + std::to_string(seconds);
  if (isUrlForm(url)) return url + (url.find('?') == std::string::npos ? "?" : "&") + setting;
  return url + (url.empty() ? "" : " ") + setting;
}

Config parseConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Config config;
  config.url = reader.require<std::string>("url");
  if (reader.has("url") && config.url.empty()) reader.reject("url", "must not be empty");
  if (config.url.find('\0') != std::string::npos) reader.reject("url", "must not contain NUL bytes");

  config.schema = reader.get<std::string>("schema", config.schema);
  if (!isSchemaName(config.schema))
    reader.reject("schema",
                  "must match [a-z_][a-z0-9_]* (at most 48 characters), got '" + config.schema + "'");

  auto readCount = [&](std::string_view key, std::size_t fallback, std::int64_t low, std::int64_t high) {
    return static_cast<std::size_t>(
        reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), low, high));
  };
  auto readDuration = [&](std::string_view key, std::chrono::milliseconds fallback,
                          std::chrono::milliseconds low, std::chrono::milliseconds high) {
    return reader.getInRange<std::chrono::milliseconds>(key, fallback, low, high);
  };

  using std::chrono::milliseconds;
  constexpr std::int64_t kMaxBytes = 256LL << 20;  // PostgreSQL's bytea tops out at 1 GiB
  config.poolSize = readCount("pool_size", config.poolSize, 2, 256);
  config.connectTimeout =
      readDuration("connect_timeout", config.connectTimeout, milliseconds(1000), milliseconds(300'000));
  config.acquireTimeout =
      readDuration("acquire_timeout", config.acquireTimeout, milliseconds(1), milliseconds(300'000));
  config.statementTimeout =
      readDuration("statement_timeout", config.statementTimeout, milliseconds(1), milliseconds(3'600'000));
  config.reconnectBackoffInitial = readDuration("reconnect_backoff_initial", config.reconnectBackoffInitial,
                                                milliseconds(1), milliseconds(60'000));
  config.reconnectBackoffMax = readDuration("reconnect_backoff_max", config.reconnectBackoffMax,
                                            milliseconds(1), milliseconds(600'000));
  if (config.reconnectBackoffMax < config.reconnectBackoffInitial)
    reader.reject("reconnect_backoff_max", "must not be below reconnect_backoff_initial");
  config.maxDocumentBytes = readCount("max_document_bytes", config.maxDocumentBytes, 1, kMaxBytes);
  config.maxPayloadBytes = readCount("max_payload_bytes", config.maxPayloadBytes, 1, kMaxBytes);
  config.maxEventBytes = readCount("max_event_bytes", config.maxEventBytes, 1, kMaxBytes);
  config.batchMaxSize = readCount("batch_max_size", config.batchMaxSize, 1, 10'000);
  std::size_t defaultConcurrency = std::max<std::size_t>(1, config.poolSize / 2);
  config.batchConcurrency = readCount("batch_concurrency", defaultConcurrency, 1, 256);
  if (config.batchConcurrency >= config.poolSize) {
    reader.reject("batch_concurrency", "must be below pool_size (" + std::to_string(config.poolSize) +
                                           ") so that reads and transact() keep a connection");
    config.batchConcurrency = defaultConcurrency;
  }
  reader.finish();
  return config;
}

}  // namespace hive::storage_postgres
