// Index values travel as a flat jsonb object of strings: {"field": "value"}.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace hive::storage_postgres {

std::string indexToJson(const std::map<std::string, std::string>& index);
// Parses what PostgreSQL prints for such a jsonb value; nullopt when it is not one.
std::optional<std::map<std::string, std::string>> indexFromJson(const std::string& text);

}  // namespace hive::storage_postgres
