#include "host/config/render.hpp"

#include <cstdio>

namespace hive::host {
namespace {

bool isPlain(const std::string& text) {
  if (text.empty() || text == "~" || text == "null") return false;
  for (char c : text) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '.' || c == '/' || c == '-' || c == '+' || c == '@';
    if (!word) return false;
  }
  return text.front() != '-';
}

std::string quoted(const std::string& text) {
  if (isPlain(text)) return text;
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// The text of a value that fits on its key's line, or "" for a nested block.
std::string inlineValue(const ConfigNode& node) {
  if (node.isNull()) return "~";
  if (node.isScalar()) return quoted(node.text());
  if (node.isMap() && node.entries().empty()) return "{}";
  if (node.isSequence() && node.items().empty()) return "[]";
  return "";
}

std::string origin(const SourceLocation& where) { return "  # " + where.toString() + "\n"; }

void render(const ConfigNode& node, int indent, std::string& out) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  if (node.isMap()) {
    for (const auto& entry : node.entries()) {
      std::string value = inlineValue(entry.value);
      out += pad + quoted(entry.key) + ":";
      if (!value.empty()) {
        out += " " + value + origin(entry.value.isNull() ? entry.keyLocation : entry.value.location());
      } else {
        out += origin(entry.keyLocation);
        render(entry.value, indent + 2, out);
      }
    }
  } else if (node.isSequence()) {
    for (const auto& item : node.items()) {
      std::string value = inlineValue(item);
      if (!value.empty()) {
        out += pad + "- " + value + origin(item.location());
      } else {
        out += pad + "-" + origin(item.location());
        render(item, indent + 2, out);
      }
    }
  } else {
    out += pad + inlineValue(node) + origin(node.location());
  }
}

}  // namespace

std::string renderWithOrigins(const ConfigNode& node) {
  std::string out;
  render(node, 0, out);
  return out;
}

}  // namespace hive::host
