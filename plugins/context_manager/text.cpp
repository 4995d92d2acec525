#include "text.hpp"

namespace hive::context_manager {

namespace {
constexpr std::size_t kMaxWordBytes = 64;

bool isWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
}  // namespace

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(std::move(current));
    current.clear();
  };
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (!isWordByte(byte)) {
      flush();
      continue;
    }
    if (current.size() < kMaxWordBytes)
      current += byte >= 'A' && byte <= 'Z' ? static_cast<char>(byte - 'A' + 'a') : c;
  }
  flush();
  return out;
}

std::size_t estimateTokens(std::string_view text) { return (text.size() + 3) / 4; }

}  // namespace hive::context_manager
