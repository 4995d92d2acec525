#include "output_capture.hpp"

#include <string>

#include <gtest/gtest.h>

namespace hive::task_execution_engine {
namespace {

TEST(JsonObject, AcceptsObjectsOnly) {
  EXPECT_TRUE(isJsonObject(R"({})"));
  EXPECT_TRUE(isJsonObject(R"(  {"a": [1, 2.5e-3, -0, true, false, null, "x\n\u00e9"], "b": {"c": {}}} )"));
  EXPECT_FALSE(isJsonObject(R"([1, 2])"));
  EXPECT_FALSE(isJsonObject(R"("text")"));
  EXPECT_FALSE(isJsonObject(R"({"a": 1,})"));
  EXPECT_FALSE(isJsonObject(R"({"a": 01})"));
  EXPECT_FALSE(isJsonObject(R"({"a": 1} trailing)"));
  EXPECT_FALSE(isJsonObject(R"({'a': 1})"));
  EXPECT_FALSE(isJsonObject(R"({"a": "unterminated})"));
  EXPECT_FALSE(isJsonObject(R"({"a": "bad \x escape"})"));
  EXPECT_FALSE(isJsonObject(R"({"a": tru})"));
}

TEST(JsonObject, RejectsDeepNesting) {
  std::string deep = "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_FALSE(isJsonObject(deep));
  std::string fine = "{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_TRUE(isJsonObject(fine));
}

TEST(OutputCapture, KeepsTheLastJsonObjectLine) {
  OutputCapture capture(1024, 1024);
  capture.append("starting\n{\"progress\": 1}\nnot json {\n");
  capture.append("{\"result\": ");
  capture.append("42}\n[1,2]\n");
  capture.finish();
  EXPECT_EQ(capture.lastJsonObject(), R"({"result": 42})");
  EXPECT_FALSE(capture.truncated());
}

TEST(OutputCapture, LastLineWithoutNewlineCounts) {
  OutputCapture capture(1024, 1024);
  capture.append("{\"a\": 1}\n  {\"b\": 2}  ");
  capture.finish();
  EXPECT_EQ(capture.lastJsonObject(), R"({"b": 2})");
}

TEST(OutputCapture, CapsTextButFindsResultPastTheCap) {
  OutputCapture capture(10, 100);
  capture.append("0123456789abcdef\n");
  capture.append("{\"late\": true}\n");
  capture.finish();
  EXPECT_EQ(capture.text(), "0123456789");
  EXPECT_TRUE(capture.truncated());
  EXPECT_EQ(capture.lastJsonObject(), R"({"late": true})");
}

TEST(OutputCapture, IgnoresLinesLongerThanTheResultLimit) {
  OutputCapture capture(1 << 20, 16);
  capture.append("{\"ok\": 1}\n{\"this line is much too long\": 1}\n");
  capture.finish();
  EXPECT_EQ(capture.lastJsonObject(), R"({"ok": 1})");
}

}  // namespace
}  // namespace hive::task_execution_engine
