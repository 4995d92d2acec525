// A PostgreSQL schema that exists for one test (libpqxx kept out of the fixture).
#pragma once

#include <string>

namespace hive::task_manager::testing {

std::string freshSchemaName();
// Drops `schema` and everything in it; a failure is a test failure.
void dropSchema(const std::string& url, const std::string& schema);

}  // namespace hive::task_manager::testing
