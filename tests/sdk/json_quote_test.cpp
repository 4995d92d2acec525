// http::jsonQuote, the one JSON string escaper of Hive (problem bodies, events,
// JSON log lines, the control socket, PostgreSQL index documents).
#include <string>

#include <gtest/gtest.h>

#include "hive/services/http.hpp"

namespace {

using hive::http::jsonQuote;

TEST(JsonQuote, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(jsonQuote(R"(say "hi" \o/)"), R"("say \"hi\" \\o/")");
  EXPECT_EQ(jsonQuote(""), R"("")");
}

TEST(JsonQuote, ControlCharactersUseTheShortFormsWhereJsonHasThem) {
  EXPECT_EQ(jsonQuote("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  EXPECT_EQ(jsonQuote(std::string("\x00\x01\x0b\x1f", 4)), R"("\u0000\u0001\u000b\u001f")");
  EXPECT_EQ(jsonQuote("\x7f"), "\"\x7f\"");  // DEL is allowed in a JSON string
}

TEST(JsonQuote, ValidUtf8PassesAndInvalidBytesBecomeTheReplacementCharacter) {
  EXPECT_EQ(jsonQuote("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x90\x9D"),
            "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x90\x9D\"");
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(jsonQuote("a\xFF"
                      "b"),
            "\"a" + replacement + "b\"");
  EXPECT_EQ(jsonQuote("\xC0\xAF"), "\"" + replacement + replacement + "\"");  // overlong '/'
  EXPECT_EQ(jsonQuote("\xED\xA0\x80"), "\"" + replacement + replacement + replacement + "\"");  // a surrogate
  EXPECT_EQ(jsonQuote("cut \xE2\x82"), "\"cut " + replacement + replacement + "\"");  // truncated at the end
}

}  // namespace
