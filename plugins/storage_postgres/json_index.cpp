#include "json_index.hpp"

#include <cstdint>
#include <cstdio>

namespace hive::storage_postgres {
namespace {

// Not http::jsonQuote: an index must come back byte for byte from
// indexFromJson (store_json_fuzz checks it), and jsonQuote turns bytes that are
// not UTF-8 into U+FFFD. Such a value then fails in PostgreSQL, saying why.
void appendQuoted(std::string& out, const std::string& text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void appendUtf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  std::optional<std::map<std::string, std::string>> object() {
    std::map<std::string, std::string> out;
    skipSpace();
    if (!consume('{')) return std::nullopt;
    skipSpace();
    if (consume('}')) return finish(std::move(out));
    for (;;) {
      auto key = string();
      skipSpace();
      if (!key || !consume(':')) return std::nullopt;
      skipSpace();
      auto value = string();
      if (!value) return std::nullopt;
      out[*key] = *value;
      skipSpace();
      if (consume('}')) return finish(std::move(out));
      if (!consume(',')) return std::nullopt;
      skipSpace();
    }
  }

 private:
  std::optional<std::map<std::string, std::string>> finish(std::map<std::string, std::string> out) {
    skipSpace();
    if (pos_ != text_.size()) return std::nullopt;
    return out;
  }
  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t')) ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<std::uint32_t> hex4() {
    if (pos_ + 4 > text_.size()) return std::nullopt;
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9')
        value |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        value |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        value |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return std::nullopt;
    }
    return value;
  }
  std::optional<std::string> string() {
    if (!consume('"')) return std::nullopt;
    std::string out;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return std::nullopt;
      char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          auto code = hex4();
          if (!code) return std::nullopt;
          if (*code >= 0xD800 && *code < 0xDC00) {
            if (!consume('\\') || !consume('u')) return std::nullopt;
            auto low = hex4();
            if (!low || *low < 0xDC00 || *low >= 0xE000) return std::nullopt;
            *code = 0x10000 + ((*code - 0xD800) << 10) + (*low - 0xDC00);
          }
          appendUtf8(out, *code);
          break;
        }
        default: return std::nullopt;
      }
    }
    return std::nullopt;
  }

  const std::string& text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string indexToJson(const std::map<std::string, std::string>& index) {
  std::string out = "{";
  bool first = true;
  for (const auto& [field, value] : index) {
    if (!first) out.push_back(',');
    first = false;
    appendQuoted(out, field);
    out.push_back(':');
    appendQuoted(out, value);
  }
  out.push_back('}');
  return out;
}

std::optional<std::map<std::string, std::string>> indexFromJson(const std::string& text) {
  return Parser(text).object();
}

}  // namespace hive::storage_postgres
