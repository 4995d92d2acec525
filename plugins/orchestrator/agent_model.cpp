#include "agent_model.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>

#include <boost/json.hpp>

#include "hive/config.hpp"
#include "plugin_common/tenant_capability.hpp"

namespace hive::orchestrator {
namespace json = boost::json;
namespace {

constexpr std::array<std::string_view, 5> kStatusNames = {"idle", "busy", "draining", "offline", "failed"};

bool isName(std::string_view text, std::size_t maxLength) {
  if (text.empty() || text.size() > maxLength) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool isCapability(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string string(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t integer(const json::object& o, std::string_view key, std::int64_t fallback = 0) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return fallback;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return fallback;
}

}  // namespace

std::string_view statusName(AgentStatus status) { return kStatusNames[static_cast<std::size_t>(status)]; }

std::optional<AgentStatus> parseAgentStatus(std::string_view name) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i)
    if (kStatusNames[i] == name) return static_cast<AgentStatus>(i);
  return std::nullopt;
}

std::string_view runtimeName(Runtime runtime) { return runtime == Runtime::kProcess ? "process" : "remote"; }

std::string_view circuitName(Circuit circuit) {
  switch (circuit) {
    case Circuit::kClosed: return "closed";
    case Circuit::kOpen: return "open";
    case Circuit::kHalfOpen: return "half_open";
  }
  return "closed";
}

Result<AgentSpec> parseAgentSpec(std::string_view body, SpecUse use, std::vector<http::FieldError>& errors) {
  json::parse_options options;
  options.max_depth = 16;
  std::error_code ec;
  json::value parsed = json::parse(body, ec, {}, options);
  if (ec) return invalidArgument("the body is not JSON: " + ec.message());
  if (!parsed.is_object()) return invalidArgument("the body must be a JSON object");
  const json::object& o = parsed.as_object();
  static const std::vector<std::string> kKnown = {"name", "role", "capabilities", "max_concurrency",
                                                  "runtime"};
  for (const auto& entry : o) {
    std::string key(entry.key());
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
      std::string hint = closestMatch(key, kKnown);
      errors.push_back(
          {"/" + key, "unknown field" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)")});
    }
  }
  AgentSpec spec;
  if (auto* v = o.if_contains("name")) {
    if (!v->is_string() || !isName(v->as_string(), 64))
      errors.push_back({"/name", "must be 1-64 characters of letters, digits, '_', '-', '.'"});
    else
      spec.name = std::string(v->as_string());
  } else if (use == SpecUse::kRegistration) {
    errors.push_back({"/name", "is required"});
  }
  if (auto* v = o.if_contains("role")) {
    if (!v->is_string() || v->as_string().size() > 64)
      errors.push_back({"/role", "must be a string of at most 64 bytes"});
    else
      spec.role = std::string(v->as_string());
  }
  if (auto* v = o.if_contains("capabilities")) {
    if (!v->is_array() || v->as_array().size() > 64) {
      errors.push_back({"/capabilities", "must be an array of at most 64 names"});
    } else {
      std::vector<std::string> capabilities;
      for (std::size_t i = 0; i < v->as_array().size(); ++i) {
        const auto& c = v->as_array()[i];
        if (!c.is_string() || !isCapability(c.as_string()))
          errors.push_back(
              {"/capabilities/" + std::to_string(i), "must be 1-32 characters of a-z, 0-9, '_', '-'"});
        else
          capabilities.emplace_back(c.as_string());
      }
      std::sort(capabilities.begin(), capabilities.end());
      capabilities.erase(std::unique(capabilities.begin(), capabilities.end()), capabilities.end());
      spec.capabilities = std::move(capabilities);
    }
  }
  if (auto* v = o.if_contains("max_concurrency")) {
    if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > 1024)
      errors.push_back({"/max_concurrency", "must be an integer between 1 and 1024"});
    else
      spec.maxConcurrency = static_cast<std::uint32_t>(v->as_int64());
  }
  if (auto* v = o.if_contains("runtime")) {
    if (!v->is_string() || v->as_string() != "remote")
      errors.push_back(
          {"/runtime", "must be \"remote\" (process agents are configured in task_execution_engine)"});
    else
      spec.runtime = Runtime::kRemote;
  }
  if (!errors.empty()) return invalidArgument("the agent is not valid");
  return spec;
}

void apply(const AgentSpec& spec, Agent& agent) {
  if (spec.name) agent.name = *spec.name;
  if (spec.role) agent.role = *spec.role;
  if (spec.capabilities) agent.capabilities = *spec.capabilities;
  if (spec.maxConcurrency) agent.maxConcurrency = *spec.maxConcurrency;
  if (spec.runtime) agent.runtime = *spec.runtime;
}

Result<Agent> fromStoredJson(std::string_view body) {
  std::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return Status(StatusCode::kDataLoss, "a stored agent is not a JSON object");
  const json::object& o = parsed.as_object();
  Agent a;
  a.id = string(o, "id");
  a.name = string(o, "name");
  a.role = string(o, "role");
  if (auto* v = o.if_contains("capabilities"); v && v->is_array())
    for (const auto& c : v->as_array())
      if (c.is_string()) a.capabilities.emplace_back(c.as_string());
  a.runtime = string(o, "runtime") == "process" ? Runtime::kProcess : Runtime::kRemote;
  a.maxConcurrency = static_cast<std::uint32_t>(integer(o, "max_concurrency", 1));
  a.status = parseAgentStatus(string(o, "status")).value_or(AgentStatus::kOffline);
  a.draining = o.if_contains("draining") && o.at("draining").is_bool() && o.at("draining").as_bool();
  a.lastHeartbeatMs = integer(o, "last_heartbeat_ms");
  a.node = string(o, "node");
  if (auto* v = o.if_contains("circuit_breaker"); v && v->is_object()) {
    std::string state = string(v->as_object(), "state");
    a.circuit = state == "open"        ? Circuit::kOpen
                : state == "half_open" ? Circuit::kHalfOpen
                                       : Circuit::kClosed;
    a.consecutiveFailures = static_cast<std::uint32_t>(integer(v->as_object(), "consecutive_failures"));
    a.circuitOpenedMs = integer(v->as_object(), "opened_at_ms");
  }
  a.succeeded = static_cast<std::uint64_t>(integer(o, "succeeded"));
  a.failed = static_cast<std::uint64_t>(integer(o, "failed"));
  a.createdAtMs = integer(o, "created_at_ms");
  a.updatedAtMs = integer(o, "updated_at_ms");
  a.secretDigest = string(o, "secret_sha256");
  a.tenant = string(o, "tenant");
  return a;
}

std::vector<std::string> claimCapabilities(const Agent& agent) {
  return plugin_common::withTenant(agent.capabilities, agent.tenant);
}

}  // namespace hive::orchestrator
