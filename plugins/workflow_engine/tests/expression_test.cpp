// The expression language of `when` and `${...}`: parsing, errors with their
// column, evaluation over JSON, templates.
#include "expression.hpp"

#include <gtest/gtest.h>

namespace hive::workflow_engine {
namespace {

namespace json = boost::json;

json::object scope() {
  return json::parse(R"({"params": {"env": "prod", "n": 3, "ratio": 0.5, "flags": [], "name": "x"},
                         "steps": {"plan": {"status": "succeeded", "result": {"files": ["a.c", "b.c"], "count": 2}}},
                         "run": {"id": "w1"}})")
      .as_object();
}

json::value eval(std::string_view text) {
  auto parsed = Expression::parse(text, 1024);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().toString();
  return parsed.ok() ? parsed->evaluate(scope()) : json::value(nullptr);
}

TEST(WorkflowExpression, ComparesReferencesWithLiterals) {
  EXPECT_EQ(eval("params.env == 'prod'"), json::value(true));
  EXPECT_EQ(eval("params.env != \"prod\""), json::value(false));
  EXPECT_EQ(eval("params.n > 2"), json::value(true));
  EXPECT_EQ(eval("params.n <= 2"), json::value(false));
  EXPECT_EQ(eval("params.ratio < 1"), json::value(true));  // a double against an integer
  EXPECT_EQ(eval("params.n == 3.0"), json::value(true));
  EXPECT_EQ(eval("steps.plan.result.count >= params.n"), json::value(false));
  EXPECT_EQ(eval("steps.plan.result.files.1 == 'b.c'"), json::value(true));
  EXPECT_EQ(eval("'abc' < 'abd'"), json::value(true));
}

TEST(WorkflowExpression, AndOrNotWithPrecedenceAndParentheses) {
  EXPECT_EQ(eval("true or false and false"), json::value(true));  // and binds tighter
  EXPECT_EQ(eval("(true or false) and false"), json::value(false));
  EXPECT_EQ(eval("not params.flags"), json::value(true));  // an empty array is false
  EXPECT_EQ(eval("not not params.name"), json::value(true));
  EXPECT_EQ(eval("steps.plan.status == 'succeeded' and not (params.n < 0)"), json::value(true));
}

TEST(WorkflowExpression, MissingReferencesAreNullAndUnorderedComparisonsFalse) {
  EXPECT_EQ(eval("params.nothing"), json::value(nullptr));
  EXPECT_EQ(eval("params.nothing == null"), json::value(true));
  EXPECT_EQ(eval("steps.plan.result.files.9"), json::value(nullptr));
  EXPECT_EQ(eval("params.env < 3"), json::value(false));
  EXPECT_EQ(eval("params.env >= 3"), json::value(false));
}

TEST(WorkflowExpression, RecordsItsReferences) {
  auto parsed = Expression::parse("params.a == steps.b.result.c or run.id", 1024);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->references().size(), 3u);
  EXPECT_EQ(pathText(parsed->references()[1]), "steps.b.result.c");
}

TEST(WorkflowExpression, SyntaxErrorsNameTheColumn) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"params.n >", "column 11: expected a value, a reference or '('"},
      {"(true", "column 6: expected ')'"},
      {"'open", "column 1: unterminated string"},
      {"params.n = 3", "column 10: unexpected '='"},
      {"params.", "column 8: expected a name after '.'"},
      {"a and and b", "column 7: expected a value before this keyword"},
      {"1 2", "column 3: unexpected '2'"},
      {"$(rm -rf /)", "column 1: unexpected '$'"},
  };
  for (const auto& c : cases) {
    auto parsed = Expression::parse(c.text, 1024);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().message(), c.message) << c.text;
  }
}

TEST(WorkflowExpression, RefusesExpressionsOverTheLimit) {
  auto parsed = Expression::parse(std::string(100, 'a'), 64);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "longer than 64 bytes");
}

TEST(WorkflowTemplate, AWholePlaceholderKeepsTheValueTypeAndTextIsInterpolated) {
  json::value payload = json::parse(R"J({"files": "${steps.plan.result.files}", "n": "${params.n}",
    "msg": "deploy ${params.name} to ${params.env} (${params.n})", "literal": "$${params.env}",
    "nested": [{"c": "${ steps.plan.result.count }"}], "plain": 7})J");
  json::value rendered = render(payload, scope(), 1024);
  EXPECT_EQ(rendered, json::parse(R"J({"files": ["a.c", "b.c"], "n": 3, "msg": "deploy x to prod (3)",
    "literal": "${params.env}", "nested": [{"c": 2}], "plain": 7})J"));
}

TEST(WorkflowTemplate, ScanReportsABadPlaceholder) {
  auto scanned = scanTemplate("x ${params.a ==} y", 1024);
  ASSERT_FALSE(scanned.ok());
  EXPECT_EQ(scanned.status().message(),
            "in '${' at column 3: column 12: expected a value, a reference or '('");
  auto open = scanTemplate("x ${params.a", 1024);
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().message(), "column 3: '${' without '}'");
}

}  // namespace
}  // namespace hive::workflow_engine
