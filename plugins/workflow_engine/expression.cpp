#include "expression.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

namespace hive::workflow_engine {

namespace json = boost::json;

struct Expression::Node {
  enum class Kind { kLiteral, kReference, kNot, kAnd, kOr, kCompare };
  Kind kind = Kind::kLiteral;
  json::value literal;
  Path path;
  std::string op;  // for kCompare
  std::shared_ptr<const Node> left, right;
};

namespace {

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

bool isNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// Recursive descent over the text; the depth is bounded by the text's length,
// which the caller bounds (maxBytes).
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<NodePtr> parseAll(std::vector<Path>& references) {
    references_ = &references;
    auto node = parseOr();
    if (!error_.empty()) return fail();
    skipSpace();
    if (at_ < text_.size()) {
      errorAt(at_, "unexpected '" + std::string(1, text_[at_]) + "'");
      return fail();
    }
    return node;
  }

 private:
  Status fail() const { return invalidArgument(error_); }
  void errorAt(std::size_t where, std::string message) {
    if (error_.empty()) error_ = "column " + std::to_string(where + 1) + ": " + std::move(message);
  }
  void skipSpace() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  // The keyword `word` as a whole name at the current position.
  bool keyword(std::string_view word) {
    skipSpace();
    if (text_.substr(at_, word.size()) != word) return false;
    std::size_t end = at_ + word.size();
    if (end < text_.size() && isNameChar(text_[end])) return false;
    at_ = end;
    return true;
  }
  bool symbol(std::string_view s) {
    skipSpace();
    if (text_.substr(at_, s.size()) != s) return false;
    at_ += s.size();
    return true;
  }
  NodePtr binary(Node::Kind kind, NodePtr left, NodePtr right) {
    auto node = std::make_shared<Node>();
    node->kind = kind;
    node->left = std::move(left);
    node->right = std::move(right);
    return node;
  }

  NodePtr parseOr() {
    NodePtr left = parseAnd();
    while (error_.empty() && keyword("or")) left = binary(Node::Kind::kOr, left, parseAnd());
    return left;
  }
  NodePtr parseAnd() {
    NodePtr left = parseNot();
    while (error_.empty() && keyword("and")) left = binary(Node::Kind::kAnd, left, parseNot());
    return left;
  }
  NodePtr parseNot() {
    if (keyword("not")) return binary(Node::Kind::kNot, parseNot(), nullptr);
    return parseComparison();
  }
  NodePtr parseComparison() {
    NodePtr left = parseOperand();
    if (!error_.empty()) return left;
    for (std::string_view op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (symbol(op)) {
        auto node = std::make_shared<Node>();
        node->kind = Node::Kind::kCompare;
        node->op = std::string(op);
        node->left = left;
        node->right = parseOperand();
        return node;
      }
    }
    return left;
  }
  NodePtr parseOperand() {
    skipSpace();
    auto node = std::make_shared<Node>();
    if (at_ >= text_.size()) {
      errorAt(at_, "expected a value, a reference or '('");
      return node;
    }
    char c = text_[at_];
    if (c == '(') {
      ++at_;
      NodePtr inner = parseOr();
      if (error_.empty() && !symbol(")")) errorAt(at_, "expected ')'");
      return inner;
    }
    if (c == '"' || c == '\'') return parseString(c);
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) return parseNumber();
    if (isNameStart(c)) {
      std::size_t start = at_;
      if (keyword("true")) return literal(true);
      if (keyword("false")) return literal(false);
      if (keyword("null")) return literal(nullptr);
      if (keyword("and") || keyword("or") || keyword("not")) {
        errorAt(start, "expected a value before this keyword");
        return node;
      }
      return parseReference();
    }
    errorAt(at_, "unexpected '" + std::string(1, c) + "'");
    return node;
  }
  NodePtr literal(json::value value) {
    auto node = std::make_shared<Node>();
    node->literal = std::move(value);
    return node;
  }
  NodePtr parseString(char quote) {
    std::size_t start = at_++;
    std::string out;
    while (at_ < text_.size() && text_[at_] != quote) {
      if (text_[at_] == '\\' && at_ + 1 < text_.size()) ++at_;
      out += text_[at_++];
    }
    if (at_ >= text_.size()) {
      errorAt(start, "unterminated string");
      return literal(nullptr);
    }
    ++at_;
    return literal(json::string(out));
  }
  NodePtr parseNumber() {
    std::size_t start = at_;
    if (text_[at_] == '-') ++at_;
    while (at_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '.' || text_[at_] == 'e' ||
            text_[at_] == 'E' ||
            ((text_[at_] == '+' || text_[at_] == '-') && (text_[at_ - 1] == 'e' || text_[at_ - 1] == 'E'))))
      ++at_;
    std::string_view digits = text_.substr(start, at_ - start);
    std::error_code ec;
    json::value parsed = json::parse(digits, ec);
    if (ec || !parsed.is_number()) {
      errorAt(start, "bad number '" + std::string(digits) + "'");
      return literal(nullptr);
    }
    return literal(std::move(parsed));
  }
  NodePtr parseReference() {
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::kReference;
    for (;;) {
      std::size_t start = at_;
      bool index = at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]));
      if (index) {
        while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
      } else if (at_ < text_.size() && isNameStart(text_[at_])) {
        while (at_ < text_.size() && isNameChar(text_[at_])) ++at_;
      } else {
        errorAt(at_, "expected a name after '.'");
        return node;
      }
      node->path.emplace_back(text_.substr(start, at_ - start));
      if (at_ < text_.size() && text_[at_] == '.') {
        ++at_;
        continue;
      }
      break;
    }
    references_->push_back(node->path);
    return node;
  }

  std::string_view text_;
  std::size_t at_ = 0;
  std::string error_;
  std::vector<Path>* references_ = nullptr;
};

// -1, 0, 1, or 2 when the two cannot be ordered.
int order(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int64() && b.is_int64()) return a.as_int64() < b.as_int64() ? -1 : a.as_int64() > b.as_int64();
    double x = a.to_number<double>(), y = b.to_number<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0;
  }
  return 2;
}

bool equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return order(a, b) == 0;
  return a == b;
}

json::value evaluateNode(const Node& node, const json::object& scope) {
  switch (node.kind) {
    case Node::Kind::kLiteral: return node.literal;
    case Node::Kind::kReference: return resolve(scope, node.path);
    case Node::Kind::kNot: return !truthy(evaluateNode(*node.left, scope));
    case Node::Kind::kAnd:
      return truthy(evaluateNode(*node.left, scope)) && truthy(evaluateNode(*node.right, scope));
    case Node::Kind::kOr:
      return truthy(evaluateNode(*node.left, scope)) || truthy(evaluateNode(*node.right, scope));
    case Node::Kind::kCompare: {
      json::value a = evaluateNode(*node.left, scope), b = evaluateNode(*node.right, scope);
      if (node.op == "==") return equal(a, b);
      if (node.op == "!=") return !equal(a, b);
      int o = order(a, b);
      if (o == 2) return false;  // values of different kinds have no order
      if (node.op == "<") return o < 0;
      if (node.op == "<=") return o <= 0;
      if (node.op == ">") return o > 0;
      return o >= 0;
    }
  }
  return nullptr;
}

}  // namespace

Result<Expression> Expression::parse(std::string_view text, std::size_t maxBytes) {
  if (text.size() > maxBytes) return invalidArgument("longer than " + std::to_string(maxBytes) + " bytes");
  Expression expression;
  Parser parser(text);
  auto root = parser.parseAll(expression.references_);
  if (!root.ok()) return root.status();
  expression.root_ = *root;
  expression.text_ = std::string(text);
  return expression;
}

json::value Expression::evaluate(const json::object& scope) const {
  return root_ ? evaluateNode(*root_, scope) : json::value(nullptr);
}

json::value resolve(const json::object& scope, const Path& path) {
  const json::value* at = nullptr;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const std::string& part = path[i];
    if (i == 0) {
      at = scope.if_contains(part);
    } else if (at->is_object()) {
      at = at->as_object().if_contains(part);
    } else if (at->is_array() && !part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      std::size_t index = 0;
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
      at = ec == std::errc() && end == part.data() + part.size() && index < at->as_array().size()
               ? &at->as_array()[index]
               : nullptr;
    } else {
      at = nullptr;
    }
    if (at == nullptr) return nullptr;
  }
  return at ? *at : json::value(nullptr);
}

bool truthy(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return false;
    case json::kind::bool_: return value.get_bool();
    case json::kind::int64: return value.get_int64() != 0;
    case json::kind::uint64: return value.get_uint64() != 0;
    case json::kind::double_: return value.get_double() != 0.0;
    case json::kind::string: return !value.get_string().empty();
    case json::kind::array: return !value.get_array().empty();
    case json::kind::object: return !value.get_object().empty();
  }
  return false;
}

std::string pathText(const Path& path) {
  std::string out;
  for (const auto& part : path) out += (out.empty() ? "" : ".") + part;
  return out;
}

Result<std::vector<Placeholder>> scanTemplate(std::string_view text, std::size_t maxExpressionBytes) {
  std::vector<Placeholder> out;
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (text[at] != '$' || at + 1 >= text.size()) continue;
    if (text[at + 1] == '$' && at + 2 < text.size() && text[at + 2] == '{') {
      at += 2;  // "$${": a literal "${"
      continue;
    }
    if (text[at + 1] != '{') continue;
    std::size_t close = text.find('}', at + 2);
    if (close == std::string_view::npos)
      return invalidArgument("column " + std::to_string(at + 1) + ": '${' without '}'");
    auto expression = Expression::parse(text.substr(at + 2, close - at - 2), maxExpressionBytes);
    if (!expression.ok())
      return invalidArgument("in '${' at column " + std::to_string(at + 1) + ": " +
                             expression.status().message());
    out.push_back({at, std::move(expression).value()});
    at = close;
  }
  return out;
}

namespace {

// `text` with each "$${" turned into "${".
std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.substr(i, 3) == "$${") {
      out += "${";
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

json::value renderString(std::string_view text, const json::object& scope, std::size_t maxExpressionBytes) {
  auto placeholders = scanTemplate(text, maxExpressionBytes);
  if (!placeholders.ok() || placeholders->empty()) return json::string(unescape(text));
  const auto& first = placeholders->front();
  if (placeholders->size() == 1 && first.offset == 0 && text.size() == first.expression.text().size() + 3)
    return first.expression.evaluate(scope);  // the whole string: keep the value's type
  std::string out;
  std::size_t at = 0;
  for (const auto& placeholder : *placeholders) {
    out += unescape(text.substr(at, placeholder.offset - at));
    json::value value = placeholder.expression.evaluate(scope);
    if (value.is_string())
      out += value.as_string();
    else if (!value.is_null())
      out += json::serialize(value);
    at = placeholder.offset + placeholder.expression.text().size() + 3;
  }
  out += unescape(text.substr(at));
  return json::string(out);
}

}  // namespace

json::value render(const json::value& value, const json::object& scope, std::size_t maxExpressionBytes) {
  switch (value.kind()) {
    case json::kind::string: return renderString(value.get_string(), scope, maxExpressionBytes);
    case json::kind::array: {
      json::array out;
      for (const auto& item : value.get_array()) out.push_back(render(item, scope, maxExpressionBytes));
      return out;
    }
    case json::kind::object: {
      json::object out;
      for (const auto& [key, item] : value.get_object()) out[key] = render(item, scope, maxExpressionBytes);
      return out;
    }
    default: return value;
  }
}

}  // namespace hive::workflow_engine
