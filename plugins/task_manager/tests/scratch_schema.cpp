#include "scratch_schema.hpp"

#include <unistd.h>

#include <atomic>
#include <random>

#include <gtest/gtest.h>
#include <pqxx/connection>
#include <pqxx/nontransaction>

namespace hive::task_manager::testing {

std::string freshSchemaName() {
  static std::atomic<int> serial{0};
  std::random_device random;
  return "tm_" + std::to_string(::getpid()) + "_" + std::to_string(++serial) + "_" +
         std::to_string(random() % 100000);
}

void dropSchema(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection connection(url);
    pqxx::nontransaction tx(connection);
    tx.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
  } catch (const std::exception& error) {
    ADD_FAILURE() << "dropping schema " << schema << ": " << error.what();
  }
}

}  // namespace hive::task_manager::testing
