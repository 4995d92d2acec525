#include "batches.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "input.hpp"
#include "plugin_common/clock_ids.hpp"
#include "plugin_common/json_fields.hpp"
#include "plugin_common/route_call.hpp"

namespace hive::data_processing_engine {

namespace json = boost::json;
using plugin_common::stringField;

namespace {

constexpr const char* kBatches = "batches";
constexpr const char* kChunks = "batch_chunks";
constexpr const char* kKeys = "batch_keys";

// Chunk states.
constexpr const char* kPending = "pending";
constexpr const char* kSubmitted = "submitted";
constexpr const char* kSucceeded = "succeeded";
constexpr const char* kFailed = "failed";

const std::set<std::string, std::less<>> kTemplateFields = {
    "type", "title", "payload", "capabilities", "priority", "timeout_seconds", "max_attempts"};

json::object parseObject(const std::string& text) {
  std::error_code ec;
  json::value value = json::parse(text, ec);
  return !ec && value.is_object() ? value.get_object() : json::object{};
}

std::string chunkId(const std::string& batch, std::size_t index) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%06zu", index);
  return batch + "." + digits;
}

std::string counter(const std::string& batch, const char* name) { return "batches." + batch + "." + name; }

std::int64_t number(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_number()) return 0;
  std::error_code ec;
  std::int64_t number = value->to_number<std::int64_t>(ec);
  return ec ? 0 : number;
}

store::Document document(std::string id, const json::object& body, std::map<std::string, std::string> index) {
  store::Document out;
  out.id = std::move(id);
  out.body = json::serialize(body);
  out.index = std::move(index);
  return out;
}

// A batch as stored: indexed by status and tenant ("" for the default one).
store::Document batchDocument(std::string id, const json::object& batch, std::string status) {
  const json::value* tenant = batch.if_contains("tenant");
  return document(std::move(id), batch,
                  {{"status", std::move(status)},
                   {"tenant", tenant && tenant->is_string() ? std::string(tenant->get_string()) : ""}});
}

store::ListQuery query(std::string collection, std::map<std::string, std::string> equals, std::size_t limit,
                       std::string cursor = {}) {
  store::ListQuery out;
  out.collection = std::move(collection);
  out.equals = std::move(equals);
  out.limit = limit;
  out.cursor = std::move(cursor);
  return out;
}

// A positive integer field within [low, high], or `fallback` when absent.
std::int64_t bounded(const json::object& body, const char* field, std::int64_t fallback, std::int64_t low,
                     std::int64_t high, const char* limitName, std::vector<http::FieldError>& errors) {
  const json::value* value = body.if_contains(field);
  if (value == nullptr) return fallback;
  if (!value->is_int64() || value->as_int64() < low || value->as_int64() > high) {
    errors.push_back({std::string("/") + field, "must be an integer between " + std::to_string(low) +
                                                    " and " + std::to_string(high) +
                                                    (limitName ? " (" + std::string(limitName) + ")" : "")});
    return fallback;
  }
  return value->as_int64();
}

}  // namespace

Batches::Batches(PluginContext& context, ServiceHandle<store::Store> store, Options options, Publish publish)
    : context_(context),
      store_(std::move(store)),
      options_(std::move(options)),
      publish_(std::move(publish)) {}

Batches::~Batches() { stop(); }

Status Batches::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->declareCollection({kBatches, {"status", "tenant"}}));
  HIVE_TRY(store->declareCollection({kChunks, {"batch", "state"}}));
  HIVE_TRY(store->declareCollection({kKeys, {}}));
  std::error_code ec;
  std::filesystem::create_directories(options_.inputDirectory, ec);
  if (ec) return unavailable("creating " + options_.inputDirectory + ": " + ec.message());
  std::filesystem::create_directories(options_.outputDirectory, ec);
  if (ec) return unavailable("creating " + options_.outputDirectory + ": " + ec.message());
  return okStatus();
}

void Batches::start() {
  std::lock_guard lock(mutex_);
  if (worker_.joinable()) return;
  stopping_ = false;
  poked_ = true;  // batches left running by a previous process resume now
  worker_ = std::thread([this] { run(); });
}

void Batches::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Batches::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  wake_.notify_all();
}

void Batches::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.reconcilePeriod, [this] { return stopping_ || poked_; });
    if (stopping_) return;
    poked_ = false;
    lock.unlock();
    advanceAll();
    lock.lock();
  }
}

void Batches::advanceAll() {
  auto store = store_.lease();
  if (!store) return;
  store::ListQuery cancelling = query(kBatches, {{"status", "cancelling"}}, 100);
  if (Result<store::Page> page = store->list(cancelling); page.ok())
    for (const store::Document& batch : page->items)
      if (Status done = finishCancel(batch); !done.ok())
        context_.log().warn("batch " + batch.id + ": " + done.message());
  store::ListQuery running = query(kBatches, {{"status", "running"}}, 100);
  do {
    Result<store::Page> page = store->list(running);
    if (!page.ok()) {
      context_.log().warn("listing running batches: " + page.status().message());
      return;
    }
    for (const store::Document& batch : page->items) {
      if (Status advanced = advance(batch); !advanced.ok())
        context_.log().warn("batch " + batch.id + ": " + advanced.message());
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    running.cursor = page->nextCursor;
  } while (!running.cursor.empty());
}

Result<json::object> Batches::create(const json::value& value, const std::string& principal,
                                     const std::string& tenant, const std::string& idempotencyKey,
                                     std::vector<http::FieldError>& errors, bool& replayed) {
  if (!value.is_object()) return invalidArgument("the body must be a JSON object");
  const json::object& body = value.as_object();
  const Limits& limits = options_.limits;
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::string keyId;
  if (!idempotencyKey.empty()) {
    if (idempotencyKey.size() > 100) return invalidArgument("Idempotency-Key: at most 100 characters");
    // Per tenant: "k.~<tenant>~<key>" ('~' is in no tenant's name).
    keyId = tenant.empty() ? "k." + idempotencyKey : "k.~" + tenant + "~" + idempotencyKey;
    if (Result<store::Document> known = store->get(kKeys, keyId); known.ok()) {
      replayed = true;
      return get(stringField(parseObject(known->body), "batch"));
    }
  }
  for (const auto& [key, unused] : body)
    if (key != "input" && key != "chunk_size" && key != "parallelism" && key != "retries" && key != "task" &&
        key != "name")
      errors.push_back({"/" + std::string(key), "unknown field"});
  std::int64_t chunkSize = bounded(body, "chunk_size", 100, 1, static_cast<std::int64_t>(limits.maxChunkSize),
                                   "max_chunk_size", errors);
  std::int64_t parallelism = bounded(
      body, "parallelism", 4, 1, static_cast<std::int64_t>(limits.maxParallelism), "max_parallelism", errors);
  std::int64_t retries =
      bounded(body, "retries", 2, 0, static_cast<std::int64_t>(limits.maxRetries), "max_retries", errors);
  std::string name;
  if (const json::value* given = body.if_contains("name")) {
    if (!given->is_string() || given->as_string().size() > 200)
      errors.push_back({"/name", "must be a string of at most 200 characters"});
    else
      name = given->as_string();
  }
  json::object task;
  const json::value* templateValue = body.if_contains("task");
  if (templateValue == nullptr || !templateValue->is_object()) {
    errors.push_back({"/task", "required: a task template ({\"type\": ..., \"capabilities\": [...], ...})"});
  } else {
    task = templateValue->as_object();
    for (const auto& [key, unused] : task)
      if (!kTemplateFields.count(key))
        errors.push_back({"/task/" + std::string(key), "not allowed in a batch's task template"});
    if (!task.contains("type") || !task["type"].is_string())
      errors.push_back({"/task/type", "required: a string"});
    if (task.contains("payload") && !task["payload"].is_object())
      errors.push_back({"/task/payload", "must be an object (the chunk's items are added to it)"});
  }
  json::array items;
  json::object inputRecord;
  const json::value* input = body.if_contains("input");
  if (input == nullptr || !input->is_object()) {
    errors.push_back(
        {"/input", "required: {\"items\": [...]} or {\"file\": \"name\", \"format\": \"jsonl\"|\"csv\"}"});
  } else {
    const json::object& source = input->as_object();
    const json::value* inline_ = source.if_contains("items");
    const json::value* file = source.if_contains("file");
    if ((inline_ == nullptr) == (file == nullptr)) {
      errors.push_back({"/input", "give exactly one of items and file"});
    } else if (inline_ != nullptr) {
      if (!inline_->is_array()) {
        errors.push_back({"/input/items", "must be an array"});
      } else if (inline_->as_array().size() > limits.maxItems) {
        errors.push_back(
            {"/input/items", "more than max_items " + std::to_string(limits.maxItems) + " items"});
      } else {
        items = inline_->as_array();
        inputRecord = {{"kind", "inline"}};
      }
    } else {
      std::string format = source.contains("format") && source.at("format").is_string()
                               ? std::string(source.at("format").as_string())
                               : "jsonl";
      if (format != "jsonl" && format != "csv") {
        errors.push_back({"/input/format", "must be jsonl or csv"});
      } else if (!file->is_string()) {
        errors.push_back({"/input/file", "must be a path relative to the input directory"});
      } else {
        Result<std::string> path =
            resolveInput(options_.inputDirectory, tenant, std::string(file->as_string()));
        Result<json::array> read =
            path.ok()
                ? readItems(*path, format == "csv" ? InputFormat::kCsv : InputFormat::kJsonLines, limits)
                : Result<json::array>(path.status());
        if (!read.ok())
          errors.push_back({"/input/file", read.status().message()});
        else
          items = std::move(*read);
        inputRecord = {{"kind", "file"}, {"file", *file}, {"format", format}};
      }
    }
  }
  if (errors.empty() && items.empty()) errors.push_back({"/input", "has no items"});
  std::size_t chunks =
      items.empty() ? 0 : (items.size() + static_cast<std::size_t>(chunkSize) - 1) / chunkSize;
  if (errors.empty() && chunks > limits.maxChunks)
    errors.push_back({"/chunk_size", std::to_string(items.size()) + " items in chunks of " +
                                         std::to_string(chunkSize) + " are " + std::to_string(chunks) +
                                         " chunks, more than max_chunks " +
                                         std::to_string(limits.maxChunks)});
  if (!errors.empty()) return invalidArgument("invalid batch");

  std::string id = plugin_common::timeOrderedId('b');
  json::object batch{{"id", id},
                     {"name", name},
                     {"status", "running"},
                     {"created_by", principal},
                     {"created_at_ms", plugin_common::nowMs()},
                     {"finished_at_ms", 0},
                     {"input", inputRecord},
                     {"chunk_size", chunkSize},
                     {"parallelism", parallelism},
                     {"retries", retries},
                     {"task", task},
                     {"total_items", items.size()},
                     {"total_chunks", chunks}};
  if (!tenant.empty()) batch["tenant"] = tenant;
  Status created = store->transact([&](store::Transaction& transaction) -> Status {
    if (!keyId.empty())
      HIVE_TRY(transaction.put(kKeys, document(keyId, {{"batch", id}}, {}), store::kMustNotExist).status());
    HIVE_TRY(transaction.put(kBatches, batchDocument(id, batch, "running"), store::kMustNotExist).status());
    for (std::size_t index = 0; index < chunks; ++index) {
      std::size_t first = index * static_cast<std::size_t>(chunkSize);
      std::size_t last = std::min(items.size(), first + static_cast<std::size_t>(chunkSize));
      json::array part(items.begin() + static_cast<std::ptrdiff_t>(first),
                       items.begin() + static_cast<std::ptrdiff_t>(last));
      json::object chunk{
          {"batch", id},       {"index", index}, {"first_item", first}, {"items", std::move(part)},
          {"state", kPending}, {"attempt", 1},   {"task_id", ""},       {"error", ""}};
      HIVE_TRY(transaction
                   .put(kChunks, document(chunkId(id, index), chunk, {{"batch", id}, {"state", kPending}}),
                        store::kMustNotExist)
                   .status());
    }
    return okStatus();
  });
  if (!created.ok() && created.code() == StatusCode::kAborted && !keyId.empty()) {
    // The same key raced this request and won.
    if (Result<store::Document> known = store->get(kKeys, keyId); known.ok()) {
      replayed = true;
      return get(stringField(parseObject(known->body), "batch"));
    }
  }
  HIVE_TRY(created);
  Result<json::object> answer = summary(batch);
  if (answer.ok()) event("batch.created", *answer);
  poke();
  return answer;
}

Result<json::object> Batches::summary(const json::object& batch) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::string id = stringField(batch, "id");
  auto counts = HIVE_TRY(store->counters("batches." + id + "."));
  auto count = [&](const char* name) {
    auto found = counts.find(counter(id, name));
    return found == counts.end() ? std::int64_t{0} : found->second;
  };
  json::object out = batch;
  out.erase("task");
  std::int64_t total = number(batch, "total_items"), done = count("items_succeeded"),
               failed = count("items_failed");
  out["total"] = total;
  out["done"] = done;
  out["failed"] = failed;
  out["chunks"] = json::object{{"total", number(batch, "total_chunks")},
                               {"succeeded", count("chunks_succeeded")},
                               {"failed", count("chunks_failed")},
                               {"retried", count("chunks_retried")}};
  std::int64_t end =
      stringField(batch, "status") == "running" ? plugin_common::nowMs() : number(batch, "finished_at_ms");
  double seconds = static_cast<double>(end - number(batch, "created_at_ms")) / 1000.0;
  double rate = seconds > 0 ? static_cast<double>(done + failed) / seconds : 0.0;
  out["items_per_second"] = rate;
  out["eta_ms"] = stringField(batch, "status") != "running" ? 0
                  : rate > 0
                      ? static_cast<std::int64_t>(static_cast<double>(total - done - failed) / rate * 1000)
                      : -1;
  out.erase("output_file");
  return out;
}

Result<json::object> Batches::get(const std::string& id) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  Result<store::Document> batch = store->get(kBatches, id);
  if (!batch.ok() && batch.status().code() == StatusCode::kNotFound) return notFound("no batch '" + id + "'");
  HIVE_TRY(batch.status());
  return summary(parseObject(batch->body));
}

Result<json::object> Batches::list(const std::optional<std::string>& tenant, const std::string& status,
                                   const std::string& cursor, std::size_t limit) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::map<std::string, std::string> equals;
  if (!status.empty()) equals["status"] = status;
  // A named tenant's are found by their index; the default tenant's also
  // include batches made before tenancy (nothing indexed), so they are read
  // unfiltered and a page may hold fewer than `limit` (follow next_cursor).
  if (tenant && !tenant->empty()) equals["tenant"] = *tenant;
  store::Page page = HIVE_TRY(store->list(query(kBatches, equals, limit, cursor)));
  json::array items;
  for (const store::Document& batch : page.items) {
    json::object body = parseObject(batch.body);
    if (tenant && stringField(body, "tenant") != *tenant) continue;
    items.push_back(HIVE_TRY(summary(body)));
  }
  json::object out{{"items", std::move(items)}};
  if (!page.nextCursor.empty()) out["next_cursor"] = page.nextCursor;
  return out;
}

Result<json::object> Batches::results(const std::string& id, const std::string& cursor, std::size_t limit) {
  HIVE_TRY(get(id).status());
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  store::Page page = HIVE_TRY(store->list(query(kChunks, {{"batch", id}}, limit, cursor)));
  json::array items;
  for (const store::Document& chunk : page.items) {
    json::object body = parseObject(chunk.body);
    json::object item{{"chunk", body["index"]},
                      {"first_item", body["first_item"]},
                      {"items", body["items"].is_array() ? body["items"].as_array().size() : 0},
                      {"state", body["state"]},
                      {"attempt", body["attempt"]},
                      {"task_id", body["task_id"]},
                      {"error", body["error"]}};
    if (body.contains("result")) item["result"] = body["result"];
    items.push_back(std::move(item));
  }
  json::object out{{"items", std::move(items)}};
  if (!page.nextCursor.empty()) out["next_cursor"] = page.nextCursor;
  return out;
}

Result<std::string> Batches::output(const std::string& id) {
  json::object batch = HIVE_TRY(get(id));
  if (stringField(batch, "status") == "running")
    return failedPrecondition("batch " + id + " is still running");
  std::string path = options_.outputDirectory + "/" + id + ".jsonl";
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return notFound("batch " + id + " has no output file (it was cancelled, or the file was removed)");
  if (size > options_.limits.maxOutputBytes)
    return resourceExhausted("the output has " + std::to_string(size) +
                             " bytes, more than max_output_bytes; read " + path +
                             " on the node, or page GET /api/v2/batches/" + id + "/results");
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Result<json::object> Batches::cancel(const std::string& id) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  Result<store::Document> found = store->get(kBatches, id);
  if (!found.ok() && found.status().code() == StatusCode::kNotFound) return notFound("no batch '" + id + "'");
  HIVE_TRY(found.status());
  json::object batch = parseObject(found->body);
  if (stringField(batch, "status") != "running")
    return failedPrecondition("batch " + id + " is " + stringField(batch, "status") + ", not running");
  // The worker cancels the submitted tasks (a request thread does not wait
  // on task_manager), then the batch is cancelled.
  batch["status"] = "cancelling";
  HIVE_TRY(store->put(kBatches, batchDocument(id, batch, "cancelling"), found->version).status());
  poke();
  return summary(batch);
}

Status Batches::finishCancel(const store::Document& stored) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::string id = stored.id;
  store::ListQuery submitted = query(kChunks, {{"batch", id}, {"state", kSubmitted}}, 1000);
  do {
    store::Page page = HIVE_TRY(store->list(submitted));
    for (const store::Document& chunk : page.items) {
      std::string taskId = stringField(parseObject(chunk.body), "task_id");
      http::Request request;
      request.path = request.target = "/api/v2/tasks/" + taskId + "/cancel";
      request.params["id"] = taskId;
      Result<http::Response> answer = plugin_common::callRouteAndWait(
          context_.services(), context_.pluginName(), "POST", "/api/v2/tasks/{id}/cancel", std::move(request),
          options_.taskCallTimeout, stringField(parseObject(stored.body), "tenant"));
      // 409: it had ended, which is as good; anything else is tried again next pass.
      if (!answer.ok() || (answer->status != 200 && answer->status != 404 && answer->status != 409))
        return unavailable(
            "cancelling task " + taskId + ": " +
            (answer.ok() ? "answered " + std::to_string(answer->status) : answer.status().message()));
    }
    submitted.cursor = page.nextCursor;
  } while (!submitted.cursor.empty());
  json::object batch = parseObject(stored.body);
  batch["status"] = "cancelled";
  batch["finished_at_ms"] = plugin_common::nowMs();
  HIVE_TRY(store->put(kBatches, batchDocument(id, batch, "cancelled"), stored.version).status());
  if (Result<json::object> answer = summary(batch); answer.ok()) event("batch.cancelled", *answer);
  return okStatus();
}

void Batches::event(const std::string& name, const json::object& summary) {
  json::object event{{"event", name}, {"batch", summary}};
  // Its tenant's clients only see it (the api's WebSocket hub).
  if (std::string tenant = stringField(summary, "tenant"); !tenant.empty()) event["tenant"] = tenant;
  std::string body = json::serialize(event);
  publish_("batches." + stringField(summary, "id"), body);
  publish_("batches", body);
}

Status Batches::advance(const store::Document& stored) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  json::object batch = parseObject(stored.body);
  const std::string id = stored.id;
  const std::int64_t retries = number(batch, "retries");
  const std::int64_t parallelism = number(batch, "parallelism");
  bool changed = false;

  // Moves one chunk to `state`, with the counters that count it, or nothing.
  auto transition = [&](const store::Document& chunk, json::object body, const char* state,
                        std::vector<std::pair<const char*, std::int64_t>> counts) -> Status {
    body["state"] = state;
    return store->transact([&](store::Transaction& transaction) -> Status {
      HIVE_TRY(
          transaction.put(kChunks, document(chunk.id, body, {{"batch", id}, {"state", state}}), chunk.version)
              .status());
      for (const auto& [name, delta] : counts) HIVE_TRY(transaction.addToCounter(counter(id, name), delta));
      return okStatus();
    });
  };

  // 1. The submitted chunks: has their task ended?
  std::int64_t inFlight = 0;
  store::ListQuery submitted = query(kChunks, {{"batch", id}, {"state", kSubmitted}}, 1000);
  do {
    store::Page page = HIVE_TRY(store->list(submitted));
    for (const store::Document& chunk : page.items) {
      json::object body = parseObject(chunk.body);
      std::string taskId = stringField(body, "task_id");
      http::Request request;
      request.path = request.target = "/api/v2/tasks/" + taskId;
      request.params["id"] = taskId;
      Result<http::Response> answer = plugin_common::callRouteAndWait(
          context_.services(), context_.pluginName(), "GET", "/api/v2/tasks/{id}", std::move(request),
          options_.taskCallTimeout, stringField(batch, "tenant"));
      if (!answer.ok() || (answer->status != 200 && answer->status != 404)) {
        ++inFlight;  // task_manager away: ask again next pass
        continue;
      }
      json::object task =
          answer->status == 200 ? parseObject(answer->body) : json::object{{"status", "dead"}};
      std::string status = stringField(task, "status");
      std::int64_t size =
          body["items"].is_array() ? static_cast<std::int64_t>(body["items"].as_array().size()) : 0;
      Status moved = okStatus();
      if (status == "succeeded") {
        body["result"] = task.contains("result") ? task["result"] : json::value(nullptr);
        moved = transition(chunk, body, kSucceeded, {{"chunks_succeeded", 1}, {"items_succeeded", size}});
      } else if (status == "failed" || status == "dead" || status == "cancelled") {
        std::string error = stringField(task, "error");
        body["error"] = error.empty() ? "task " + taskId + " ended " + status : error;
        if (number(body, "attempt") <= retries) {
          body["attempt"] = number(body, "attempt") + 1;
          moved = transition(chunk, body, kPending, {{"chunks_retried", 1}});
        } else {
          moved = transition(chunk, body, kFailed, {{"chunks_failed", 1}, {"items_failed", size}});
        }
      } else {
        ++inFlight;
        continue;
      }
      if (!moved.ok()) return moved;  // another node moved it: next pass sees it
      changed = true;
    }
    submitted.cursor = page.nextCursor;
  } while (!submitted.cursor.empty());

  // 2. Pending chunks, in order, up to the parallelism.
  std::int64_t slots = parallelism - inFlight;
  if (slots > 0) {
    store::Page page = HIVE_TRY(
        store->list(query(kChunks, {{"batch", id}, {"state", kPending}}, static_cast<std::size_t>(slots))));
    for (const store::Document& chunk : page.items) {
      json::object body = parseObject(chunk.body);
      json::object task = batch["task"].is_object() ? batch["task"].as_object() : json::object{};
      json::object payload = task.contains("payload") && task["payload"].is_object()
                                 ? task["payload"].as_object()
                                 : json::object{};
      payload["items"] = body["items"];
      payload["batch"] = id;
      payload["chunk"] = body["index"];
      payload["first_item"] = body["first_item"];
      task["payload"] = std::move(payload);
      http::Request request;
      request.path = request.target = "/api/v2/tasks";
      request.headers.push_back({"content-type", "application/json"});
      request.headers.push_back({"idempotency-key", "batch:" + id + ":" +
                                                        std::to_string(number(body, "index")) + ":" +
                                                        std::to_string(number(body, "attempt"))});
      request.body = json::serialize(task);
      Result<http::Response> answer = plugin_common::callRouteAndWait(
          context_.services(), context_.pluginName(), "POST", "/api/v2/tasks", std::move(request),
          options_.taskCallTimeout, stringField(batch, "tenant"));
      if (!answer.ok() || answer->status >= 500 || answer->status == 429 || answer->status == 408)
        break;  // task_manager away or full: the next pass tries again
      std::int64_t size =
          body["items"].is_array() ? static_cast<std::int64_t>(body["items"].as_array().size()) : 0;
      Status moved = okStatus();
      if (answer->status == 200 || answer->status == 201) {
        body["task_id"] = stringField(parseObject(answer->body), "id");
        moved = transition(chunk, body, kSubmitted, {});
      } else {
        // The template itself is refused: no retry makes it acceptable.
        json::object problem = parseObject(answer->body);
        body["error"] = "task_manager refused the chunk's task (" + std::to_string(answer->status) +
                        "): " + stringField(problem, "detail") +
                        (problem.contains("errors") ? " " + json::serialize(problem["errors"]) : "");
        moved = transition(chunk, body, kFailed, {{"chunks_failed", 1}, {"items_failed", size}});
      }
      if (!moved.ok()) return moved;
      changed = true;
    }
  }

  // 3. Done when every chunk succeeded or failed.
  auto counts = HIVE_TRY(store->counters("batches." + id + "."));
  std::int64_t ended = counts[counter(id, "chunks_succeeded")] + counts[counter(id, "chunks_failed")];
  if (ended == number(batch, "total_chunks")) return finish(std::move(batch), stored.version);
  if (changed) {
    if (Result<json::object> now = summary(batch); now.ok()) event("batch.progress", *now);
  }
  return okStatus();
}

Status Batches::finish(json::object batch, std::uint64_t version) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::string id = stringField(batch, "id");
  // Chunk by chunk in order; a succeeded chunk whose result has an array
  // `results` is one line per item, a failed chunk one line per item with its
  // error and input, any other result one line for the chunk.
  std::string path = options_.outputDirectory + "/" + id + ".jsonl";
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return unavailable("cannot write " + temporary);
    store::ListQuery chunks = query(kChunks, {{"batch", id}}, 100);
    do {
      store::Page page = HIVE_TRY(store->list(chunks));
      for (const store::Document& chunk : page.items) {
        json::object body = parseObject(chunk.body);
        json::array items = body["items"].is_array() ? body["items"].as_array() : json::array{};
        std::int64_t first = number(body, "first_item");
        if (stringField(body, "state") == kFailed) {
          for (std::size_t i = 0; i < items.size(); ++i)
            out << json::serialize(json::object{{"item", first + static_cast<std::int64_t>(i)},
                                                {"chunk", body["index"]},
                                                {"status", "failed"},
                                                {"error", body["error"]},
                                                {"input", items[i]}})
                << '\n';
          continue;
        }
        json::value result = body.contains("result") ? body["result"] : json::value(nullptr);
        const json::value* perItem = result.is_object() ? result.as_object().if_contains("results") : nullptr;
        if (perItem != nullptr && perItem->is_array() && perItem->as_array().size() == items.size()) {
          for (std::size_t i = 0; i < items.size(); ++i)
            out << json::serialize(json::object{{"item", first + static_cast<std::int64_t>(i)},
                                                {"chunk", body["index"]},
                                                {"status", "succeeded"},
                                                {"result", perItem->as_array()[i]}})
                << '\n';
        } else {
          out << json::serialize(json::object{{"chunk", body["index"]},
                                              {"first_item", first},
                                              {"items", items.size()},
                                              {"status", "succeeded"},
                                              {"result", result}})
              << '\n';
        }
      }
      chunks.cursor = page.nextCursor;
    } while (!chunks.cursor.empty());
    out.flush();
    if (!out) return unavailable("writing " + temporary + " failed");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return unavailable("renaming " + temporary + ": " + ec.message());
  auto counts = HIVE_TRY(store->counters("batches." + id + "."));
  std::string status = counts[counter(id, "chunks_failed")] > 0 ? "failed" : "succeeded";
  batch["status"] = status;
  batch["finished_at_ms"] = plugin_common::nowMs();
  batch["output"] = "/api/v2/batches/" + id + "/output";
  HIVE_TRY(store->put(kBatches, batchDocument(id, batch, status), version).status());
  if (Result<json::object> now = summary(batch); now.ok()) event("batch." + status, *now);
  context_.log().info("batch " + id + " " + status);
  return okStatus();
}

}  // namespace hive::data_processing_engine
