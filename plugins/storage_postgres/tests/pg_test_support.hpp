// Shared by the storage_postgres tests: the test server's URL, a fresh schema per
// test (dropped afterwards, so tests run in parallel and re-run), and the plugin
// loaded from its real .so.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

namespace hive::storage_postgres::test {

inline constexpr const char* kNoServerMessage =
    "HIVE_TEST_POSTGRES_URL is not set. Start the test servers first:\n"
    "  eval \"$(scripts/test-servers start)\"\n"
    "(or exclude these tests with ctest -LE postgres)";

inline std::string serverUrl() {
  const char* url = std::getenv("HIVE_TEST_POSTGRES_URL");
  return url == nullptr ? std::string() : std::string(url);
}

#define HIVE_REQUIRE_POSTGRES()                                   \
  do {                                                            \
    if (::hive::storage_postgres::test::serverUrl().empty())      \
      FAIL() << ::hive::storage_postgres::test::kNoServerMessage; \
  } while (0)

inline std::string freshSchemaName() {
  static std::atomic<int> serial{0};
  std::random_device random;
  return "t_" + std::to_string(::getpid()) + "_" + std::to_string(++serial) + "_" +
         std::to_string(random() % 100000);
}

inline void dropSchema(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection connection(url);
    pqxx::nontransaction tx(connection);
    tx.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
  } catch (const std::exception& error) {
    ADD_FAILURE() << "dropping schema " << schema << ": " << error.what();
  }
}

// A schema that exists for one test.
class ScratchSchema {
 public:
  ScratchSchema() : url_(serverUrl()), name_(freshSchemaName()) {}
  ~ScratchSchema() {
    if (!url_.empty()) dropSchema(url_, name_);
  }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;
  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::string name_;
};

inline hive::ConfigNode storeConfig(const std::string& url, const std::string& schema,
                                    std::initializer_list<std::pair<std::string, std::string>> extra = {}) {
  auto section = hive::ConfigNode::map();
  section.set("url", hive::ConfigNode::scalar(url));
  section.set("schema", hive::ConfigNode::scalar(schema));
  section.set("pool_size", hive::ConfigNode::scalar("4"));
  for (const auto& [key, value] : extra) section.set(key, hive::ConfigNode::scalar(value));
  return section;
}

// The plugin loaded from its .so, started, and the store it provides.
struct LoadedStore {
  std::unique_ptr<hive::testing::PluginHarness> harness;
  hive::ServiceRef<hive::store::Store> store;
  hive::Status status;  // why it is not there

  ~LoadedStore() {
    store = {};
    harness.reset();
  }
};

inline std::unique_ptr<LoadedStore> loadStore(const hive::ConfigNode& config) {
  auto out = std::make_unique<LoadedStore>();
  auto loaded = hive::testing::PluginHarness::loadLibrary(STORAGE_POSTGRES_PLUGIN_PATH);
  if (!loaded.ok()) {
    out->status = loaded.status();
    return out;
  }
  out->harness = std::move(loaded).value();
  out->harness->setConfig(config);
  out->status = out->harness->start();
  if (!out->status.ok()) return out;
  auto store = out->harness->services().get<hive::store::Store>();
  if (!store.ok()) {
    out->status = store.status();
    return out;
  }
  out->store = std::move(*store);
  return out;
}

}  // namespace hive::storage_postgres::test
