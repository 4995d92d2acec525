#include "validation.hpp"

namespace hive::storage_sqlite {

namespace {
bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

std::string quoted(std::string_view text) {
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > 64) out += "...";
  return out + "'";
}

Status checkName(std::string_view what, std::string_view name) {
  bool valid = !name.empty() && name.size() <= 63 && lower(name[0]);
  for (std::size_t i = 1; valid && i < name.size(); ++i) {
    char c = name[i];
    valid = lower(c) || digit(c) || c == '_' || c == '.' || c == '-';
  }
  if (valid) return okStatus();
  return invalidArgument(std::string(what) + " name " + quoted(name) + " must match [a-z][a-z0-9_.-]{0,62}");
}

Status checkId(std::string_view what, std::string_view id) {
  bool valid = !id.empty() && id.size() <= 128;
  for (std::size_t i = 0; valid && i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    valid = c >= 0x20 && c < 0x7f;
  }
  if (valid) return okStatus();
  return invalidArgument(std::string(what) + " id " + quoted(id) +
                         " must be 1..128 printable ASCII characters");
}

Status checkField(std::string_view field) {
  bool valid = !field.empty() && field.size() <= 63 && lower(field[0]);
  for (std::size_t i = 1; valid && i < field.size(); ++i)
    valid = lower(field[i]) || digit(field[i]) || field[i] == '_';
  if (valid) return okStatus();
  return invalidArgument("indexed field name " + quoted(field) + " must match [a-z][a-z0-9_]{0,62}");
}

Status checkSize(std::string_view what, std::size_t size, std::size_t limit) {
  if (size <= limit) return okStatus();
  return invalidArgument(std::string(what) + " of " + std::to_string(size) + " bytes exceeds the limit of " +
                         std::to_string(limit) + " bytes");
}

}  // namespace hive::storage_sqlite
