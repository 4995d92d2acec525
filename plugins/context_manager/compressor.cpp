#include "compressor.hpp"

#include "plugin_common/clock_ids.hpp"
#include "plugin_common/route_call.hpp"

namespace hive::context_manager {

namespace json = boost::json;

namespace {

constexpr const char* kCompressions = "context_compressions";
constexpr std::chrono::seconds kRouteTimeout{10};
constexpr const char* kInstructions =
    "Summarise these context entries (oldest first) into one text that keeps every fact, decision, name and "
    "number a later reader may search for. Answer with the result {\"summary\": \"...\"}.";

json::object bodyOf(const store::Document& document) {
  std::error_code ec;
  json::value body = json::parse(document.body, ec);
  return !ec && body.is_object() ? body.get_object() : json::object{};
}

std::string stringAt(const json::object& object, const char* key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// The context a compression record is of (no "tenant": the default tenant's,
// as records written before tenancy).
ScopeRef contextOf(const json::object& record) {
  return {stringAt(record, "tenant"), stringAt(record, "scope")};
}

}  // namespace

Compressor::Compressor(std::shared_ptr<Contexts> contexts, ServiceHandle<store::Store> store,
                       ServiceRegistry& services, std::string self, BudgetOptions budget, Logger& log)
    : contexts_(std::move(contexts)),
      store_(std::move(store)),
      services_(services),
      self_(std::move(self)),
      budget_(std::move(budget)),
      log_(log) {}

Status Compressor::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->declareCollection({kCompressions, {"scope", "state"}}));
  std::string cursor;
  std::lock_guard lock(mutex_);
  do {
    auto page = HIVE_TRY(store->list(
        {.collection = kCompressions, .equals = {{"state", "pending"}}, .limit = 1000, .cursor = cursor}));
    for (const store::Document& document : page.items) {
      json::object body = bodyOf(document);
      const json::value* entries = body.if_contains("entries");
      pending_[contextOf(body)] = {document.id, stringAt(body, "task_id"),
                                   entries && entries->is_array() ? entries->get_array().size() : 0};
    }
    cursor = page.nextCursor;
  } while (!cursor.empty());
  return okStatus();
}

bool Compressor::overBudget(const ScopeStats& stats) const {
  return (budget_.maxEntries != 0 && stats.entries > budget_.maxEntries) ||
         (budget_.maxTokens != 0 && stats.tokens > budget_.maxTokens);
}

void Compressor::check(const ScopeRef& context) {
  ScopeStats stats = contexts_->stats(context);
  if (!overBudget(stats)) return;
  {
    std::lock_guard lock(mutex_);
    if (!pending_.emplace(context, Pending{}).second) return;  // one at a time per context
  }
  auto abandon = [&](const std::string& why) {
    log_.warn("compression of " + context.text() + " not started: " + why);
    std::lock_guard lock(mutex_);
    pending_.erase(context);
  };
  // The oldest entries, until what is left fits keep_fraction of the budget
  // (and the texts fit max_input_bytes).
  const double keepEntries = budget_.keepFraction * static_cast<double>(budget_.maxEntries);
  const double keepTokens = budget_.keepFraction * static_cast<double>(budget_.maxTokens);
  std::size_t entriesLeft = stats.entries;
  std::size_t tokensLeft = stats.tokens;
  auto stillOver = [&] {
    return (budget_.maxEntries != 0 && static_cast<double>(entriesLeft) > keepEntries) ||
           (budget_.maxTokens != 0 && static_cast<double>(tokensLeft) > keepTokens);
  };
  json::array entries;
  json::array ids;
  std::size_t inputBytes = 0;
  std::string cursor;
  bool full = false;
  while (!full && stillOver()) {
    auto page = contexts_->list(context, Contexts::Which::kActive, 100, cursor);
    if (!page.ok()) return abandon(page.status().message());
    for (const Entry& entry : page->items) {
      // The newest entry always stays, so that a compression shrinks the context.
      if (!stillOver() || entriesLeft <= 1) break;
      if (inputBytes + entry.text.size() > budget_.maxInputBytes && !ids.empty()) {
        full = true;
        break;
      }
      inputBytes += entry.text.size();
      entries.push_back(json::object{
          {"id", entry.id}, {"text", entry.text}, {"author", entry.author}, {"created_ms", entry.createdMs}});
      ids.emplace_back(entry.id);
      --entriesLeft;
      tokensLeft -= std::min(tokensLeft, (entry.text.size() + 3) / 4);
    }
    cursor = page->nextCursor;
    if (cursor.empty()) break;
  }
  if (ids.size() < 2) return abandon("fewer than two entries to summarise");
  auto store = store_.lease();
  if (!store) return abandon("hive.store/1 is gone");
  std::string recordId = plugin_common::timeOrderedId('c');
  json::object record{{"scope", context.scope},
                      {"entries", ids},
                      {"task_id", ""},
                      {"created_ms", plugin_common::nowMs()},
                      {"input", std::move(entries)}};
  if (!context.tenant.empty()) record["tenant"] = context.tenant;
  auto written = store->put(kCompressions,
                            {.id = recordId,
                             .body = json::serialize(record),
                             .index = {{"scope", scopeKey(context)}, {"state", "pending"}}},
                            store::kMustNotExist);
  if (!written.ok()) return abandon(written.status().message());
  {
    std::lock_guard lock(mutex_);
    pending_[context] = {recordId, "", ids.size()};
  }
  log_.info("compression " + recordId + " of " + context.text() + ": " + std::to_string(ids.size()) +
            " entries");
  if (Status submitted = submit(recordId, record); !submitted.ok())
    log_.warn("compression " + recordId + ": task not submitted yet (" + submitted.message() + ")");
}

Status Compressor::submit(const std::string& recordId, const json::object& record) {
  const ScopeRef context = contextOf(record);
  const std::string& scope = context.scope;
  const json::value* input = record.if_contains("input");
  json::object payload{{"scope", scope},
                       {"compression", recordId},
                       {"instructions", kInstructions},
                       {"entries", input ? *input : json::array{}}};
  std::size_t count = input && input->is_array() ? input->get_array().size() : 0;
  json::object task{{"type", "context.summarize"},
                    {"title", "Summarise " + std::to_string(count) + " entries of " + scope},
                    {"capabilities", json::array{json::value(budget_.capability)}},
                    {"priority", budget_.priority},
                    {"payload", std::move(payload)}};
  http::Request request;
  request.path = request.target = "/api/v2/tasks";
  request.headers.push_back({"content-type", "application/json"});
  request.headers.push_back({"idempotency-key", recordId});
  request.body = json::serialize(task);
  // For the context's tenant: the task is its, and only its agents take it.
  auto response = HIVE_TRY(plugin_common::callRouteAndWait(
      services_, self_, "POST", "/api/v2/tasks", std::move(request), kRouteTimeout, context.tenant));
  if (response.status != 200 && response.status != 201)
    return unavailable("task_manager answered " + std::to_string(response.status) + ": " + response.body);
  std::error_code ec;
  json::value created = json::parse(response.body, ec);
  std::string taskId = !ec && created.is_object() ? stringAt(created.get_object(), "id") : std::string();
  if (taskId.empty()) return unavailable("task_manager answered without a task id");
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->transact([&](store::Transaction& tx) -> Status {
    auto current = HIVE_TRY(tx.get(kCompressions, recordId));
    json::object body = bodyOf(current);
    body["task_id"] = taskId;
    current.body = json::serialize(body);
    HIVE_TRY(tx.put(kCompressions, std::move(current), current.version));
    return okStatus();
  }));
  std::lock_guard lock(mutex_);
  if (auto found = pending_.find(context); found != pending_.end() && found->second.record == recordId)
    found->second.taskId = taskId;
  return okStatus();
}

void Compressor::advance() {
  auto store = store_.lease();
  if (!store) return;
  std::string cursor;
  do {
    auto page = store->list(
        {.collection = kCompressions, .equals = {{"state", "pending"}}, .limit = 100, .cursor = cursor});
    if (!page.ok()) return log_.warn("compressions not advanced: " + page.status().message());
    for (const store::Document& record : page->items) finish(record);
    cursor = page->nextCursor;
  } while (!cursor.empty());
}

void Compressor::finish(const store::Document& record) {
  json::object body = bodyOf(record);
  const ScopeRef context = contextOf(body);
  const std::string taskId = stringAt(body, "task_id");
  if (taskId.empty()) {
    if (Status submitted = submit(record.id, body); !submitted.ok())
      log_.warn("compression " + record.id + ": task not submitted yet (" + submitted.message() + ")");
    return;
  }
  http::Request request;
  request.path = request.target = "/api/v2/tasks/" + taskId;
  request.params["id"] = taskId;
  // The task is the context's tenant's: to anyone else it is "not found".
  auto response = plugin_common::callRouteAndWait(services_, self_, "GET", "/api/v2/tasks/{id}",
                                                  std::move(request), kRouteTimeout, context.tenant);
  if (!response.ok() || response->status != 200) return;  // task_manager away: next period
  std::error_code ec;
  json::value task = json::parse(response->body, ec);
  if (ec || !task.is_object()) return;
  const std::string status = stringAt(task.get_object(), "status");
  auto settle = [&](const char* state, const std::string& error,
                    const std::string& summaryId) -> std::function<Status(store::Transaction&)> {
    return [this, record, state, error, summaryId](store::Transaction& tx) -> Status {
      auto current = HIVE_TRY(tx.get(kCompressions, record.id));
      if (current.version != record.version)
        return Status(StatusCode::kAborted, "compression settled already");
      json::object next = bodyOf(current);
      next.erase("input");  // the originals stay in context_entries, archived
      next["error"] = error;
      next["summary_id"] = summaryId;
      current.body = json::serialize(next);
      current.index["state"] = state;
      HIVE_TRY(tx.put(kCompressions, std::move(current), record.version));
      return okStatus();
    };
  };
  auto forget = [&] {
    std::lock_guard lock(mutex_);
    if (auto found = pending_.find(context); found != pending_.end() && found->second.record == record.id)
      pending_.erase(found);
  };
  if (status == "failed" || status == "cancelled" || status == "dead") {
    auto store = store_.lease();
    if (!store) return;
    std::string error = "summarize task " + taskId + " ended " + status;
    if (Status settled = store->transact(settle("failed", error, "")); settled.ok()) {
      log_.warn("compression " + record.id + " of " + context.text() + " failed: " + error);
      forget();
    }
    return;
  }
  if (status != "succeeded") return;
  std::string summary;
  if (const json::value* result = task.get_object().if_contains("result")) {
    if (result->is_string()) summary = std::string(result->get_string());
    if (result->is_object()) summary = stringAt(result->get_object(), "summary");
  }
  std::vector<std::string> replaced;
  if (const json::value* entries = body.if_contains("entries"); entries && entries->is_array())
    for (const json::value& id : entries->get_array())
      if (id.is_string()) replaced.emplace_back(id.get_string());
  if (summary.empty()) {
    auto store = store_.lease();
    if (store &&
        store->transact(settle("failed", "task " + taskId + " succeeded without a summary", "")).ok())
      forget();
    return;
  }
  auto summaryEntry =
      contexts_->replaceWithSummary(context, replaced, summary, "task:" + taskId,
                                    json::object{{"task_id", taskId}, {"compression", record.id}},
                                    [&](store::Transaction& tx, const std::string& summaryId) {
                                      return settle("done", "", summaryId)(tx);
                                    });
  if (!summaryEntry.ok()) {
    log_.warn("compression " + record.id + " of " + context.text() +
              " not applied: " + summaryEntry.status().message());
    if (summaryEntry.status().code() == StatusCode::kAborted) forget();
    return;
  }
  log_.info("compression " + record.id + " of " + context.text() + ": " + std::to_string(replaced.size()) +
            " entries replaced by summary " + summaryEntry->id);
  forget();
}

json::object Compressor::describe(const ScopeRef& context) const {
  std::lock_guard lock(mutex_);
  auto found = pending_.find(context);
  if (found == pending_.end() || found->second.record.empty()) return {{"pending", false}};
  return {{"pending", true},
          {"id", found->second.record},
          {"task_id", found->second.taskId},
          {"entries", found->second.entries}};
}

}  // namespace hive::context_manager
