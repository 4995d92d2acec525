// The stores' handling of client text. storage_postgres keeps a document's
// index as a jsonb object of strings and parses what PostgreSQL prints back
// with its own small parser; both stores check names, ids and fields before
// any SQL runs (hive/services/store_names.hpp) and quote caller input into
// error messages.
//
// Properties checked, beyond "no sanitizer report":
// - any map of strings survives indexToJson -> indexFromJson unchanged (the
//   input is split into keys and values at 0xFF bytes; NULs stay in them);
// - whatever indexFromJson accepts, re-encoded and parsed again, is the same map;
// - quoted() stays printable ASCII and bounded, whatever it is given;
// - a name, id or field the checks accept matches its documented grammar.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "hive/services/store_names.hpp"
#include "plugins/storage_postgres/json_index.hpp"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "store_json_fuzz: %s\n", what);
  std::abort();
}

bool lowerOrDigit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace pg = hive::storage_postgres;
  std::string text(reinterpret_cast<const char*>(data), size);

  // Parsing what comes back.
  if (auto parsed = pg::indexFromJson(text)) {
    auto again = pg::indexFromJson(pg::indexToJson(*parsed));
    if (!again || *again != *parsed) broken("an accepted index does not survive a re-encoding");
  }

  // Encoding what a client indexes: pairs of strings separated by 0xFF bytes.
  std::map<std::string, std::string> index;
  std::string_view rest(text);
  while (!rest.empty()) {
    std::size_t keyEnd = rest.find('\xff');
    std::string key(rest.substr(0, keyEnd));
    rest = keyEnd == std::string_view::npos ? std::string_view() : rest.substr(keyEnd + 1);
    std::size_t valueEnd = rest.find('\xff');
    index[key] = std::string(rest.substr(0, valueEnd));
    rest = valueEnd == std::string_view::npos ? std::string_view() : rest.substr(valueEnd + 1);
  }
  auto decoded = pg::indexFromJson(pg::indexToJson(index));
  if (!decoded || *decoded != index) broken("an index does not survive indexToJson -> indexFromJson");

  // The stores' checks of names and ids (hive/services/store_names.hpp).
  std::string quoted = hive::store::quoted(text);
  for (char c : quoted)
    if (c < 0x20 || c > 0x7e) broken("quoted() let a non-printable byte through");
  if (quoted.size() > 2 + 4 * 64 + 3) broken("quoted() is not bounded");
  if (hive::store::checkName(text, "collection").ok()) {
    if (text.empty() || text.size() > 63 || !(text[0] >= 'a' && text[0] <= 'z')) broken("a bad name passed");
    for (char c : text)
      if (!lowerOrDigit(c) && c != '_' && c != '.' && c != '-') broken("a bad name passed");
  }
  if (hive::store::checkFieldName(text).ok()) {
    if (text.empty() || text.size() > 63 || !(text[0] >= 'a' && text[0] <= 'z')) broken("a bad field passed");
    for (char c : text)
      if (!lowerOrDigit(c) && c != '_') broken("a bad field passed");
  }
  if (hive::store::checkId(text, "id").ok()) {
    if (text.empty() || text.size() > 128) broken("a bad id passed");
    for (char c : text)
      if (c < 0x20 || c > 0x7e) broken("a bad id passed");
  }
  return 0;
}
