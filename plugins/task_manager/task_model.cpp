#include "task_model.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>

#include <boost/json.hpp>
#include <openssl/evp.h>

#include "hive/config.hpp"
#include "hive/services/projects.hpp"
#include "plugin_common/clock_ids.hpp"
#include "plugin_common/fnv.hpp"
#include "plugin_common/hex.hpp"
#include "plugin_common/json_text.hpp"
#include "plugin_common/tenant_capability.hpp"

namespace hive::task_manager {
namespace json = boost::json;
namespace {

constexpr std::array<std::string_view, 7> kStatusNames = {"pending", "assigned",  "running", "succeeded",
                                                          "failed",  "cancelled", "dead"};

bool isIdentifier(std::string_view text, std::size_t maxLength, std::string_view extra) {
  if (text.empty() || text.size() > maxLength) return false;
  return std::all_of(text.begin(), text.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
  });
}

bool isTaskId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

json::parse_options parseOptions() {
  json::parse_options options;
  options.max_depth = 64;
  return options;
}

std::vector<std::string> stringsOf(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& item : v->as_array())
    if (item.is_string()) out.emplace_back(item.as_string());
  return out;
}

std::int64_t integer(const json::object& o, std::string_view key, std::int64_t fallback = 0) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return fallback;
}

std::string string(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A task renders in a few microseconds on the store's writer thread, three
// times per task: its JSON is built in a stack arena (no allocation per member
// or string) with the table sized once.
class Arena {
 public:
  json::storage_ptr storage() { return json::storage_ptr(&resource_); }

 private:
  unsigned char buffer_[4096];
  json::monotonic_resource resource_{buffer_, sizeof buffer_};
};

json::array strings(const std::vector<std::string>& items, const json::storage_ptr& sp) {
  json::array out(sp);
  out.reserve(items.size());
  for (const auto& s : items) out.emplace_back(s);
  return out;
}

// The members of a task both renderings share, in this order. With
// `omitDefaults`, a member whose value is what fromStoredJson() reads back
// when it is absent is left out.
void addCommon(json::object& o, const Task& t, bool omitDefaults) {
  const json::storage_ptr& sp = o.storage();
  auto text = [&](std::string_view key, const std::string& value) {
    if (!omitDefaults || !value.empty()) o.emplace(key, json::string_view(value));
  };
  auto number = [&](std::string_view key, std::int64_t value, bool isDefault) {
    if (!omitDefaults || !isDefault) o.emplace(key, value);
  };
  auto list = [&](std::string_view key, const std::vector<std::string>& items) {
    if (!omitDefaults || !items.empty()) o.emplace(key, strings(items, sp));
  };
  const Task fresh;
  o.emplace("id", json::string_view(t.id));
  text("type", t.type);
  text("title", t.title);
  list("capabilities", t.capabilities);
  number("priority", t.priority, t.priority == fresh.priority);
  number("effective_priority", t.effectivePriority, t.effectivePriority == t.priority);
  list("depends_on", t.dependsOn);
  list("waiting_on", t.waitingOn);
  number("timeout_ms", t.timeoutMs, t.timeoutMs == fresh.timeoutMs);
  number("max_attempts", t.maxAttempts, t.maxAttempts == fresh.maxAttempts);
  number("not_before_ms", t.notBeforeMs, t.notBeforeMs == 0);
  o.emplace("status", json::string_view(statusName(t.status)));
  number("attempts", t.attempts, t.attempts == 0);
  text("error", t.error);
  text("agent", t.agent);
  number("lease_expires_ms", t.leaseExpiresMs, t.leaseExpiresMs == 0);
  number("stale_reports", t.staleReports, t.staleReports == 0);
  number("created_at_ms", t.createdAtMs, t.createdAtMs == 0);
  number("updated_at_ms", t.updatedAtMs, t.updatedAtMs == 0);
  number("queued_at_ms", t.queuedAtMs, t.queuedAtMs == 0);
  number("started_at_ms", t.startedAtMs, t.startedAtMs == 0);
  number("finished_at_ms", t.finishedAtMs, t.finishedAtMs == 0);
  if (!t.traceparent.empty()) o.emplace("traceparent", json::string_view(t.traceparent));
  if (!t.tenant.empty()) o.emplace("tenant", json::string_view(t.tenant));
  if (!t.project.empty()) o.emplace("project", json::string_view(t.project));
}

}  // namespace

std::string_view statusName(TaskStatus status) { return kStatusNames[static_cast<std::size_t>(status)]; }

std::optional<TaskStatus> parseStatus(std::string_view name) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i)
    if (kStatusNames[i] == name) return static_cast<TaskStatus>(i);
  return std::nullopt;
}

bool isTerminal(TaskStatus status) {
  return status == TaskStatus::kSucceeded || status == TaskStatus::kFailed ||
         status == TaskStatus::kCancelled || status == TaskStatus::kDead;
}

bool isCapabilityName(std::string_view name) { return isIdentifier(name, 32, "_-"); }

std::string capabilityKey(const std::vector<std::string>& capabilities) {
  std::string key;
  for (const auto& c : capabilities) {
    if (!key.empty()) key += ',';
    key += c;
  }
  return key;
}

std::string queueFor(const std::vector<std::string>& capabilities) {
  if (capabilities.empty()) return "tasks.any";
  if (std::any_of(capabilities.begin(), capabilities.end(), plugin_common::isTenantCapability)) {
    // 128 bits of SHA-256: a tenant's queue is not a name another set can reach.
    std::string key = capabilityKey(capabilities);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(key.data(), key.size(), digest, &size, EVP_sha256(), nullptr) != 1 || size < 16)
      throw std::runtime_error("SHA-256 is not available");
    return "tasks.t" + plugin_common::hexOf(std::string_view(reinterpret_cast<const char*>(digest), 16));
  }
  std::string name = "tasks." + capabilityKey(capabilities);
  std::replace(name.begin(), name.end(), ',', '.');
  if (name.size() <= 63) return name;
  return hashedName("tasks.", capabilityKey(capabilities));  // too long for a queue name
}

std::string hashedName(std::string_view prefix, std::string_view text) {
  return std::string(prefix) + plugin_common::fnvName(text);
}

bool covers(const std::vector<std::string>& offered, const std::vector<std::string>& required) {
  return std::all_of(required.begin(), required.end(), [&](const std::string& r) {
    return std::find(offered.begin(), offered.end(), r) != offered.end();
  });
}

std::vector<std::string> queueCapabilities(const Task& task) {
  return plugin_common::withTenant(task.capabilities, task.tenant);
}

bool serves(const std::vector<std::string>& offered, const std::vector<std::string>& required) {
  if (!covers(offered, required)) return false;
  return std::none_of(offered.begin(), offered.end(), [&](const std::string& c) {
    return plugin_common::isTenantCapability(c) &&
           std::find(required.begin(), required.end(), c) == required.end();
  });
}

namespace {

void refuseUnknown(const json::object& o, std::vector<http::FieldError>& errors) {
  static const std::vector<std::string> kKnown = {
      "type",       "title",           "payload",      "capabilities",  "priority",
      "depends_on", "timeout_seconds", "max_attempts", "not_before_ms", "project"};
  for (const auto& entry : o) {
    std::string key(entry.key());
    if (std::find(kKnown.begin(), kKnown.end(), key) != kKnown.end()) continue;
    std::string hint = closestMatch(key, kKnown);
    errors.push_back({"/" + key, "unknown field" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)")});
  }
}

// type, title and payload.
void readDescription(const json::object& o, std::string_view body, const Limits& limits, Task& t,
                     std::vector<http::FieldError>& errors) {
  if (auto* v = o.if_contains("type"); v == nullptr) {
    errors.push_back({"/type", "is required"});
  } else if (!v->is_string() || !isIdentifier(v->as_string(), 64, "_.:-")) {
    errors.push_back({"/type", "must be 1-64 characters of a-z, 0-9, '_', '.', ':', '-'"});
  } else {
    t.type = std::string(v->as_string());
  }
  if (auto* v = o.if_contains("title")) {
    if (!v->is_string() || v->as_string().size() > 200)
      errors.push_back({"/title", "must be a string of at most 200 bytes"});
    else
      t.title = std::string(v->as_string());
  }
  if (auto* v = o.if_contains("project")) {
    if (!v->is_string() || !projects::isName(v->as_string()))
      errors.push_back(
          {"/project", "must be a project name: 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'"});
    else
      t.project = std::string(v->as_string());
  }
  if (o.contains("payload")) {
    // Kept as written, so that it reads back byte for byte.
    t.payload = std::string(plugin_common::rawMember(body, "payload").value_or("null"));
    if (t.payload.size() > limits.maxPayloadBytes)
      errors.push_back({"/payload", "is larger than " + std::to_string(limits.maxPayloadBytes) + " bytes"});
    else
      for (auto& problem : plugin_common::inexactNumbers(t.payload, "/payload"))
        errors.push_back({std::move(problem.pointer), std::move(problem.reason)});
  }
}

// An array of at most `max` names, each `valid`; sorted and unique into `out`.
void readNames(const json::value* v, const std::string& field, std::size_t max, const char* what,
               bool (*valid)(std::string_view), const char* rule, std::vector<std::string>& out,
               std::vector<http::FieldError>& errors) {
  if (v == nullptr) return;
  if (!v->is_array() || v->as_array().size() > max)
    return errors.push_back({field, "must be an array of at most " + std::to_string(max) + " " + what});
  for (std::size_t i = 0; i < v->as_array().size(); ++i) {
    const auto& name = v->as_array()[i];
    if (!name.is_string() || !valid(name.as_string()))
      errors.push_back({field + "/" + std::to_string(i), rule});
    else
      out.emplace_back(name.as_string());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

void readPriority(const json::object& o, Task& t, std::vector<http::FieldError>& errors) {
  if (auto* v = o.if_contains("priority")) {
    static const std::pair<std::string_view, int> kNamed[] = {
        {"LOW", 1}, {"MEDIUM", 5}, {"HIGH", 8}, {"CRITICAL", 10}};
    bool ok = false;
    if (v->is_int64() && v->as_int64() >= 1 && v->as_int64() <= 10) {
      t.priority = static_cast<int>(v->as_int64());
      ok = true;
    } else if (v->is_string()) {
      for (const auto& [name, value] : kNamed)
        if (v->as_string() == name) t.priority = value, ok = true;
    }
    if (!ok) errors.push_back({"/priority", "must be an integer 1-10 or LOW, MEDIUM, HIGH, CRITICAL"});
  }
  t.effectivePriority = t.priority;
}

// timeout_seconds, max_attempts and not_before_ms.
void readTiming(const json::object& o, const Limits& limits, Task& t, std::vector<http::FieldError>& errors) {
  if (auto* v = o.if_contains("timeout_seconds")) {
    auto ceiling = std::chrono::duration_cast<std::chrono::seconds>(limits.maxTimeout).count();
    // is_number() and a finite double: 1e400 was refused by the parser or is inf here.
    if (!v->is_number() || !(v->to_number<double>() >= 1) ||
        v->to_number<double>() > static_cast<double>(ceiling))
      errors.push_back(
          {"/timeout_seconds", "must be a number of seconds between 1 and " + std::to_string(ceiling)});
    else
      t.timeoutMs = static_cast<std::int64_t>(v->to_number<double>() * 1000);
  }
  if (auto* v = o.if_contains("max_attempts")) {
    if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > limits.maxAttempts)
      errors.push_back(
          {"/max_attempts", "must be an integer between 1 and " + std::to_string(limits.maxAttempts)});
    else
      t.maxAttempts = static_cast<std::uint32_t>(v->as_int64());
  }
  if (auto* v = o.if_contains("not_before_ms")) {
    // Bounded at the edge: every later computation with it (waits, backoff,
    // queue order) then stays far from the limits of a 64-bit clock.
    std::int64_t latest = plugin_common::nowMs() + kMaxNotBeforeAheadMs;
    if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > latest)
      errors.push_back({"/not_before_ms", "must be epoch milliseconds between 0 and now + 366 days"});
    else
      t.notBeforeMs = v->as_int64();
  }
}

}  // namespace

Result<Task> parseSubmission(std::string_view body, const Limits& limits,
                             std::vector<http::FieldError>& errors) {
  std::error_code ec;
  json::value parsed = json::parse(body, ec, {}, parseOptions());
  if (ec) return invalidArgument("the body is not JSON: " + ec.message());
  if (!parsed.is_object()) return invalidArgument("the body must be a JSON object");
  const json::object& o = parsed.as_object();
  refuseUnknown(o, errors);
  Task t;
  readDescription(o, body, limits, t, errors);
  readNames(o.if_contains("capabilities"), "/capabilities", limits.maxCapabilities, "names", isCapabilityName,
            "must be 1-32 characters of a-z, 0-9, '_', '-'", t.capabilities, errors);
  readPriority(o, t, errors);
  readNames(o.if_contains("depends_on"), "/depends_on", limits.maxDependencies, "task ids", isTaskId,
            "must be a task id", t.dependsOn, errors);
  readTiming(o, limits, t, errors);
  if (!errors.empty()) return invalidArgument("the task is not valid");
  return t;
}

namespace {

// Every member of addCommon(), none left out.
json::object everyCommonMember(const Task& task, Arena& arena) {
  json::object o(arena.storage());
  o.reserve(32);
  addCommon(o, task, /*omitDefaults=*/false);
  return o;
}

}  // namespace

std::string toApiJson(const Task& task) {
  Arena arena;
  return plugin_common::withRawMembers(
      json::serialize(everyCommonMember(task, arena)),
      {{"payload", task.payload}, {"result", task.result}, {"progress", task.progress}});
}

std::string toEventJson(const Task& task) {
  Arena arena;
  json::object o = everyCommonMember(task, arena);
  o.emplace("payload_bytes", task.payload.size());
  return plugin_common::withRawMembers(json::serialize(o),
                                       {{"result", task.result}, {"progress", task.progress}});
}

std::optional<std::string> inexactNumber(std::string_view jsonText, const std::string& pointer) {
  auto problems = plugin_common::inexactNumbers(jsonText, pointer, 1);
  if (problems.empty()) return std::nullopt;
  return problems.front().pointer + " " + problems.front().reason;
}

std::string toStoredJson(const Task& task) {
  Arena arena;
  json::object o(arena.storage());
  o.reserve(36);
  // Left out: what fromStoredJson() reads back as the same value when absent
  // (empty texts and lists, zero counts and times, the default priority,
  // timeout and attempts). A finished no-op task's record is then about half
  // the size, on disk and in every write of it.
  addCommon(o, task, /*omitDefaults=*/true);
  auto text = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) o.emplace(key, json::string_view(value));
  };
  text("lease_token", task.leaseToken);
  text("queue", task.queue);
  text("idempotency_key", task.idempotencyKey);
  text("reported_lease", task.reportedLease);
  text("reported_outcome", task.reportedOutcome);
  // Kept as text so that what the client sent round-trips byte for byte.
  text("payload", task.payload);
  text("result", task.result);
  text("progress", task.progress);
  return json::serialize(o);
}

Result<Task> fromStoredJson(std::string_view body) {
  std::error_code ec;
  Arena arena;
  json::value parsed = json::parse(body, ec, arena.storage(), parseOptions());
  if (ec || !parsed.is_object()) return Status(StatusCode::kDataLoss, "a stored task is not a JSON object");
  const json::object& o = parsed.as_object();
  Task t;  // what the record leaves out keeps its default (see toStoredJson())
  t.id = string(o, "id");
  t.type = string(o, "type");
  t.title = string(o, "title");
  t.payload = string(o, "payload");
  t.capabilities = stringsOf(o.if_contains("capabilities"));
  t.priority = static_cast<int>(integer(o, "priority", t.priority));
  t.effectivePriority = static_cast<int>(integer(o, "effective_priority", t.priority));
  t.dependsOn = stringsOf(o.if_contains("depends_on"));
  t.waitingOn = stringsOf(o.if_contains("waiting_on"));
  t.timeoutMs = integer(o, "timeout_ms", t.timeoutMs);
  t.maxAttempts = static_cast<std::uint32_t>(integer(o, "max_attempts", t.maxAttempts));
  t.notBeforeMs = integer(o, "not_before_ms");
  auto status = parseStatus(string(o, "status"));
  if (!status) return Status(StatusCode::kDataLoss, "stored task " + t.id + " has an unknown status");
  t.status = *status;
  t.attempts = static_cast<std::uint32_t>(integer(o, "attempts"));
  t.result = string(o, "result");
  t.progress = string(o, "progress");
  t.error = string(o, "error");
  t.agent = string(o, "agent");
  t.leaseToken = string(o, "lease_token");
  t.leaseExpiresMs = integer(o, "lease_expires_ms");
  t.queue = string(o, "queue");
  t.staleReports = static_cast<std::uint32_t>(integer(o, "stale_reports"));
  t.idempotencyKey = string(o, "idempotency_key");
  t.traceparent = string(o, "traceparent");
  t.tenant = string(o, "tenant");
  t.project = string(o, "project");
  t.reportedLease = string(o, "reported_lease");
  t.reportedOutcome = string(o, "reported_outcome");
  t.createdAtMs = integer(o, "created_at_ms");
  t.updatedAtMs = integer(o, "updated_at_ms");
  t.queuedAtMs = integer(o, "queued_at_ms");
  t.startedAtMs = integer(o, "started_at_ms");
  t.finishedAtMs = integer(o, "finished_at_ms");
  return t;
}

}  // namespace hive::task_manager

namespace hive::task_manager {

std::string timedOut(const Task& t) {
  if (t.status == TaskStatus::kAssigned)
    return "timed out before the agent accepted it (attempt " + std::to_string(t.attempts) + " of " +
           std::to_string(t.maxAttempts) + (t.agent.empty() ? "" : ", agent " + t.agent) + ")";
  std::string after =
      t.timeoutMs % 1000 == 0 ? std::to_string(t.timeoutMs / 1000) + "s" : std::to_string(t.timeoutMs) + "ms";
  return "timed out after " + after + " (attempt " + std::to_string(t.attempts) + " of " +
         std::to_string(t.maxAttempts) + (t.agent.empty() ? "" : ", agent " + t.agent) + ")";
}

std::string gaveUp(std::uint32_t attempts, const std::string& lastError) {
  return "gave up after " + std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts") +
         (lastError.empty() ? "" : "; last error: " + lastError);
}

}  // namespace hive::task_manager
