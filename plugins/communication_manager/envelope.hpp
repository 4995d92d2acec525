// A message as communication_manager keeps it: what a sender asked for
// (message.send or POST /api/v2/messages), checked; the envelope stored in a
// recipient's queue on the bus; the frames and events made of it. The body is
// kept byte for byte as the sender wrote it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::communication_manager {

// Where a message goes: one agent, every agent of a role, or the subscribers of a topic.
struct Address {
  enum class Kind { kAgent, kRole, kTopic };
  Kind kind = Kind::kAgent;
  std::string name;
  std::string text() const;
};
Result<Address> parseAddress(std::string_view to);
// A role or topic name: 1-100 of [A-Za-z0-9_-:.], what bus names allow.
Status checkName(std::string_view name, std::string_view what);

struct SendRequest {
  Address to;
  std::string body;  // raw JSON
  std::string replyTo;
  std::string correlationId;
  std::int64_t ttlMs = 0;           // 0: never expires
  std::int64_t replyTimeoutMs = 0;  // 0: no reply expected
  std::string ref;                  // the sender's own tag, echoed in message.accepted / error
};

// From a JSON object's text (a frame or a REST body). Field errors are
// collected; `ref` is filled even when the rest is refused.
Result<SendRequest> parseSendRequest(std::string_view text, const Options& options,
                                     std::vector<http::FieldError>& errors, std::string& ref);

struct Envelope {
  std::string id;  // the message id, the same in every recipient's queue
  std::string from;
  std::string to;         // as the sender addressed it
  std::string recipient;  // whose queue holds this copy
  std::string body;
  std::string replyTo;
  std::string correlationId;
  std::int64_t sentAtMs = 0;
  std::int64_t expiresAtMs = 0;  // 0: never
};

std::string newMessageId();
// What is appended to the recipient's stream.
std::string storedText(const Envelope& envelope);
Result<Envelope> parseStored(std::string_view text);
// The `message` frame that delivers it.
std::string deliveryFrame(const Envelope& envelope, std::uint32_t deliveries);

// The bus stream and group of an agent's queue.
std::string inboxStream(std::string_view agentId);
inline constexpr std::string_view kGroup = "inbox";

// Frames and JSON answers.
std::string errorFrame(std::string_view message, std::string_view reason, std::string_view ref);

}  // namespace hive::communication_manager
