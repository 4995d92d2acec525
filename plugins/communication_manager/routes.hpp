// REST for messages (docs/messaging.md, "REST"): a client sends to an agent,
// a role or a topic; reads recent messages; inspects, replays and discards
// dead letters.
#pragma once

#include <memory>

#include "hive/services/http.hpp"
#include "messenger.hpp"

namespace hive::communication_manager {

std::shared_ptr<http::RouteProvider> makeMessageRoutes(std::shared_ptr<Messenger> messenger);

}  // namespace hive::communication_manager
