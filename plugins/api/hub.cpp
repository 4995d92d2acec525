#include <chrono>

#include "json.hpp"
#include "websocket.hpp"

namespace hive::api {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Hub::Hub(PluginContext& context)
    : context_(context), events_(context.services(), [this](bus::Bus& bus) {
        return bus.subscribe("*", [this](const bus::Event& event) { onEvent(event); });
      }) {}

Hub::~Hub() { stop(); }

void Hub::start() {
  {
    std::lock_guard lock(mutex_);
    refusing_ = false;
  }
  // The bus is optional: without one the hub serves no events, and it
  // subscribes when a provider appears.
  (void)events_.start();
}

void Hub::onEvent(const bus::Event& event) {
  auto message = envelope(event);
  std::vector<std::shared_ptr<HubClient>> targets;
  {
    std::lock_guard lock(mutex_);
    targets.reserve(clients_.size());
    for (auto& [id, weak] : clients_)
      if (auto client = weak.lock()) targets.push_back(std::move(client));
  }
  for (auto& client : targets)
    if (client->wants(event.topic)) client->deliver(message);
}

std::shared_ptr<const HubEvent> Hub::envelope(const bus::Event& event) {
  auto out = std::make_shared<HubEvent>();
  out->id = event.id;
  out->topic = event.topic;
  out->text = "{\"type\":\"event\",\"id\":" + http::jsonQuote(event.id) +
              ",\"ts\":" + std::to_string(event.timestampMs) + ",\"topic\":" + http::jsonQuote(event.topic) +
              ",\"payload\":" +
              (isJson(event.payload, "tenant", &out->tenant, "project", &out->project)
                   ? event.payload
                   : http::jsonQuote(event.payload)) +
              "}";
  return out;
}

void Hub::beginDrain() {
  std::lock_guard lock(mutex_);
  refusing_ = true;
}

bool Hub::idle() const {
  std::lock_guard lock(mutex_);
  return replaysInFlight_ == 0;
}

void Hub::stop() {
  events_.stop();
  std::unique_lock lock(mutex_);
  refusing_ = true;
  idleChanged_.wait_for(lock, std::chrono::seconds(30), [this] { return replaysInFlight_ == 0; });
}

std::uint64_t Hub::add(std::weak_ptr<HubClient> client) {
  std::lock_guard lock(mutex_);
  clients_.emplace(++serial_, std::move(client));
  return serial_;
}

void Hub::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  clients_.erase(id);
}

bool Hub::replay(std::string pattern, std::string since, std::size_t limit,
                 std::function<void(Result<std::vector<bus::Event>>)> done) {
  {
    std::lock_guard lock(mutex_);
    if (refusing_) return false;
    ++replaysInFlight_;
  }
  context_.blocking().post([this, pattern = std::move(pattern), since = std::move(since), limit,
                            done = std::move(done)]() mutable {
    {
      auto bus = context_.services().get<bus::Bus>();
      if (!bus.ok())
        done(Status(StatusCode::kUnavailable, "no event bus"));
      else
        done((*bus)->replay(pattern, since, limit));
    }
    std::lock_guard lock(mutex_);
    if (--replaysInFlight_ == 0) idleChanged_.notify_all();
  });
  return true;
}

}  // namespace hive::api
