// Captures one output stream of a job: keeps at most a cap of it, discards the
// rest (so the child never blocks on a full pipe), and remembers the last line
// that is a JSON object, even past the cap.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hive::task_execution_engine {

// True when `text` (surrounding whitespace allowed) is exactly one JSON object
// (RFC 8259), nested at most 64 deep.
bool isJsonObject(std::string_view text);

class OutputCapture {
 public:
  // `cap`: bytes kept; `maxResultBytes`: longest line considered as a result.
  OutputCapture(std::size_t cap, std::size_t maxResultBytes);

  void append(std::string_view chunk);
  // At end of stream: a last line without a newline counts too.
  void finish();

  const std::string& text() const { return text_; }
  bool truncated() const { return truncated_; }
  // The last JSON-object line, trimmed; empty when none.
  const std::string& lastJsonObject() const { return lastJsonObject_; }

 private:
  void endLine();

  std::size_t cap_;
  std::size_t maxResultBytes_;
  std::string text_;
  bool truncated_ = false;
  std::string line_;
  bool lineTooLong_ = false;
  std::string lastJsonObject_;
};

}  // namespace hive::task_execution_engine
