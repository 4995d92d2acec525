#include "validation.hpp"

#include <string>

namespace hive::storage_sqlite {

Status checkSize(std::string_view what, std::size_t size, std::size_t limit) {
  if (size <= limit) return okStatus();
  return invalidArgument(std::string(what) + " of " + std::to_string(size) + " bytes exceeds the limit of " +
                         std::to_string(limit) + " bytes");
}

}  // namespace hive::storage_sqlite
