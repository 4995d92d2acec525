// The expression language of workflow definitions: `when` conditions and the
// `${...}` placeholders of task payloads and outputs. Evaluated by Hive over
// JSON values, never handed to a shell or an interpreter (docs/workflows.md).
//
//   expression := or
//   or         := and ("or" and)*
//   and        := not ("and" not)*
//   not        := "not" not | comparison
//   comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand)?
//   operand    := literal | reference | "(" expression ")"
//   literal    := number | "string" | 'string' | true | false | null
//   reference  := name ("." (name | index))*       params.n, steps.plan.result.files.0
//
// A reference that leads nowhere is null; evaluation itself never fails.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "hive/status.hpp"

namespace hive::workflow_engine {

using Path = std::vector<std::string>;

class Expression {
 public:
  // kInvalidArgument with "column <n>: <problem>" (1-based, in `text`).
  static Result<Expression> parse(std::string_view text, std::size_t maxBytes);

  boost::json::value evaluate(const boost::json::object& scope) const;
  // Every reference the expression reads, in order of appearance.
  const std::vector<Path>& references() const { return references_; }
  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::vector<Path> references_;
  std::string text_;
};

// The value at `path` in `scope`, null when any part is missing.
boost::json::value resolve(const boost::json::object& scope, const Path& path);
// false, null, 0, "", [] and {} are false; everything else is true.
bool truthy(const boost::json::value& value);
std::string pathText(const Path& path);

// ---- templates: strings with ${expression} placeholders ----------------------

// One placeholder found in a template string.
struct Placeholder {
  std::size_t offset = 0;  // of "${" in the string
  Expression expression;
};

// The placeholders of `text` ("$${" is a literal "${"); kInvalidArgument names
// the column of the first bad one.
Result<std::vector<Placeholder>> scanTemplate(std::string_view text, std::size_t maxExpressionBytes);

// A copy of `value` with every placeholder replaced: a string that is exactly
// one "${...}" becomes the JSON value it evaluates to; placeholders inside
// longer text are replaced by their text (a string as is, anything else as
// JSON). Strings are scanned again here, so templates must have been checked.
boost::json::value render(const boost::json::value& value, const boost::json::object& scope,
                          std::size_t maxExpressionBytes);

}  // namespace hive::workflow_engine
