// task_manager, linked in and driven through the SDK harness, on the real
// storage_sqlite plugin loaded from its .so (seen through ClockedStore) and on
// the harness's manual clock: HTTP handlers are called through the route
// service, the orchestrator's side through hive.tasks/1, and time moves only
// when a test moves it (advance(), sweep()).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clocked_store.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/testing/harness.hpp"

namespace hive::task_manager::testing {

namespace json = boost::json;
using hive::testing::PluginHarness;

class TaskManagerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual ConfigNode config() {
    return hive::testing::configFromPairs({{"retry_base", "10ms"}, {"retry_max", "20ms"}});
  }

  http::Response call(const std::string& method, const std::string& path, const std::string& body = {},
                      std::vector<http::Header> headers = {});
  std::string submit(const std::string& body, int expected = 201);
  json::object task(const std::string& id);
  std::string status(const std::string& id) { return std::string(task(id).at("status").as_string()); }
  json::object stats() { return json::parse(call("GET", "/api/v2/tasks/stats").body).as_object(); }
  std::vector<tasks::Assignment> claim(const std::string& agent, std::vector<std::string> capabilities = {},
                                       std::size_t max = 10);
  // Moves the clock; the sweep timer fires on the way.
  void advance(std::chrono::milliseconds by) {
    harness_->advanceTime(by);
    harness_->runPending();
  }
  void sweep() { advance(std::chrono::seconds(1)); }
  // The durable event log, as the store holds it.
  std::vector<store::Event> eventLog();

  // storage_sqlite, or storage_postgres for the postgres.* tests.
  void loadStore();

  HarnessClock clock_;
  std::string principal_;                   // call() speaks as this caller (http::Request::principal)
  std::string remote_ = "127.0.0.1:40000";  // and from there (empty: another plugin, in process)
  std::string postgresUrl_, schema_;
  std::unique_ptr<PluginHarness> storeHarness_;
  std::shared_ptr<store::Store> realStore_;
  std::shared_ptr<ClockedStore> store_;
  std::unique_ptr<PluginHarness> harness_;
  ServiceRef<http::RouteProvider> routes_;
  ServiceRef<tasks::TaskService> tasks_;
};

inline std::int64_t countOf(const json::object& stats, const char* status) {
  return stats.at("by_status").as_object().at(status).as_int64();
}

}  // namespace hive::task_manager::testing
