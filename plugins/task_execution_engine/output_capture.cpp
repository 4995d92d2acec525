#include "output_capture.hpp"

#include <algorithm>

namespace hive::task_execution_engine {
namespace {

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  bool object() {
    skipSpace();
    if (peek() != '{') return false;
    if (!value(0)) return false;
    skipSpace();
    return position_ == text_.size();
  }

 private:
  static constexpr int kMaxDepth = 64;

  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }
  bool atEnd() const { return position_ >= text_.size(); }

  void skipSpace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++position_;
  }

  bool literal(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) return false;
    position_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (depth > kMaxDepth) return false;
    skipSpace();
    switch (peek()) {
      case '{': return objectBody(depth);
      case '[': return arrayBody(depth);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool objectBody(int depth) {
    ++position_;  // '{'
    skipSpace();
    if (peek() == '}') {
      ++position_;
      return true;
    }
    while (true) {
      skipSpace();
      if (peek() != '"' || !string()) return false;
      skipSpace();
      if (peek() != ':') return false;
      ++position_;
      if (!value(depth + 1)) return false;
      skipSpace();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() == '}') {
        ++position_;
        return true;
      }
      return false;
    }
  }

  bool arrayBody(int depth) {
    ++position_;  // '['
    skipSpace();
    if (peek() == ']') {
      ++position_;
      return true;
    }
    while (true) {
      if (!value(depth + 1)) return false;
      skipSpace();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() == ']') {
        ++position_;
        return true;
      }
      return false;
    }
  }

  static bool isHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  bool string() {
    ++position_;  // '"'
    while (!atEnd()) {
      auto c = static_cast<unsigned char>(text_[position_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (atEnd()) return false;
        char escape = text_[position_++];
        if (escape == 'u') {
          for (int i = 0; i < 4; ++i) {
            if (atEnd() || !isHex(text_[position_])) return false;
            ++position_;
          }
        } else if (std::string_view("\"\\/bfnrt").find(escape) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }

  bool digits() {
    std::size_t start = position_;
    while (!atEnd() && peek() >= '0' && peek() <= '9') ++position_;
    return position_ > start;
  }

  bool number() {
    if (peek() == '-') ++position_;
    if (peek() == '0') {
      ++position_;
    } else if (!digits()) {
      return false;
    }
    if (peek() == '.') {
      ++position_;
      if (!digits()) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++position_;
      if (peek() == '+' || peek() == '-') ++position_;
      if (!digits()) return false;
    }
    return true;
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

std::string_view trim(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

bool isJsonObject(std::string_view text) { return JsonParser(text).object(); }

OutputCapture::OutputCapture(std::size_t cap, std::size_t maxResultBytes)
    : cap_(cap), maxResultBytes_(maxResultBytes) {}

void OutputCapture::append(std::string_view chunk) {
  std::size_t room = cap_ - std::min(cap_, text_.size());
  text_.append(chunk.substr(0, room));
  if (chunk.size() > room) truncated_ = true;

  while (!chunk.empty()) {
    std::size_t newline = chunk.find('\n');
    std::string_view piece = chunk.substr(0, newline);
    if (!lineTooLong_) {
      if (line_.size() + piece.size() > maxResultBytes_) {
        lineTooLong_ = true;
        line_.clear();
      } else {
        line_.append(piece);
      }
    }
    if (newline == std::string_view::npos) break;
    endLine();
    chunk.remove_prefix(newline + 1);
  }
}

void OutputCapture::finish() { endLine(); }

void OutputCapture::endLine() {
  if (!lineTooLong_) {
    std::string_view candidate = trim(line_);
    if (!candidate.empty() && candidate.front() == '{' && isJsonObject(candidate))
      lastJsonObject_.assign(candidate);
  }
  line_.clear();
  lineTooLong_ = false;
}

}  // namespace hive::task_execution_engine
