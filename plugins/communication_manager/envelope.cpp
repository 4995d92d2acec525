#include "envelope.hpp"

#include <boost/json.hpp>

#include "hive/services/bus_names.hpp"
#include "plugin_common/clock_ids.hpp"
#include "plugin_common/json_fields.hpp"
#include "plugin_common/json_text.hpp"

namespace hive::communication_manager {
namespace json = boost::json;
using plugin_common::stringField;
namespace {

// An optional string member of at most 200 characters.
std::string optionalString(const json::object& o, std::string_view key,
                           std::vector<http::FieldError>& errors) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_string() || v->as_string().size() > 200) {
    errors.push_back({"/" + std::string(key), "must be a string of at most 200 characters"});
    return {};
  }
  return std::string(v->as_string());
}

// An optional integer member in [1, max].
std::int64_t optionalMs(const json::object& o, std::string_view key, std::int64_t max,
                        std::vector<http::FieldError>& errors) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return 0;
  if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > max) {
    errors.push_back({"/" + std::string(key), "must be an integer between 1 and " + std::to_string(max)});
    return 0;
  }
  return v->as_int64();
}

}  // namespace

std::string Address::text() const {
  switch (kind) {
    case Kind::kRole: return "role:" + name;
    case Kind::kTopic: return "topic:" + name;
    default: return name;
  }
}

Status checkName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 100)
    return invalidArgument(std::string(what) + " must be 1-100 characters");
  return bus::checkTopic(name, what);
}

Result<Address> parseAddress(std::string_view to) {
  Address address;
  if (to.starts_with("role:")) {
    address.kind = Address::Kind::kRole;
    address.name = std::string(to.substr(5));
  } else if (to.starts_with("topic:")) {
    address.kind = Address::Kind::kTopic;
    address.name = std::string(to.substr(6));
  } else {
    address.name = std::string(to);
  }
  HIVE_TRY(checkName(address.name, address.kind == Address::Kind::kAgent  ? "an agent id"
                                   : address.kind == Address::Kind::kRole ? "a role"
                                                                          : "a topic"));
  return address;
}

Result<SendRequest> parseSendRequest(std::string_view text, const Options& options,
                                     std::vector<http::FieldError>& errors, std::string& ref) {
  std::error_code ec;
  json::parse_options parseOptions;
  parseOptions.max_depth = 64;
  json::value parsed = json::parse(text, ec, {}, parseOptions);
  if (ec || !parsed.is_object()) return invalidArgument("a message must be a JSON object");
  const json::object& o = parsed.as_object();
  SendRequest request;
  request.ref = ref = optionalString(o, "ref", errors);
  auto* to = o.if_contains("to");
  if (to == nullptr || !to->is_string()) {
    errors.push_back({"/to", "is required: an agent id, \"role:<name>\" or \"topic:<name>\""});
  } else if (auto address = parseAddress(to->as_string()); !address.ok()) {
    errors.push_back({"/to", address.status().message()});
  } else {
    request.to = *address;
  }
  if (!o.contains("body")) {
    errors.push_back({"/body", "is required (any JSON value)"});
  } else {
    request.body = std::string(plugin_common::rawMember(text, "body").value_or("null"));
    if (request.body.size() > options.maxBodyBytes)
      return Status(StatusCode::kResourceExhausted,
                    "body is " + std::to_string(request.body.size()) + " bytes; the limit is " +
                        std::to_string(options.maxBodyBytes) + " (max_body_bytes)");
  }
  request.replyTo = optionalString(o, "reply_to", errors);
  request.correlationId = optionalString(o, "correlation_id", errors);
  request.ttlMs = optionalMs(o, "ttl_ms", options.maxTtl.count(), errors);
  request.replyTimeoutMs = optionalMs(o, "reply_timeout_ms", options.maxReplyTimeout.count(), errors);
  if (!errors.empty()) return invalidArgument("the message is not valid");
  return request;
}

std::string newMessageId() { return plugin_common::timeOrderedId('m'); }

std::string storedText(const Envelope& e) {
  json::object o;
  o["id"] = e.id;
  o["from"] = e.from;
  o["to"] = e.to;
  o["recipient"] = e.recipient;
  if (!e.replyTo.empty()) o["reply_to"] = e.replyTo;
  if (!e.correlationId.empty()) o["correlation_id"] = e.correlationId;
  o["sent_ms"] = e.sentAtMs;
  if (e.expiresAtMs != 0) o["expires_ms"] = e.expiresAtMs;
  return plugin_common::withRawMembers(json::serialize(o), {{"body", e.body}});
}

Result<Envelope> parseStored(std::string_view text) {
  std::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return invalidArgument("not a stored message");
  const json::object& o = parsed.as_object();
  Envelope e;
  e.id = stringField(o, "id");
  e.from = stringField(o, "from");
  e.to = stringField(o, "to");
  e.recipient = stringField(o, "recipient");
  e.replyTo = stringField(o, "reply_to");
  e.correlationId = stringField(o, "correlation_id");
  if (auto* v = o.if_contains("sent_ms"); v && v->is_int64()) e.sentAtMs = v->as_int64();
  if (auto* v = o.if_contains("expires_ms"); v && v->is_int64()) e.expiresAtMs = v->as_int64();
  e.body = std::string(plugin_common::rawMember(text, "body").value_or("null"));
  if (e.id.empty()) return invalidArgument("a stored message without id");
  return e;
}

std::string deliveryFrame(const Envelope& e, std::uint32_t deliveries) {
  json::object o;
  o["type"] = "message";
  o["id"] = e.id;
  o["from"] = e.from;
  o["to"] = e.to;
  if (!e.replyTo.empty()) o["reply_to"] = e.replyTo;
  if (!e.correlationId.empty()) o["correlation_id"] = e.correlationId;
  o["sent_ms"] = e.sentAtMs;
  if (e.expiresAtMs != 0) o["expires_ms"] = e.expiresAtMs;
  o["deliveries"] = deliveries;
  return plugin_common::withRawMembers(json::serialize(o), {{"body", e.body}});
}

std::string inboxStream(std::string_view agentId) { return "messages.inbox." + std::string(agentId); }

std::string errorFrame(std::string_view message, std::string_view reason, std::string_view ref) {
  json::object o;
  o["type"] = "error";
  o["message"] = message;
  if (!reason.empty()) o["reason"] = reason;
  if (!ref.empty()) o["ref"] = ref;
  return json::serialize(o);
}

}  // namespace hive::communication_manager
