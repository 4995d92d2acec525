// POST /api/v2/tasks bodies through task_manager's parseSubmission with the
// default limits. Beyond "no sanitizer report", an accepted task must keep what
// the client sent ("bytes in = bytes out"):
// - the stored payload is the client's value (the raw text task_manager keeps
//   parses to the same JSON value the body's parser saw);
// - the stored form reads back to the same task (a fixed point);
// - the API form, with the payload spliced in as raw text, is valid JSON;
// - a refusal with field errors never comes with a task.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "task_model.hpp"

namespace {

namespace json = boost::json;

[[noreturn]] void broken(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "task_submission_fuzz: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hive::task_manager::Limits limits;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<hive::http::FieldError> errors;
  auto task = hive::task_manager::parseSubmission(body, limits, errors);
  if (!task.ok()) return 0;
  if (!errors.empty()) broken("accepted with field errors");

  std::error_code ec;
  json::value sent = json::parse(body, ec);
  if (ec || !sent.is_object()) broken("accepted a body that is not a JSON object");
  if (const json::value* payload = sent.as_object().if_contains("payload")) {
    json::value kept = json::parse(task->payload, ec);
    if (ec) broken("the kept payload is not JSON:", task->payload);
    if (kept != *payload) broken("the kept payload differs from the one sent:", task->payload);
  }

  std::string stored = hive::task_manager::toStoredJson(*task);
  auto read = hive::task_manager::fromStoredJson(stored);
  if (!read.ok()) broken("the stored form does not read back:", stored);
  if (read->payload != task->payload) broken("the payload changed in the store:", read->payload);
  if (hive::task_manager::toStoredJson(*read) != stored)
    broken("the stored form is not a fixed point:", stored);

  std::string api = hive::task_manager::toApiJson(*task);
  json::value shown = json::parse(api, ec);
  if (ec || !shown.is_object()) broken("the API form is not a JSON object:", api);
  return 0;
}
