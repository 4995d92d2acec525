#include "engine.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "plugin_common/clock_ids.hpp"
#include "plugin_common/json_fields.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;

namespace {

constexpr const char* kDefinitions = "workflow_definitions";
constexpr const char* kLatest = "workflow_latest";
constexpr const char* kRuns = kRunsCollection;
constexpr const char* kRunKeys = kRunKeysCollection;
constexpr const char* kEventLog = kEventStream;
constexpr std::size_t kUnclaimedLimit = 4096;
constexpr int kConflictRetries = 16;

std::string definitionId(const std::string& name, std::int64_t version) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "@%010lld", static_cast<long long>(version));
  return name + buffer;
}

bool isFinalTask(std::string_view status) {
  return status == "succeeded" || status == "failed" || status == "cancelled" || status == "dead";
}

TaskReport reportOf(const json::object& task) {
  TaskReport report;
  if (const json::value* id = task.if_contains("id"); id && id->is_string()) report.taskId = id->get_string();
  if (const json::value* status = task.if_contains("status"); status && status->is_string())
    report.status = status->get_string();
  if (const json::value* result = task.if_contains("result")) report.result = *result;
  if (const json::value* error = task.if_contains("error"); error && error->is_string())
    report.error = error->get_string();
  return report;
}

json::object definitionRecord(const store::Document& document) {
  std::error_code ec;
  json::value body = json::parse(document.body, ec);
  return ec || !body.is_object() ? json::object{} : body.get_object();
}

}  // namespace

// ---- InFlight ---------------------------------------------------------------

bool InFlight::enter() {
  std::lock_guard lock(mutex_);
  if (refusing_) return false;
  ++count_;
  return true;
}
void InFlight::leave() {
  std::lock_guard lock(mutex_);
  if (--count_ == 0) idle_.notify_all();
}
void InFlight::refuse() {
  std::lock_guard lock(mutex_);
  refusing_ = true;
}
bool InFlight::idle() const {
  std::lock_guard lock(mutex_);
  return count_ == 0;
}
void InFlight::stopAndWait() {
  std::unique_lock lock(mutex_);
  refusing_ = true;
  idle_.wait(lock, [this] { return count_ == 0; });
}

// ---- Engine -----------------------------------------------------------------

Engine::Engine(PluginContext& context, ServiceHandle<store::Store> store,
               std::unique_ptr<TaskGateway> gateway, Publisher publish, EngineOptions options)
    : context_(context),
      store_(std::move(store)),
      gateway_(std::move(gateway)),
      publish_(std::move(publish)),
      options_(options) {}

Engine::~Engine() { close(); }

Status Engine::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->declareCollection({kDefinitions, {"name"}}));
  HIVE_TRY(store->declareCollection({kLatest, {"tenant"}}));
  HIVE_TRY(store->declareCollection({kRuns, {"workflow", "status", "tenant"}}));
  HIVE_TRY(store->declareCollection({kRunKeys, {}}));
  return okStatus();
}

bool Engine::background(std::function<void()> job) {
  if (!work_.enter()) return false;
  context_.blocking().post([this, job = std::move(job)] {
    try {
      job();
    } catch (const std::exception& error) {
      context_.log().error(std::string("workflow job failed: ") + error.what());
    }
    work_.leave();
  });
  return true;
}

// ---- definitions ----

Result<Engine::Applied> Engine::apply(const std::string& tenant, const json::value& document,
                                      std::vector<http::FieldError>& errors) {
  auto parsed = parseDefinition(document, options_.limits, errors);
  if (!parsed.ok()) return parsed.status();
  if (parsed->name == "runs") {
    errors.push_back({"/name", "'runs' is reserved (/api/v2/workflows/runs)"});
    return invalidArgument("the definition is not valid");
  }
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(checkCalls(*store, tenant, *parsed, errors));
  Applied applied;
  const std::string name = parsed->name;
  const std::string key = workflowKey(tenant, name);
  Status done = store->transact([&](store::Transaction& tx) -> Status {
    std::int64_t latest = 0;
    std::uint64_t latestVersion = store::kMustNotExist;
    std::size_t declaredBefore = 0;  // schedules the previous version declared
    if (auto current = tx.get(kLatest, key); current.ok()) {
      latestVersion = current->version;
      latest = definitionRecord(*current).at("version").to_number<std::int64_t>();
      auto stored = tx.get(kDefinitions, definitionId(key, latest));
      if (!stored.ok()) return stored.status();
      json::object record = definitionRecord(*stored);
      if (record["definition"] == document) {
        applied = {std::move(record), false};
        return okStatus();
      }
      if (const json::value* before = record["definition"].as_object().if_contains("schedules");
          before && before->is_array())
        declaredBefore = before->get_array().size();
    } else if (current.status().code() != StatusCode::kNotFound) {
      return current.status();
    }
    json::object record;
    record["name"] = name;
    record["version"] = latest + 1;
    record["description"] = parsed->description;
    record["created_at_ms"] = plugin_common::nowMs();
    record["definition"] = document;
    if (!tenant.empty()) record["tenant"] = tenant;
    store::Document stored;
    stored.id = definitionId(key, latest + 1);
    stored.body = json::serialize(record);
    stored.index["name"] = key;
    HIVE_TRY(tx.put(kDefinitions, std::move(stored), store::kMustNotExist));
    store::Document pointer;
    pointer.id = key;
    json::object latestRecord{{"name", name}, {"version", latest + 1}};
    if (!tenant.empty()) latestRecord["tenant"] = tenant;
    pointer.body = json::serialize(latestRecord);
    pointer.index["tenant"] = tenant;
    HIVE_TRY(tx.put(kLatest, std::move(pointer), latestVersion));
    // Declared schedules follow the latest version: replaced (their next fire
    // counted again from the next tick), and those it no longer declares go.
    const std::int64_t now = plugin_common::nowMs();
    for (std::size_t i = 0; i < parsed->schedules.size(); ++i)
      HIVE_TRY(tx.put(kSchedules, scheduleDocument(key + ":" + std::to_string(i), tenant, name,
                                                   parsed->schedules[i], "definition", now, std::nullopt)));
    for (std::size_t i = parsed->schedules.size(); i < declaredBefore; ++i)
      if (Status removed = tx.remove(kSchedules, key + ":" + std::to_string(i));
          !removed.ok() && removed.code() != StatusCode::kNotFound)
        return removed;
    applied = {std::move(record), true};
    return okStatus();
  });
  if (!done.ok()) {
    if (done.code() == StatusCode::kAborted)
      return aborted("another version of '" + name + "' was applied at the same time; try again");
    return done;
  }
  return applied;
}

Status Engine::checkCalls(store::Store& store, const std::string& tenant, const Definition& definition,
                          std::vector<http::FieldError>& errors) {
  // A workflow calls its own tenant's workflows.
  auto latestOf = [&](const std::string& name) -> Result<std::int64_t> {
    auto latest = store.get(kLatest, workflowKey(tenant, name));
    if (!latest.ok()) return latest.status();
    return definitionRecord(*latest)["version"].to_number<std::int64_t>();
  };
  for (std::size_t i = 0; i < definition.steps.size(); ++i) {
    const Step& step = definition.steps[i];
    if (!step.workflow) continue;
    const std::string at = "/steps/" + std::to_string(i) + "/workflow";
    auto latest = latestOf(step.workflow->name);
    if (!latest.ok()) {
      if (latest.status().code() != StatusCode::kNotFound) return latest.status();
      errors.push_back({at + "/name", "unknown workflow '" + step.workflow->name + "' (register it first)"});
    } else if (step.workflow->version > *latest) {
      errors.push_back({at + "/version", "workflow '" + step.workflow->name + "' has no version " +
                                             std::to_string(step.workflow->version)});
    }
  }
  if (!errors.empty()) return invalidArgument("the definition is not valid");
  // Depth-first over the latest versions, by name: a pinned older version
  // could break a cycle, but a cycle of names is refused whatever the versions,
  // so that applying a new version can never make one.
  std::vector<std::string> path{definition.name};
  std::set<std::string> cleared;
  std::function<Status(const std::vector<std::string>&, std::size_t)> visit =
      [&](const std::vector<std::string>& calls, std::size_t step) -> Status {
    for (const std::string& callee : calls) {
      if (callee == definition.name) {
        std::string cycle;
        for (const std::string& name : path) cycle += name + " -> ";
        errors.push_back({"/steps/" + std::to_string(step) + "/workflow/name",
                          "workflows would call each other: " + cycle + definition.name});
        return invalidArgument("the definition is not valid");
      }
      if (cleared.count(callee) || path.size() > 64) continue;
      auto latest = latestOf(callee);
      if (!latest.ok()) continue;  // checked above for direct calls; a deleted one cannot loop
      auto called = loadDefinition(store, workflowKey(tenant, callee), *latest);
      if (!called.ok()) return called.status();
      path.push_back(callee);
      HIVE_TRY(visit((*called)->calledWorkflows(), step));
      path.pop_back();
      cleared.insert(callee);
    }
    return okStatus();
  };
  for (std::size_t i = 0; i < definition.steps.size(); ++i)
    if (definition.steps[i].workflow) HIVE_TRY(visit({definition.steps[i].workflow->name}, i));
  return okStatus();
}

Result<json::object> Engine::definition(const std::string& tenant, const std::string& name,
                                        std::int64_t version) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::string key = workflowKey(tenant, name);
  if (version == 0) {
    auto latest = store->get(kLatest, key);
    if (!latest.ok()) {
      if (latest.status().code() == StatusCode::kNotFound) return notFound("no workflow '" + name + "'");
      return latest.status();
    }
    version = definitionRecord(*latest).at("version").to_number<std::int64_t>();
  }
  auto stored = store->get(kDefinitions, definitionId(key, version));
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound)
      return notFound("no workflow '" + name + "' version " + std::to_string(version));
    return stored.status();
  }
  return definitionRecord(*stored);
}

Result<std::shared_ptr<const Definition>> Engine::parsed(const std::string& tenant, const std::string& name,
                                                         std::int64_t version) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::string key = workflowKey(tenant, name);
  if (version == 0) {
    auto latest = store->get(kLatest, key);
    if (!latest.ok()) {
      if (latest.status().code() == StatusCode::kNotFound) return notFound("no workflow '" + name + "'");
      return latest.status();
    }
    version = definitionRecord(*latest)["version"].to_number<std::int64_t>();
  }
  auto definition = loadDefinition(*store, key, version);
  if (!definition.ok() && definition.status().code() == StatusCode::kNotFound)
    return notFound("no workflow '" + name + "' version " + std::to_string(version));
  return definition;
}

Result<ListPage> Engine::definitions(const std::optional<std::string>& tenant, std::size_t limit,
                                     const std::string& cursor) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  // A named tenant's are found by their index; the default tenant's also
  // include those applied before tenancy (nothing indexed), so they are read
  // unfiltered and the page loses other tenants' (it may hold fewer than `limit`).
  store::ListQuery query{.collection = kLatest, .equals = {}, .limit = limit, .cursor = cursor};
  if (tenant && !tenant->empty()) query.equals["tenant"] = *tenant;
  auto page = store->list(query);
  if (!page.ok()) return page.status();
  ListPage out;
  for (const auto& pointer : page->items) {
    json::object latest = definitionRecord(pointer);
    if (tenant && tenant->empty() && latest.contains("tenant")) continue;
    auto stored =
        store->get(kDefinitions, definitionId(pointer.id, latest["version"].to_number<std::int64_t>()));
    if (!stored.ok()) continue;
    json::object record = definitionRecord(*stored);
    record.erase("definition");
    out.items.push_back(std::move(record));
  }
  out.nextCursor = page->nextCursor;
  return out;
}

Result<std::shared_ptr<const Definition>> Engine::loadDefinition(store::Store& store, const std::string& key,
                                                                 std::int64_t version) {
  const std::string id = definitionId(key, version);
  {
    std::lock_guard lock(mutex_);
    if (auto found = definitions_.find(id); found != definitions_.end()) return found->second;
  }
  auto stored = store.get(kDefinitions, id);
  if (!stored.ok()) return stored.status();
  std::vector<http::FieldError> errors;
  // A definition stored by an older engine with looser limits still runs.
  Limits limits = options_.limits;
  limits.maxSteps = limits.maxDefinitionBytes = limits.maxExpressionBytes = limits.maxParams =
      ~std::size_t{0} >> 1;
  auto parsed = parseDefinition(definitionRecord(*stored)["definition"], limits, errors);
  if (!parsed.ok()) return internalError("stored workflow " + id + " no longer parses");
  auto shared = std::make_shared<const Definition>(std::move(parsed).value());
  std::lock_guard lock(mutex_);
  if (definitions_.size() >= 256) definitions_.clear();
  definitions_[id] = shared;
  return shared;
}

// ---- runs ----

Result<Engine::Started> Engine::startRun(const std::string& tenant, const std::string& workflow,
                                         std::int64_t version, const json::value& params,
                                         const std::string& idempotencyKey,
                                         std::vector<http::FieldError>& errors, const Parent& parent) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::string keyId = runKeyId(tenant, idempotencyKey);
  // The run an Idempotency-Key started before: only if it is that key's, of this tenant.
  auto earlierRun = [&]() -> std::optional<json::object> {
    auto seen = store->get(kRunKeys, keyId);
    if (!seen.ok()) return std::nullopt;
    auto earlier = run(definitionRecord(*seen)["run"].as_string().c_str());
    if (!earlier.ok()) return std::nullopt;
    if (plugin_common::stringField(*earlier, "idempotency_key") != idempotencyKey ||
        plugin_common::stringField(*earlier, "tenant") != tenant)
      return std::nullopt;
    return std::move(earlier).value();
  };
  if (!idempotencyKey.empty())
    if (auto earlier = earlierRun()) return Started{std::move(*earlier), true};
  if (version == 0) {
    auto latest = store->get(kLatest, workflowKey(tenant, workflow));
    if (!latest.ok()) {
      if (latest.status().code() == StatusCode::kNotFound) return notFound("no workflow '" + workflow + "'");
      return latest.status();
    }
    version = definitionRecord(*latest)["version"].to_number<std::int64_t>();
  }
  auto definition = parsed(tenant, workflow, version);
  if (!definition.ok()) return definition.status();
  auto bound = bindParams(**definition, params, errors);
  if (!bound.ok()) return bound.status();
  Run run = Run::start(plugin_common::timeOrderedId('w'), **definition, version, std::move(bound).value(),
                       plugin_common::nowMs());
  run.parentRun = parent.run;
  run.parentStep = parent.step;
  run.idempotencyKey = idempotencyKey;
  run.tenant = tenant;
  Change created{"", "", "running"};  // the event workflow.run.running
  Status done = store->transact([&](store::Transaction& tx) -> Status {
    store::Document document;
    document.id = run.id;
    document.body = json::serialize(run.toJson());
    document.index = {
        {"workflow", workflowKey(tenant, run.workflow)}, {"status", "running"}, {"tenant", tenant}};
    HIVE_TRY(tx.put(kRuns, std::move(document), store::kMustNotExist));
    if (!idempotencyKey.empty()) {
      store::Document key;
      key.id = keyId;
      key.body = json::serialize(json::object{{"run", run.id}});
      HIVE_TRY(tx.put(kRunKeys, std::move(key), store::kMustNotExist));
    }
    HIVE_TRY(tx.append(kEventLog, "workflow.run.running", eventBody(run, created)));
    return okStatus();
  });
  if (!done.ok()) {
    // The key was taken by a start that committed in the meantime.
    if (done.code() == StatusCode::kAborted && !idempotencyKey.empty()) {
      if (auto earlier = earlierRun()) return Started{std::move(*earlier), true};
      return aborted("Idempotency-Key '" + idempotencyKey + "' is taken by another run");
    }
    return done;
  }
  publish(run, {created});
  schedule(run.id);
  return Started{run.toJson(), false};
}

Result<json::object> Engine::run(const std::string& id) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto stored = store->get(kRuns, id);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return notFound("no workflow run '" + id + "'");
    return stored.status();
  }
  return definitionRecord(*stored);
}

Result<ListPage> Engine::runs(const std::optional<std::string>& tenant, const std::string& workflow,
                              const std::string& status, std::size_t limit, const std::string& cursor) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  store::ListQuery query{.collection = kRuns, .equals = {}, .limit = limit, .cursor = cursor};
  // As definitions(): the default tenant's are read unfiltered, and a page may hold fewer than `limit`.
  if (!workflow.empty())
    query.equals["workflow"] = workflowKey(tenant.value_or(""), workflow);
  else if (tenant && !tenant->empty())
    query.equals["tenant"] = *tenant;
  if (!status.empty()) query.equals["status"] = status;
  auto page = store->list(query);
  if (!page.ok()) return page.status();
  ListPage out;
  for (const auto& document : page->items) {
    json::object run = definitionRecord(document);
    if (tenant && tenant->empty() && run.contains("tenant")) continue;
    out.items.push_back(std::move(run));
  }
  out.nextCursor = page->nextCursor;
  return out;
}

Result<Run> Engine::update(const std::string& id,
                           const std::function<Status(Run&, std::vector<Change>&)>& change,
                           std::vector<Change>& changes) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  for (int attempt = 0; attempt < kConflictRetries; ++attempt) {
    auto stored = store->get(kRuns, id);
    if (!stored.ok()) {
      if (stored.status().code() == StatusCode::kNotFound) return notFound("no workflow run '" + id + "'");
      return stored.status();
    }
    auto run = Run::fromJson(stored->body);
    if (!run.ok()) return run.status();
    changes.clear();
    HIVE_TRY(change(*run, changes));
    Status done = store->transact([&](store::Transaction& tx) -> Status {
      store::Document document = *stored;
      document.body = json::serialize(run->toJson());
      document.index["status"] = statusName(run->status);
      HIVE_TRY(tx.put(kRuns, std::move(document), stored->version));
      for (const Change& change : changes)
        HIVE_TRY(tx.append(kEventLog,
                           change.step.empty() ? "workflow.run." + change.to : "workflow.step." + change.to,
                           eventBody(*run, change)));
      return okStatus();
    });
    if (done.code() == StatusCode::kAborted) continue;
    if (!done.ok()) return done;
    publish(*run, changes);
    return run;
  }
  return aborted("workflow run '" + id + "' kept changing; try again");
}

Result<json::object> Engine::cancelRun(const std::string& id) {
  std::vector<std::string> tasks, children;
  std::vector<Change> changes;
  auto run = update(
      id,
      [&](Run& run, std::vector<Change>& changes) -> Status {
        if (isOver(run.status))
          return failedPrecondition("workflow run '" + id + "' is " + statusName(run.status) + " already");
        children.clear();
        tasks = cancel(run, plugin_common::nowMs(), changes, &children);
        return okStatus();
      },
      changes);
  if (!run.ok()) return run.status();
  notifyParent(*run);  // a sub-workflow cancelled on its own fails its step
  for (const std::string& child : children)
    background([this, child] {
      if (auto cancelled = cancelRun(child);
          !cancelled.ok() && cancelled.status().code() != StatusCode::kFailedPrecondition)
        context_.log().warn("sub-workflow run " + child + " not cancelled: " + cancelled.status().message());
    });
  cancelTasks(run->tenant, tasks, "cancelled");
  return run->toJson();
}

void Engine::failOutgrown(const std::string& id, const std::string& why) {
  std::vector<std::string> tasks;
  std::vector<Change> changes;
  auto run = update(
      id,
      [&](Run& run, std::vector<Change>& changes) -> Status {
        if (isOver(run.status)) return okStatus();
        // What is running stops as for a cancel. A map's items, the bulk of
        // the document, give way to their counts, so that the failure fits.
        tasks = cancel(run, plugin_common::nowMs(), changes, nullptr);
        for (StepState& state : run.steps) {
          if (state.reason == "the run was cancelled") state.reason = "the run failed";
          if (state.items.empty()) continue;
          std::map<std::string, std::size_t> counts;
          for (const ItemState& item : state.items) ++counts[statusName(item.status)];
          std::string summary;
          for (const auto& [status, count] : counts)
            summary += (summary.empty() ? "" : ", ") + std::to_string(count) + " " + status;
          state.reason = "the run failed; " + std::to_string(state.items.size()) + " items (" + summary +
                         "), their details dropped with it";
          state.items.clear();
        }
        changes.back().to = "failed";
        run.status = RunStatus::kFailed;
        run.error = "the run no longer fits in one store document (" + why +
                    "): a map over this many items, with their results, is too large for one run; split the "
                    "list, or use a batch (data_processing_engine)";
        return okStatus();
      },
      changes);
  if (!run.ok()) {
    context_.log().error(
        "workflow run " + id +
        " outgrew the store's document limit and could not be failed: " + run.status().message());
    return;
  }
  context_.log().warn("workflow run " + id + " failed: " + run->error);
  notifyParent(*run);
  cancelTasks(run->tenant, tasks, "failed");
}

void Engine::cancelTasks(const std::string& tenant, const std::vector<std::string>& tasks,
                         const std::string& runOutcome) {
  for (const std::string& task : tasks) {
    if (!work_.enter()) break;
    gateway_->cancel(tenant, task, [this, task, runOutcome](Status cancelled) {
      if (!cancelled.ok())
        context_.log().warn("task " + task + " of a " + runOutcome + " run: " + cancelled.message());
      work_.leave();
    });
  }
}

Result<json::object> Engine::decideApproval(const std::string& id, const std::string& step, Decision decision,
                                            const std::string& by, const std::string& comment) {
  std::vector<Change> changes;
  auto run = update(
      id,
      [&](Run& run, std::vector<Change>& changes) -> Status {
        if (isOver(run.status))
          return failedPrecondition("workflow run '" + id + "' is " + statusName(run.status));
        return decide(run, step, decision, by, comment, plugin_common::nowMs(), changes);
      },
      changes);
  if (!run.ok()) return run.status();
  schedule(id);  // its dependents are decided by the next advance
  return run->toJson();
}

Result<json::object> Engine::retryRun(const std::string& id) {
  std::vector<Change> changes;
  auto run = update(
      id,
      [&](Run& run, std::vector<Change>& changes) -> Status {
        auto store = store_.lease();
        if (!store) return unavailable("hive.store/1 is gone");
        auto definition =
            HIVE_TRY(loadDefinition(*store, workflowKey(run.tenant, run.workflow), run.version));
        if (definition->steps.size() != run.steps.size())
          return internalError("workflow run '" + id + "' does not match its definition");
        return retry(run, *definition, plugin_common::nowMs(), changes);
      },
      changes);
  if (!run.ok()) return run.status();
  schedule(id);
  return run->toJson();
}

Result<json::object> Engine::pauseRun(const std::string& id) {
  std::vector<Change> changes;
  auto run = update(
      id, [&](Run& run, std::vector<Change>& changes) { return pause(run, plugin_common::nowMs(), changes); },
      changes);
  if (!run.ok()) return run.status();
  return run->toJson();
}

Result<json::object> Engine::resumeRun(const std::string& id) {
  std::vector<Change> changes;
  auto run = update(
      id,
      [&](Run& run, std::vector<Change>& changes) { return resume(run, plugin_common::nowMs(), changes); },
      changes);
  if (!run.ok()) return run.status();
  schedule(id);  // what became ready while it was paused starts now
  return run->toJson();
}

// ---- driving ----

void Engine::learn(const std::string& runId, const std::function<void(Active&)>& change) {
  {
    std::lock_guard lock(mutex_);
    change(active_[runId]);
  }
  schedule(runId);
}

void Engine::onTaskEvent(std::string_view payload) {
  std::error_code ec;
  json::value event = json::parse(payload, ec);
  if (ec || !event.is_object()) return;
  const json::value* task = event.get_object().if_contains("task");
  if (task == nullptr || !task->is_object()) return;
  TaskReport report = reportOf(task->get_object());
  if (report.taskId.empty() || !isFinalTask(report.status)) return;
  std::string runId;
  {
    std::lock_guard lock(mutex_);
    auto found = taskRuns_.find(report.taskId);
    if (found == taskRuns_.end()) {
      // Possibly a step's task whose submission answer has not arrived yet:
      // kept a while, so that the step does not wait for the reconciler.
      if (unclaimed_.emplace(report.taskId, report).second) unclaimedOrder_.push_back(report.taskId);
      while (unclaimedOrder_.size() > kUnclaimedLimit) {
        unclaimed_.erase(unclaimedOrder_.front());
        unclaimedOrder_.pop_front();
      }
      return;
    }
    runId = found->second;
    active_[runId].inbox.reports[report.taskId] = std::move(report);
  }
  schedule(runId);
}

void Engine::schedule(const std::string& runId) {
  std::lock_guard lock(mutex_);
  Active& active = active_[runId];
  if (active.running) {
    active.again = true;
    return;
  }
  if (active.queued) return;
  active.queued = true;
  if (!background([this, runId] { advanceJob(runId); })) active.queued = false;
}

void Engine::advanceJob(const std::string& runId) {
  Learnt learnt;
  {
    std::lock_guard lock(mutex_);
    Active& active = active_[runId];
    active.queued = false;
    active.running = true;
    learnt = active.inbox;
  }
  auto finish = [&](bool forget) {
    std::lock_guard lock(mutex_);
    Active& active = active_[runId];
    active.running = false;
    if (active.again) {
      active.again = false;
      active.queued = true;
      if (!background([this, runId] { advanceJob(runId); })) active.queued = false;
      return;
    }
    if (forget && active.submitting.empty()) {
      for (const std::string& task : active.tasks) taskRuns_.erase(task);
      active_.erase(runId);
    }
  };

  auto store = store_.lease();
  if (!store) return finish(false);
  Run run;
  std::shared_ptr<const Definition> definition;
  Progress progress;
  bool committed = false;
  for (int attempt = 0; attempt < kConflictRetries && !committed; ++attempt) {
    auto stored = store->get(kRuns, runId);
    if (!stored.ok()) {
      if (stored.status().code() != StatusCode::kNotFound)
        context_.log().warn("workflow run " + runId + " not read: " + stored.status().message());
      return finish(stored.status().code() == StatusCode::kNotFound);
    }
    auto loaded = Run::fromJson(stored->body);
    if (!loaded.ok()) {
      context_.log().error("workflow run " + runId + ": " + loaded.status().message());
      return finish(true);
    }
    run = std::move(loaded).value();
    auto found = loadDefinition(*store, workflowKey(run.tenant, run.workflow), run.version);
    if (!found.ok()) {
      context_.log().error("workflow run " + runId + ": " + found.status().message());
      return finish(false);
    }
    definition = *found;
    if (run.steps.size() != definition->steps.size()) {
      context_.log().error("workflow run " + runId + " does not match its definition");
      return finish(true);
    }
    progress = advance(run, *definition, learnt, plugin_common::nowMs(), options_.limits);
    // The tasks this transition makes ready go to task_manager before it is
    // committed, so that the commit is off the path from one step's end to
    // the next one's start. Safe: each is keyed, so a retry of this loop, a
    // restart or the reconciler gets the same task; one the committed run
    // does not want (a cancel won the race) is cancelled below.
    submitReady(runId, run, *definition, progress);
    if (progress.changes.empty() && !progress.touched) {
      committed = true;
      break;
    }
    Status done = store->transact([&](store::Transaction& tx) -> Status {
      store::Document document = *stored;
      document.body = json::serialize(run.toJson());
      document.index["status"] = statusName(run.status);
      HIVE_TRY(tx.put(kRuns, std::move(document), stored->version));
      for (const Change& change : progress.changes)
        HIVE_TRY(tx.append(kEventLog,
                           change.step.empty() ? "workflow.run." + change.to : "workflow.step." + change.to,
                           eventBody(run, change)));
      return okStatus();
    });
    if (done.ok()) {
      committed = true;
    } else if (done.code() == StatusCode::kInvalidArgument) {
      // The store refuses the run's document (a map of many items with their
      // results outgrew its document limit): every later write would be
      // refused the same way and the run would stay "running" for ever.
      failOutgrown(runId, done.message());
      return finish(true);
    } else if (done.code() != StatusCode::kAborted) {
      context_.log().warn("workflow run " + runId + " not advanced: " + done.message());
      return finish(false);
    }
  }
  if (!committed) return finish(false);
  publish(run, progress.changes);

  if (isOver(run.status) && std::any_of(progress.changes.begin(), progress.changes.end(),
                                        [](const Change& change) { return change.step.empty(); }))
    notifyParent(run);

  std::vector<std::size_t> children;  // sub-workflow steps to start
  std::vector<std::string> unwanted;  // tasks submitted for steps the run no longer runs
  {
    std::lock_guard lock(mutex_);
    Active& active = active_[runId];
    // What was applied leaves the inbox; what arrived meanwhile stays.
    for (const auto& [task, report] : learnt.reports) active.inbox.reports.erase(task);
    for (const auto& [unit, task] : learnt.submitted) active.inbox.submitted.erase(unit);
    for (const auto& [unit, why] : learnt.refused) active.inbox.refused.erase(unit);
    std::set<std::string> held;  // the tasks and child runs the committed run knows
    auto track = [&](const std::string& taskId, bool running) {
      if (taskId.empty()) return;
      held.insert(taskId);
      if (running) {
        if (active.tasks.insert(taskId).second) taskRuns_[taskId] = runId;
        if (auto orphan = unclaimed_.find(taskId); orphan != unclaimed_.end()) {
          active.inbox.reports[taskId] = orphan->second;
          unclaimed_.erase(orphan);
          active.again = true;
        }
      } else if (active.tasks.erase(taskId)) {
        taskRuns_.erase(taskId);
      }
    };
    for (const StepState& step : run.steps) {
      track(step.taskId, step.status == StepStatus::kRunning);
      held.insert(step.childRunId);
      for (const ItemState& item : step.items) track(item.taskId, item.status == StepStatus::kRunning);
    }
    for (const auto& [unit, task] : learnt.submitted)
      if (!held.count(task)) unwanted.push_back(task);
    if (run.status == RunStatus::kRunning)
      for (std::size_t index : progress.ready)
        if (definition->steps[index].workflow &&
            active.submitting.insert(unitKey(run.steps[index].name)).second)
          children.push_back(index);
  }
  cancelTasks(run.tenant, unwanted, "cancelled or finished");
  for (std::size_t index : children) {
    const std::string& name = run.steps[index].name;
    startChild(run.tenant, runId, name, idempotencyKey(run, name), *definition->steps[index].workflow,
               childParams(run, *definition, index, options_.limits));
  }
  finish(isOver(run.status));
}

void Engine::submitReady(const std::string& runId, const Run& run, const Definition& definition,
                         const Progress& progress) {
  if (run.status != RunStatus::kRunning) return;
  struct Submission {
    std::string unit, key, body;
  };
  std::vector<Submission> toSubmit;
  {
    std::lock_guard lock(mutex_);
    Active& active = active_[runId];
    // One scope for all the steps and items (a fan-out makes thousands ready
    // at once), and one evaluation of each map's list.
    json::object scope;
    for (std::size_t index : progress.ready) {
      const std::string& name = run.steps[index].name;
      if (definition.steps[index].workflow) continue;  // started once committed
      if (!active.submitting.insert(unitKey(name)).second) continue;
      if (scope.empty()) scope = scopeOf(run);
      toSubmit.push_back({unitKey(name), idempotencyKey(run, name),
                          taskBody(run, definition, index, scope, options_.limits)});
    }
    std::map<std::size_t, json::value> lists;
    for (const ReadyItem& ready : progress.readyItems) {
      const std::string& name = run.steps[ready.step].name;
      if (!active.submitting.insert(unitKey(name, ready.item)).second) continue;
      if (scope.empty()) scope = scopeOf(run);
      auto list = lists.find(ready.step);
      if (list == lists.end())
        list = lists.emplace(ready.step, definition.steps[ready.step].map->over.evaluate(scope)).first;
      const json::value* value = list->second.is_array() && ready.item < list->second.get_array().size()
                                     ? &list->second.get_array()[ready.item]
                                     : nullptr;
      toSubmit.push_back({unitKey(name, ready.item), idempotencyKey(run, name, ready.item),
                          itemTaskBody(run, definition, ready.step, ready.item,
                                       value ? *value : json::value(nullptr), scope, options_.limits)});
    }
  }
  for (auto& submission : toSubmit)
    submitStep(run.tenant, runId, submission.unit, submission.key, submission.body);
}

void Engine::startChild(const std::string& tenant, const std::string& runId, const std::string& step,
                        const std::string& key, const SubWorkflow& workflow, json::object params) {
  bool posted = background([this, tenant, runId, step, key, workflow, params = std::move(params)] {
    std::vector<http::FieldError> errors;
    auto started =
        startRun(tenant, workflow.name, workflow.version, params, key, errors, Parent{runId, step});
    {
      std::lock_guard lock(mutex_);
      Active& active = active_[runId];
      active.submitting.erase(unitKey(step));
      if (started.ok()) {
        const std::string child(started->run["id"].as_string());
        active.inbox.submitted[unitKey(step)] = child;
        // Replayed after a crash: the child may have finished already.
        if (auto status = started->run["status"].as_string(); status != "running")
          active.inbox.reports[child] = {
              child, std::string(status), started->run["outputs"],
              std::string(started->run.contains("error") ? started->run["error"].as_string() : "")};
      } else if (started.status().code() == StatusCode::kInvalidArgument ||
                 started.status().code() == StatusCode::kNotFound) {
        std::string why = started.status().message();
        for (const auto& error : errors) why += "; " + error.field + ": " + error.message;
        active.inbox.refused[unitKey(step)] = why;
      } else {
        context_.log().warn("sub-workflow of step " + step + " of run " + runId +
                            " not started yet: " + started.status().message());
        return;  // the reconciler starts it again, with the same key
      }
    }
    schedule(runId);
  });
  if (!posted) {
    std::lock_guard lock(mutex_);
    active_[runId].submitting.erase(unitKey(step));
  }
}

void Engine::notifyParent(const Run& run) {
  if (run.parentRun.empty() || !isOver(run.status)) return;
  TaskReport report{run.id, statusName(run.status), run.outputs, run.error};
  learn(run.parentRun, [&](Active& active) { active.inbox.reports[run.id] = report; });
}

void Engine::submitStep(const std::string& tenant, const std::string& runId, const std::string& step,
                        const std::string& key, const std::string& body) {
  bool posted = submitTask(tenant, key, body, [this, runId, step](Result<std::string> task) {
    bool retryLater = false;
    {
      std::lock_guard lock(mutex_);
      Active& active = active_[runId];
      active.submitting.erase(step);
      if (task.ok()) {
        active.inbox.submitted[step] = *task;  // `step` is the unit: a step or one of its items
        taskRuns_[*task] = runId;
        active.tasks.insert(*task);
        if (auto orphan = unclaimed_.find(*task); orphan != unclaimed_.end()) {
          active.inbox.reports[*task] = orphan->second;
          unclaimed_.erase(orphan);
        }
      } else if (task.status().code() == StatusCode::kInvalidArgument) {
        active.inbox.refused[step] = task.status().message();
      } else {
        retryLater = true;  // the reconciler submits it again, with the same key
      }
    }
    if (retryLater)
      context_.log().warn("step " + step + " of workflow run " + runId +
                          " not submitted yet: " + task.status().message());
    else
      schedule(runId);
  });
  if (!posted) {
    std::lock_guard lock(mutex_);
    active_[runId].submitting.erase(step);
  }
}

bool Engine::submitTask(const std::string& tenant, const std::string& idempotencyKey, const std::string& body,
                        TaskGateway::Submitted done) {
  if (!work_.enter()) return false;
  gateway_->submit(tenant, idempotencyKey, body, [this, done = std::move(done)](Result<std::string> task) {
    done(std::move(task));
    work_.leave();
  });
  return true;
}

void Engine::readTask(const std::string& tenant, const std::string& runId, const std::string& taskId) {
  if (!work_.enter()) return;
  gateway_->read(tenant, taskId, [this, runId, taskId](Result<json::object> task) {
    if (task.ok()) {
      TaskReport report = reportOf(*task);
      if (isFinalTask(report.status))
        learn(runId, [&](Active& active) { active.inbox.reports[taskId] = report; });
    } else if (task.status().code() == StatusCode::kNotFound) {
      // The task is gone (retention, or a store reset): the step cannot finish.
      learn(runId, [&](Active& active) {
        active.inbox.reports[taskId] = {taskId, "failed", nullptr, "the task no longer exists"};
      });
    }
    work_.leave();
  });
}

void Engine::readChild(store::Store& store, const std::string& runId, const std::string& childId) {
  auto stored = store.get(kRuns, childId);
  TaskReport report{childId, "failed", nullptr, "the workflow run no longer exists"};
  if (stored.ok()) {
    auto child = Run::fromJson(stored->body);
    if (!child.ok() || !isOver(child->status)) return;
    report = {childId, statusName(child->status), child->outputs, child->error};
  } else if (stored.status().code() != StatusCode::kNotFound) {
    return;
  }
  learn(runId, [&](Active& active) { active.inbox.reports[childId] = report; });
}

void Engine::reconcile() {
  auto store = store_.lease();
  if (!store) return;
  for (const char* status : {"running", "paused"}) {
    std::string cursor;
    do {
      auto page =
          store->list({.collection = kRuns, .equals = {{"status", status}}, .limit = 200, .cursor = cursor});
      if (!page.ok()) {
        context_.log().warn("workflow runs not reconciled: " + page.status().message());
        return;
      }
      for (const auto& document : page->items) {
        auto run = Run::fromJson(document.body);
        if (!run.ok()) continue;
        for (const StepState& step : run->steps) {
          if (step.status != StepStatus::kRunning) continue;
          if (!step.taskId.empty()) readTask(run->tenant, run->id, step.taskId);
          for (const ItemState& item : step.items)
            if (item.status == StepStatus::kRunning) readTask(run->tenant, run->id, item.taskId);
          if (!step.childRunId.empty()) readChild(*store, run->id, step.childRunId);
        }
        schedule(run->id);
      }
      cursor = page->nextCursor;
    } while (!cursor.empty());
  }
}

std::string Engine::eventBody(const Run& run, const Change& change) const {
  json::object body;
  body["event"] = change.step.empty() ? "workflow.run." + change.to : "workflow.step." + change.to;
  // Its tenant's clients only see it (the api's WebSocket hub, docs/events.md).
  if (!run.tenant.empty()) body["tenant"] = run.tenant;
  body["run"] = json::object{{"id", run.id},
                             {"workflow", run.workflow},
                             {"version", run.version},
                             {"status", statusName(run.status)},
                             {"updated_at_ms", run.updatedAtMs}};
  if (!change.step.empty()) {
    for (const StepState& step : run.steps) {
      if (step.name != change.step) continue;
      json::object item{{"name", step.name}, {"status", change.to}, {"from", change.from}};
      item["task_id"] = step.taskId.empty() ? json::value(nullptr) : json::value(step.taskId);
      if (!step.error.empty()) item["error"] = step.error;
      if (!step.reason.empty()) item["reason"] = step.reason;
      body["step"] = std::move(item);
    }
  } else {
    body["from"] = change.from;
    if (!run.error.empty()) body["error"] = run.error;
    if (run.status == RunStatus::kSucceeded) body["outputs"] = run.outputs;
  }
  return json::serialize(body);
}

void Engine::publish(const Run& run, const std::vector<Change>& changes) {
  if (!publish_) return;
  for (const Change& change : changes) {
    std::string body = eventBody(run, change);
    publish_("workflows." + run.id, body);
    publish_("workflows", body);
  }
}

}  // namespace hive::workflow_engine
