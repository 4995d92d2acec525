#include "host/logging.hpp"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hive::host {
namespace {

// Log output captured in an anonymous temporary file, read back as lines.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  int fd() const { return ::fileno(file_); }

  std::string text() const {
    std::string result;
    char buffer[4096];
    off_t offset = 0;
    for (;;) {
      ssize_t n = ::pread(fd(), buffer, sizeof buffer, offset);
      if (n <= 0) break;
      result.append(buffer, static_cast<std::size_t>(n));
      offset += n;
    }
    return result;
  }

  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::string all = text();
    std::size_t start = 0;
    for (std::size_t end; (end = all.find('\n', start)) != std::string::npos; start = end + 1) {
      result.push_back(all.substr(start, end - start));
    }
    EXPECT_EQ(start, all.size()) << "output does not end with a newline";
    return result;
  }

 private:
  std::FILE* file_;
};

// Just enough of a JSON parser for one flat object of string values; nullopt if the
// line is not exactly that. Decodes escapes, so tests compare against the original text.
std::optional<std::map<std::string, std::string>> parseFlatJsonObject(const std::string& line) {
  std::size_t i = 0;
  auto parseString = [&]() -> std::optional<std::string> {
    if (i >= line.size() || line[i] != '"') return std::nullopt;
    ++i;
    std::string out;
    while (i < line.size()) {
      auto c = static_cast<unsigned char>(line[i++]);
      if (c == '"') return out;
      if (c < 0x20) return std::nullopt;  // raw control characters are invalid JSON
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i >= line.size()) return std::nullopt;
      char e = line[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i + 4 > line.size()) return std::nullopt;
          unsigned code = std::stoul(line.substr(i, 4), nullptr, 16);
          i += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default: return std::nullopt;
      }
    }
    return std::nullopt;
  };
  std::map<std::string, std::string> object;
  if (line.empty() || line[i++] != '{') return std::nullopt;
  for (;;) {
    auto key = parseString();
    if (!key || i >= line.size() || line[i++] != ':') return std::nullopt;
    auto value = parseString();
    if (!value) return std::nullopt;
    object[*key] = *value;
    if (i >= line.size()) return std::nullopt;
    char next = line[i++];
    if (next == '}') break;
    if (next != ',') return std::nullopt;
  }
  if (i != line.size()) return std::nullopt;
  return object;
}

const std::regex kTimestamp(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

TEST(LogLevelName, NamesEveryLevel) {
  EXPECT_EQ(logLevelName(LogLevel::kTrace), "trace");
  EXPECT_EQ(logLevelName(LogLevel::kDebug), "debug");
  EXPECT_EQ(logLevelName(LogLevel::kInfo), "info");
  EXPECT_EQ(logLevelName(LogLevel::kWarn), "warn");
  EXPECT_EQ(logLevelName(LogLevel::kError), "error");
  EXPECT_EQ(logLevelName(LogLevel::kCritical), "critical");
  EXPECT_EQ(logLevelName(LogLevel::kOff), "off");
}

TEST(LogSystem, TextLineShape) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kText, LogLevel::kTrace, capture.fd());
  auto log = logs.logger("kernel");
  log->info("plugin api started");
  log->error("bind failed");
  log->log(LogLevel::kCritical, "out of memory");
  logs.flush();

  auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(std::regex_match(
      lines[0],
      std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z info  \[kernel\] plugin api started)")))
      << lines[0];
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(\S+Z error \[kernel\] bind failed)"))) << lines[1];
  EXPECT_TRUE(std::regex_match(lines[2], std::regex(R"(\S+Z critical \[kernel\] out of memory)")))
      << lines[2];
}

TEST(LogSystem, TextEscapesLineBreaksSoAMessageCannotForgeALine) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kText, LogLevel::kInfo, capture.fd());
  logs.logger("api")->warn("first\nfake 2026-01-01T00:00:00.000Z error [kernel] x\r\x01");
  auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("[api] first\\nfake 2026-01-01T00:00:00.000Z error [kernel] x\\r\\x01"),
            std::string::npos)
      << lines[0];
}

TEST(LogSystem, JsonLinesParseAndRoundTrip) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kJson, LogLevel::kDebug, capture.fd());
  auto log = logs.logger("task\"manager");
  const std::vector<std::string> messages{
      "plain",
      "quote \" backslash \\ slash /",
      "line one\nline two\r\ttab",
      std::string("control \x01\x1f\b\f end"),
      "unicode: h\xc3\xa9llo \xe2\x82\xac",
  };
  for (const auto& m : messages) log->debug(m);

  auto lines = capture.lines();
  ASSERT_EQ(lines.size(), messages.size());  // newlines inside messages stay on one line
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto object = parseFlatJsonObject(lines[i]);
    ASSERT_TRUE(object) << "not a flat JSON object: " << lines[i];
    EXPECT_EQ(object->size(), 4u);
    EXPECT_TRUE(std::regex_match((*object)["ts"], kTimestamp)) << (*object)["ts"];
    EXPECT_EQ((*object)["level"], "debug");
    EXPECT_EQ((*object)["component"], "task\"manager");
    EXPECT_EQ((*object)["msg"], messages[i]);
  }
  EXPECT_EQ(lines[0].rfind("{\"ts\":\"", 0), 0u) << "key order: ts, level, component, msg";
  EXPECT_NE(lines[2].find(R"("msg":"line one\nline two\r\ttab")"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find(R"(control \u0001\u001f\b\f end)"), std::string::npos) << lines[3];
}

TEST(LogSystem, JsonReplacesInvalidUtf8) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kJson, LogLevel::kInfo, capture.fd());
  logs.logger("x")->info(std::string("bad \xff\xc3 end"));
  auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 1u);
  // Each bad byte is U+FFFD, written as UTF-8 (EF BF BD).
  EXPECT_NE(lines[0].find("\"msg\":\"bad \xEF\xBF\xBD\xEF\xBF\xBD end\""), std::string::npos) << lines[0];
  EXPECT_TRUE(parseFlatJsonObject(lines[0]));
}

TEST(LogSystem, PerLoggerLevelsFilter) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kText, LogLevel::kInfo, capture.fd());
  auto defaulted = logs.logger("defaulted");
  auto chatty = logs.logger("chatty", LogLevel::kTrace);
  auto quiet = logs.logger("quiet", LogLevel::kError);
  auto silent = logs.logger("silent", LogLevel::kOff);

  EXPECT_FALSE(defaulted->enabled(LogLevel::kDebug));
  EXPECT_TRUE(defaulted->enabled(LogLevel::kInfo));
  EXPECT_TRUE(chatty->enabled(LogLevel::kTrace));
  EXPECT_FALSE(quiet->enabled(LogLevel::kWarn));
  EXPECT_FALSE(silent->enabled(LogLevel::kCritical));
  EXPECT_FALSE(chatty->enabled(LogLevel::kOff)) << "kOff is a threshold, not a level to log at";

  defaulted->debug("d1");
  defaulted->info("d2");
  chatty->trace("c1");
  quiet->warn("q1");
  quiet->error("q2");
  silent->log(LogLevel::kCritical, "s1");

  // Loggers without a level follow the default; the others keep theirs.
  logs.setDefaultLevel(LogLevel::kDebug);
  EXPECT_EQ(logs.defaultLevel(), LogLevel::kDebug);
  defaulted->debug("d3");
  quiet->warn("q3");

  std::vector<std::string> seen;
  for (const auto& line : capture.lines()) seen.push_back(line.substr(line.find('[')));
  EXPECT_EQ(seen,
            (std::vector<std::string>{"[defaulted] d2", "[chatty] c1", "[quiet] q2", "[defaulted] d3"}));
}

TEST(LogSystem, SetFormatSwitchesExistingLoggers) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kText, LogLevel::kInfo, capture.fd());
  auto log = logs.logger("kernel");
  log->info("as text");
  logs.setFormat(LogOutputFormat::kJson);
  log->info("as json");
  auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("info  [kernel] as text"), std::string::npos);
  EXPECT_TRUE(parseFlatJsonObject(lines[1])) << lines[1];
}

TEST(LogSystem, LoggersOutliveTheSystem) {
  Capture capture;
  std::unique_ptr<Logger> log;
  {
    LogSystem logs(LogOutputFormat::kText, LogLevel::kInfo, capture.fd());
    log = logs.logger("late");
  }
  log->info("still works");
  EXPECT_EQ(capture.lines().size(), 1u);
}

TEST(LogSystem, ConcurrentLoggingYieldsWholeLinesOnly) {
  Capture capture;
  LogSystem logs(LogOutputFormat::kJson, LogLevel::kInfo, capture.fd());
  constexpr int kThreads = 4;
  constexpr int kLines = 2000;
  // Long enough that an unsynchronised writer would interleave.
  const std::string padding(300, 'x');
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto log = logs.logger("worker-" + std::to_string(t));
      for (int i = 0; i < kLines; ++i) log->info(std::to_string(t) + ":" + std::to_string(i) + ":" + padding);
    });
  }
  for (auto& thread : threads) thread.join();

  auto lines = capture.lines();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLines));
  std::vector<int> next(kThreads, 0);
  for (const auto& line : lines) {
    auto object = parseFlatJsonObject(line);
    ASSERT_TRUE(object) << line;
    const std::string& msg = (*object)["msg"];
    int thread = std::stoi(msg);
    int index = std::stoi(msg.substr(msg.find(':') + 1));
    ASSERT_EQ((*object)["component"], "worker-" + std::to_string(thread));
    ASSERT_EQ(index, next[thread]++) << "lines of one thread are in order";
    ASSERT_EQ(msg.substr(msg.rfind(':') + 1), padding);
  }
}

}  // namespace
}  // namespace hive::host
