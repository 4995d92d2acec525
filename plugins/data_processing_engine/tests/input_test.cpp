// Batch inputs: JSON lines and CSV, with the line of each mistake; paths kept
// inside the input directory.
#include "input.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace hive::data_processing_engine {
namespace {

namespace json = boost::json;

TEST(BatchInput, JsonLinesSkipBlankLinesAndNameTheBadOne) {
  Limits limits;
  auto items = parseItems("{\"a\":1}\n\n  \n[2]\n\"three\"\n", InputFormat::kJsonLines, limits);
  ASSERT_TRUE(items.ok()) << items.status().toString();
  EXPECT_EQ(json::serialize(*items), R"([{"a":1},[2],"three"])");
  auto bad = parseItems("{\"a\":1}\n{\"b\":\n", InputFormat::kJsonLines, limits);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("line 2: not JSON"), std::string::npos) << bad.status().message();
}

TEST(BatchInput, CsvRowsBecomeObjectsOfTheHeaderWithQuotesAndLineBreaks) {
  Limits limits;
  auto items = parseItems("name,note\r\nada,\"says \"\"hi\"\", twice\"\nbob,\"two\nlines\"\n\n",
                          InputFormat::kCsv, limits);
  ASSERT_TRUE(items.ok()) << items.status().toString();
  EXPECT_EQ(json::serialize(*items),
            R"([{"name":"ada","note":"says \"hi\", twice"},{"name":"bob","note":"two\nlines"}])");
  auto ragged = parseItems("a,b\n1,2\n3\n", InputFormat::kCsv, limits);
  EXPECT_NE(ragged.status().message().find("line 3: 1 fields, the header has 2"), std::string::npos)
      << ragged.status().message();
  auto unclosed = parseItems("a\n\"x\n", InputFormat::kCsv, limits);
  EXPECT_NE(unclosed.status().message().find("line 2: unclosed quote"), std::string::npos)
      << unclosed.status().message();
  EXPECT_NE(parseItems("", InputFormat::kCsv, limits).status().message().find("header"), std::string::npos);
}

TEST(BatchInput, MoreItemsThanTheLimitAreRefused) {
  Limits limits;
  limits.maxItems = 2;
  EXPECT_EQ(parseItems("1\n2\n3\n", InputFormat::kJsonLines, limits).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(parseItems("a\n1\n2\n3\n", InputFormat::kCsv, limits).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_TRUE(parseItems("1\n2\n", InputFormat::kJsonLines, limits).ok());
}

TEST(BatchInput, PathsStayInsideTheInputDirectory) {
  std::filesystem::path root = ::testing::TempDir() + "batch-input-" + std::to_string(::getpid());
  std::filesystem::create_directories(root / "in" / "sub");
  std::ofstream(root / "in" / "sub" / "ok.jsonl") << "1\n";
  std::ofstream(root / "secret.jsonl") << "2\n";
  std::filesystem::create_symlink(root / "secret.jsonl", root / "in" / "link.jsonl");
  std::string in = (root / "in").string();
  Result<std::string> ok = resolveUnder(in, "sub/ok.jsonl");
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_EQ(*ok, std::filesystem::canonical(root / "in" / "sub" / "ok.jsonl").string());
  EXPECT_NE(resolveUnder(in, "../secret.jsonl").status().message().find("outside the input directory"),
            std::string::npos);
  EXPECT_NE(resolveUnder(in, "link.jsonl").status().message().find("outside the input directory"),
            std::string::npos);
  EXPECT_FALSE(resolveUnder(in, (root / "secret.jsonl").string()).ok());
  EXPECT_FALSE(resolveUnder(in, "sub").ok());
  EXPECT_FALSE(resolveUnder(in, "missing.jsonl").ok());
  Limits limits;
  limits.maxInputBytes = 1;
  EXPECT_EQ(readItems(*ok, InputFormat::kJsonLines, limits).status().code(), StatusCode::kResourceExhausted);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace hive::data_processing_engine
