#include "input.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace hive::data_processing_engine {

namespace json = boost::json;

namespace {

Status tooMany(std::size_t limit) {
  return resourceExhausted("more than max_items " + std::to_string(limit) + " items");
}

// One CSV record (RFC 4180: quoted fields with "" for a quote, commas and
// line breaks inside quotes) starting at `at`; moves `at` past it.
Result<std::vector<std::string>> csvRecord(std::string_view text, std::size_t& at, std::size_t& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  std::size_t startLine = line;
  while (at < text.size()) {
    char c = text[at++];
    if (quoted) {
      if (c == '"' && at < text.size() && text[at] == '"') {
        fields.back() += '"';
        ++at;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n') {
      ++line;
      if (!fields.back().empty() && fields.back().back() == '\r') fields.back().pop_back();
      return fields;
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return invalidArgument("line " + std::to_string(startLine) + ": unclosed quote");
  if (!fields.back().empty() && fields.back().back() == '\r') fields.back().pop_back();
  return fields;
}

}  // namespace

Result<std::string> resolveUnder(const std::string& directory, const std::string& relative) {
  if (relative.empty() || relative.front() == '/')
    return invalidArgument("must be a path relative to the input directory");
  std::error_code ec;
  std::filesystem::path root = std::filesystem::canonical(directory, ec);
  if (ec) return invalidArgument("the input directory " + directory + " does not exist");
  std::filesystem::path full = std::filesystem::canonical(root / relative, ec);
  if (ec) return invalidArgument("no file " + relative + " in the input directory");
  auto [end, inside] = std::mismatch(root.begin(), root.end(), full.begin(), full.end());
  if (end != root.end()) return invalidArgument(relative + " leads outside the input directory");
  if (!std::filesystem::is_regular_file(full, ec))
    return invalidArgument(relative + " is not a regular file");
  return full.string();
}

Result<std::string> resolveInput(const std::string& directory, const std::string& tenant,
                                 const std::string& relative) {
  if (!tenant.empty()) return resolveUnder(directory + "/tenants/" + tenant, relative);
  Result<std::string> path = resolveUnder(directory, relative);
  std::error_code ec;
  std::filesystem::path tenants =
      std::filesystem::weakly_canonical(std::filesystem::path(directory) / "tenants", ec);
  if (path.ok() && !ec) {
    std::filesystem::path full(*path);
    auto [end, inside] = std::mismatch(tenants.begin(), tenants.end(), full.begin(), full.end());
    if (end == tenants.end()) return invalidArgument(relative + " is in the named tenants' part (tenants/)");
  }
  return path;
}

Result<json::array> parseItems(std::string_view text, InputFormat format, const Limits& limits) {
  json::array items;
  if (format == InputFormat::kJsonLines) {
    std::size_t line = 0, at = 0;
    while (at < text.size()) {
      std::size_t end = text.find('\n', at);
      if (end == std::string_view::npos) end = text.size();
      std::string_view row = text.substr(at, end - at);
      at = end + 1;
      ++line;
      if (row.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      std::error_code ec;
      json::value item = json::parse(row, ec);
      if (ec) return invalidArgument("line " + std::to_string(line) + ": not JSON: " + ec.message());
      if (items.size() == limits.maxItems) return tooMany(limits.maxItems);
      items.push_back(std::move(item));
    }
    return items;
  }
  std::size_t at = 0, line = 1;
  auto header = csvRecord(text, at, line);
  if (!header.ok()) return header.status();
  if (text.empty() || (header->size() == 1 && header->front().empty()))
    return invalidArgument("line 1: the CSV file needs a header line");
  while (at < text.size()) {
    std::size_t recordLine = line;
    auto record = csvRecord(text, at, line);
    if (!record.ok()) return record.status();
    if (record->size() == 1 && record->front().empty()) continue;  // a blank line
    if (record->size() != header->size())
      return invalidArgument("line " + std::to_string(recordLine) + ": " + std::to_string(record->size()) +
                             " fields, the header has " + std::to_string(header->size()));
    json::object item;
    for (std::size_t i = 0; i < header->size(); ++i) item[(*header)[i]] = (*record)[i];
    if (items.size() == limits.maxItems) return tooMany(limits.maxItems);
    items.push_back(std::move(item));
  }
  return items;
}

Result<json::array> readItems(const std::string& path, InputFormat format, const Limits& limits) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return invalidArgument("cannot read " + path);
  if (static_cast<std::size_t>(info.st_size) > limits.maxInputBytes)
    return resourceExhausted("the file has " + std::to_string(info.st_size) +
                             " bytes, more than max_input_bytes " + std::to_string(limits.maxInputBytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalidArgument("cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parseItems(text, format, limits);
}

}  // namespace hive::data_processing_engine
