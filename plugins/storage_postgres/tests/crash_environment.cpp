// Runs storage_sqlite's provider-neutral crash test (kill -9 of a worker in the
// middle of ~10,000 queue operations, reopen, check the acknowledged log) against
// storage_postgres: gives it a fresh schema on the test server and drops it after.
#include <cstdlib>

#include <gtest/gtest.h>

#include "pg_test_support.hpp"

namespace {

class FreshSchema final : public ::testing::Environment {
 public:
  void SetUp() override {
    url_ = hive::storage_postgres::test::serverUrl();
    ASSERT_FALSE(url_.empty()) << hive::storage_postgres::test::kNoServerMessage;
    schema_ = hive::storage_postgres::test::freshSchemaName();
    // store_crash_test.cpp expands ${HIVE_CRASH_SCHEMA} in its STORE_CRASH_CONFIG.
    ::setenv("HIVE_CRASH_SCHEMA", schema_.c_str(), 1);
  }
  void TearDown() override {
    if (!url_.empty()) hive::storage_postgres::test::dropSchema(url_, schema_);
  }

 private:
  std::string url_;
  std::string schema_;
};

[[maybe_unused]] ::testing::Environment* const kFreshSchema =
    ::testing::AddGlobalTestEnvironment(new FreshSchema);

}  // namespace
