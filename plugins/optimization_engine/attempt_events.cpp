#include "attempt_events.hpp"

#include <boost/json.hpp>

namespace hive::optimization_engine {

namespace {

namespace json = boost::json;

std::string text(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

std::int64_t integer(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  return 0;
}

}  // namespace

void AttemptEvents::record(std::string_view payload) {
  boost::system::error_code error;
  json::value parsed = json::parse(payload, error);
  if (error || !parsed.is_object()) return;
  const json::value* taskValue = parsed.as_object().if_contains("task");
  if (taskValue == nullptr || !taskValue->is_object()) return;
  const json::object& task = taskValue->as_object();
  std::string event = text(parsed.as_object(), "event");
  std::string id = text(task, "id");
  std::string status = text(task, "status");
  if (id.empty()) return;

  Running ended;
  {
    std::lock_guard lock(mutex_);
    if (status == "running") {
      std::string agent = text(task, "agent");
      if (!agent.empty() && (running_.count(id) != 0 || running_.size() < maxTracked_))
        running_[id] = {std::move(agent), integer(task, "started_at_ms")};
      return;
    }
    auto found = running_.find(id);
    if (found == running_.end()) return;
    ended = std::move(found->second);
    running_.erase(found);
  }
  if (event == "task.cancelled" || event == "task.assigned") return;  // not an outcome of the agent's
  Attempt attempt = event == "task.succeeded" ? Attempt::kSucceeded : Attempt::kFailed;
  std::int64_t at = integer(task, "updated_at_ms");
  limits_->record(ended.agent, static_cast<double>(at - ended.startedAtMs), attempt, at);
}

std::size_t AttemptEvents::running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

}  // namespace hive::optimization_engine
