#include "context_frames.hpp"

#include <boost/json.hpp>

#include "plugin_common/tenant_capability.hpp"

namespace hive::context_manager {

namespace json = boost::json;

namespace {

std::string errorFrame(const std::string& message, const char* reason, const json::value& ref) {
  return json::serialize(
      json::object{{"type", "error"}, {"message", message}, {"reason", reason}, {"ref", ref}});
}

// What a presence says of its agent; an empty name when the orchestrator
// could not say who it is (then its tenant is unknown too).
plugin_common::AgentIdentity identityIn(const agents::AgentPresence& presence) {
  return {presence.name, plugin_common::tenantOfSet(presence.capabilities)};
}

const char* reasonOf(const Status& status) {
  if (status.code() == StatusCode::kInvalidArgument)
    return status.message().find("limit") != std::string::npos ? "too_large" : "invalid_frame";
  return "unavailable";
}

}  // namespace

ContextFrames::ContextFrames(PluginContext& context, std::shared_ptr<Contexts> contexts,
                             std::shared_ptr<Compressor> compressor, Jobs& jobs)
    : context_(context),
      contexts_(std::move(contexts)),
      compressor_(std::move(compressor)),
      jobs_(jobs),
      handler_(context.services(),
               [this](agents::AgentFrames& frames) -> std::unique_ptr<Subscription> {
                 auto handler = frames.onFrames(
                     "context.",
                     [this](const std::string& agent, const std::string& frame) { onFrame(agent, frame); });
                 if (!handler.ok()) {
                   context_.log().error("cannot take context.* frames: " + handler.status().toString());
                   return nullptr;
                 }
                 return std::move(handler).value();
               }),
      presence_(context.services(), [this](agents::AgentFrames& frames) {
        auto subscription = frames.onPresence([this](const agents::AgentPresence& presence) {
          std::lock_guard lock(mutex_);
          if (presence.connected && !presence.name.empty())
            agents_[presence.agentId] = identityIn(presence);
          else
            agents_.erase(presence.agentId);  // back from connected() if it said hello again meanwhile
        });
        std::lock_guard lock(mutex_);
        for (const auto& presence : frames.connected())
          if (!presence.name.empty()) agents_[presence.agentId] = identityIn(presence);
        return subscription;
      }) {}

void ContextFrames::start() {
  // kNotFound: no orchestrator (yet); the followers attach when one starts.
  (void)handler_.start();
  (void)presence_.start();
}

void ContextFrames::stop() {
  handler_.stop();
  presence_.stop();
}

std::optional<plugin_common::AgentIdentity> ContextFrames::identityOf(const std::string& agentId) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = agents_.find(agentId); found != agents_.end()) return found->second;
  }
  // Its presence may have been missed: a hot swap of the orchestrator reports
  // an agent gone after it said hello to the next generation.
  auto frames = context_.services().get<agents::AgentFrames>();
  if (!frames.ok()) return std::nullopt;
  for (const auto& presence : (*frames)->connected()) {
    if (presence.agentId != agentId || presence.name.empty()) continue;
    std::lock_guard lock(mutex_);
    return agents_[agentId] = identityIn(presence);
  }
  return std::nullopt;
}

void ContextFrames::answer(const std::string& agentId, const std::string& frame) {
  auto frames = context_.services().get<agents::AgentFrames>();
  if (!frames.ok()) return;
  if (Status sent = (*frames)->send(agentId, frame); !sent.ok() && sent.code() != StatusCode::kNotFound)
    context_.log().warn("context answer to agent " + agentId + " not sent: " + sent.message());
}

void ContextFrames::onFrame(const std::string& agentId, const std::string& frame) {
  bool posted = jobs_.post([this, agentId, frame] {
    std::error_code ec;
    json::value parsed = json::parse(frame, ec);
    if (ec || !parsed.is_object())
      return answer(agentId, errorFrame("not a JSON object", "invalid_frame", nullptr));
    const json::object& fields = parsed.get_object();
    json::value ref = fields.contains("ref") ? fields.at("ref") : json::value(nullptr);
    auto agent = identityOf(agentId);
    if (!agent)
      return answer(agentId, errorFrame("agent " + agentId + " has no known tenant here yet: send it again",
                                        "unavailable", ref));
    const std::string author = plugin_common::agentPrincipal(agent->name, agent->tenant);
    auto text = [&](const char* key) -> const json::string* {
      const json::value* value = fields.if_contains(key);
      return value && value->is_string() ? &value->get_string() : nullptr;
    };
    const json::string* type = text("type");
    const json::string* scope = text("scope");
    if (scope == nullptr) return answer(agentId, errorFrame("`scope` is required", "invalid_frame", ref));
    if (*type == "context.put") {
      const json::string* body = text("text");
      const json::value* metadata = fields.if_contains("metadata");
      if (body == nullptr) return answer(agentId, errorFrame("`text` is required", "invalid_frame", ref));
      auto entry = contexts_->put({agent->tenant, std::string(*scope)}, std::string(*body),
                                  metadata ? *metadata : json::value(json::object{}), author);
      if (!entry.ok())
        return answer(agentId, errorFrame(entry.status().message(), reasonOf(entry.status()), ref));
      if (compressor_) compressor_->check(entry->context());
      return answer(
          agentId,
          json::serialize(json::object{
              {"type", "context.stored"}, {"id", entry->id}, {"scope", entry->scope}, {"ref", ref}}));
    }
    if (*type == "context.query") {
      const json::string* query = text("q");
      if (query == nullptr) return answer(agentId, errorFrame("`q` is required", "invalid_frame", ref));
      std::size_t k = 10;
      if (const json::value* given = fields.if_contains("k")) {
        if (!given->is_int64() || given->get_int64() < 1)
          return answer(agentId, errorFrame("`k` must be a positive integer", "invalid_frame", ref));
        k = static_cast<std::size_t>(given->get_int64());
      }
      Ranking ranking = Ranking::kHybrid;
      if (const json::string* mode = text("mode")) {
        if (*mode == "lexical")
          ranking = Ranking::kLexical;
        else if (*mode == "semantic")
          ranking = Ranking::kSemantic;
        else if (*mode != "hybrid")
          return answer(agentId,
                        errorFrame("`mode` must be hybrid, lexical or semantic", "invalid_frame", ref));
      }
      auto hits = contexts_->search({agent->tenant, std::string(*scope)}, std::string(*query), k, ranking);
      if (!hits.ok())
        return answer(agentId, errorFrame(hits.status().message(), reasonOf(hits.status()), ref));
      json::array items;
      for (const Hit& hit : *hits)
        items.push_back(json::object{{"id", hit.id}, {"text", hit.text}, {"score", hit.score}});
      return answer(agentId,
                    json::serialize(json::object{
                        {"type", "context.result"}, {"scope", *scope}, {"ref", ref}, {"items", items}}));
    }
    answer(agentId,
           errorFrame("unknown context frame type '" + std::string(*type) + "'", "invalid_frame", ref));
  });
  if (!posted) answer(agentId, errorFrame("context_manager is stopping", "unavailable", nullptr));
}

}  // namespace hive::context_manager
