#include "contexts.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "plugin_common/clock_ids.hpp"
#include "scope.hpp"

namespace hive::context_manager {

namespace json = boost::json;

namespace {

constexpr const char* kEntries = "context_entries";
constexpr const char* kVectors = "context_vectors";
constexpr const char* kActive = "active";
constexpr const char* kArchived = "archived";
constexpr std::size_t kPage = 1000;
constexpr std::size_t kEmbedBatch = 64;
constexpr int kLabelRetries = 4;

std::string vectorBytes(const std::vector<float>& vector) {
  std::string bytes(vector.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), vector.data(), bytes.size());
  return bytes;
}

std::optional<std::vector<float>> vectorFrom(const store::Document& document, const std::string& model,
                                             std::size_t dimension) {
  auto stored = document.index.find("model");
  if (stored == document.index.end() || stored->second != model ||
      document.body.size() != dimension * sizeof(float))
    return std::nullopt;
  std::vector<float> vector(dimension);
  std::memcpy(vector.data(), document.body.data(), document.body.size());
  return vector;
}

Result<Entry> entryFrom(const store::Document& document) {
  std::error_code ec;
  json::value body = json::parse(document.body, ec);
  if (ec || !body.is_object()) return Status(StatusCode::kDataLoss, "entry " + document.id + " is not JSON");
  const json::object& fields = body.get_object();
  Entry entry;
  entry.id = document.id;
  auto text = [&](const char* key) {
    const json::value* value = fields.if_contains(key);
    return value && value->is_string() ? std::string(value->get_string()) : std::string();
  };
  entry.tenant = text("tenant");
  entry.scope = text("scope");
  entry.text = text("text");
  entry.author = text("author");
  entry.archivedBy = text("archived_by");
  if (const json::value* value = fields.if_contains("metadata")) entry.metadata = *value;
  if (!entry.metadata.is_object()) entry.metadata = json::object{};
  if (const json::value* value = fields.if_contains("created_ms"); value && value->is_int64())
    entry.createdMs = value->get_int64();
  if (const json::value* value = fields.if_contains("summary_of"); value && value->is_array())
    for (const json::value& id : value->get_array())
      if (id.is_string()) entry.summaryOf.emplace_back(id.get_string());
  auto state = document.index.find("state");
  entry.archived = state != document.index.end() && state->second == kArchived;
  return entry;
}

store::Document documentOf(const Entry& entry) {
  json::object body{{"scope", entry.scope},
                    {"text", entry.text},
                    {"metadata", entry.metadata},
                    {"author", entry.author},
                    {"created_ms", entry.createdMs}};
  if (!entry.tenant.empty()) body["tenant"] = entry.tenant;
  if (!entry.summaryOf.empty()) {
    json::array ids;
    for (const std::string& id : entry.summaryOf) ids.emplace_back(id);
    body["summary_of"] = std::move(ids);
  }
  if (!entry.archivedBy.empty()) body["archived_by"] = entry.archivedBy;
  store::Document document;
  document.id = entry.id;
  document.body = json::serialize(body);
  document.index = {{"scope", scopeKey(entry.context())}, {"state", entry.archived ? kArchived : kActive}};
  return document;
}

}  // namespace

json::object Entry::toJson() const {
  json::object out{
      {"id", id},         {"scope", scope},          {"text", text},        {"metadata", metadata},
      {"author", author}, {"created_ms", createdMs}, {"archived", archived}};
  if (!summaryOf.empty()) {
    json::array ids;
    for (const std::string& replaced : summaryOf) ids.emplace_back(replaced);
    out["summary_of"] = std::move(ids);
  }
  if (!archivedBy.empty()) out["archived_by"] = archivedBy;
  if (!tenant.empty()) out["tenant"] = tenant;
  return out;
}

std::string idOf(std::uint64_t label) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(label));
  return buffer;
}

std::optional<std::uint64_t> labelOf(const std::string& id) {
  if (id.size() != 16) return std::nullopt;
  std::uint64_t label = 0;
  for (char c : id) {
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    label = label << 4 | static_cast<std::uint64_t>(digit);
  }
  return label;
}

Contexts::Contexts(ServiceHandle<store::Store> store, std::shared_ptr<embedder::Embedder> embedder,
                   EntryLimits limits, IndexOptions index, std::filesystem::path indexDirectory, Logger& log)
    : store_(std::move(store)),
      embedder_(std::move(embedder)),
      limits_(limits),
      index_(index),
      indexDirectory_(std::move(indexDirectory)),
      log_(log) {
  index_.vectors.dimension = embedder_->dimension();
}

std::uint64_t Contexts::nextLabel() {
  // Time-ordered (milliseconds in the high bits), unique in this process; a
  // clash with another process sharing the store is caught by kMustNotExist.
  auto now = static_cast<std::uint64_t>(plugin_common::nowMs()) << 16;
  std::uint64_t last = lastLabel_.load();
  std::uint64_t next = 0;
  do {
    next = std::max(now, last + 1);
  } while (!lastLabel_.compare_exchange_weak(last, next));
  return next;
}

std::filesystem::path Contexts::indexFile(const ScopeRef& context) const {
  return indexDirectory_ / (indexFileStem(context) + ".hnsw");
}

std::shared_ptr<ScopeIndex> Contexts::scopeIndex(const ScopeRef& context, bool create) {
  std::lock_guard lock(mutex_);
  auto found = scopes_.find(context);
  if (found != scopes_.end()) return found->second;
  if (!create) return nullptr;
  auto index = std::make_shared<ScopeIndex>(index_.vectors, index_.search);
  scopes_.emplace(context, index);
  return index;
}

Result<std::vector<float>> Contexts::embedOne(const std::string& text) {
  auto vectors = HIVE_TRY(embedder_->embed({text}), "embedding");
  if (vectors.size() != 1 || vectors[0].size() != index_.vectors.dimension)
    return unavailable("the embedder answered with a vector of another size");
  return std::move(vectors[0]);
}

Result<OpenReport> Contexts::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->declareCollection({kEntries, {"scope", "state"}}));
  HIVE_TRY(store->declareCollection({kVectors, {"scope", "model"}}));
  struct Stored {
    std::uint64_t label;
    std::string id;
    std::string text;
  };
  std::map<ScopeRef, std::vector<Stored>> byScope;
  OpenReport report;
  std::string cursor;
  do {
    auto page = HIVE_TRY(
        store->list(
            {.collection = kEntries, .equals = {{"state", kActive}}, .limit = kPage, .cursor = cursor}),
        "reading the context entries");
    for (const store::Document& document : page.items) {
      auto entry = entryFrom(document);
      auto label = labelOf(document.id);
      if (!entry.ok() || !label) {
        log_.warn("context entry " + document.id + " skipped: not an entry this plugin wrote");
        continue;
      }
      byScope[entry->context()].push_back({*label, entry->id, std::move(entry->text)});
      if (*label > lastLabel_) lastLabel_ = *label;
      ++report.entries;
    }
    cursor = page.nextCursor;
  } while (!cursor.empty());

  const std::string model = embedder_->model();
  for (auto& [context, entries] : byScope) {
    auto loaded = VectorIndex::load(indexFile(context), model, index_.vectors);
    if (!loaded.ok() && loaded.status().code() != StatusCode::kNotFound)
      log_.warn("context index of " + context.text() +
                " rebuilt from the store: " + loaded.status().message());
    bool fromFile = loaded.ok();
    auto index = std::make_shared<ScopeIndex>(index_.vectors, index_.search,
                                              fromFile ? std::move(loaded).value() : nullptr);
    std::unordered_set<std::uint64_t> inStore;
    for (const Stored& entry : entries) {
      index->add(entry.label, entry.id, entry.text, nullptr);
      inStore.insert(entry.label);
    }
    for (std::uint64_t label : index->vectorLabels())
      if (inStore.count(label) == 0) {
        index->dropVector(label);
        ++report.repaired;
      }
    std::unordered_set<std::uint64_t> inGraph;
    for (std::uint64_t label : index->vectorLabels()) inGraph.insert(label);
    std::vector<const Stored*> missing;
    for (const Stored& entry : entries)
      if (inGraph.count(entry.label) == 0) missing.push_back(&entry);
    if (fromFile) {
      ++report.loaded;
      report.repaired += missing.size();
    } else {
      ++report.rebuilt;
    }
    // The stored vectors of the missing entries: one listing when many, a get
    // each when few (a file a few writes behind the store).
    std::unordered_map<std::string, std::vector<float>> vectors;
    const std::string key = scopeKey(context);
    if (missing.size() > kPage / 10) {
      std::string next;
      do {
        auto page = HIVE_TRY(store->list({.collection = kVectors,
                                          .equals = {{"scope", key}, {"model", model}},
                                          .limit = kPage,
                                          .cursor = next}),
                             "reading the context vectors");
        for (const store::Document& document : page.items)
          if (auto vector = vectorFrom(document, model, index_.vectors.dimension))
            vectors.emplace(document.id, std::move(*vector));
        next = page.nextCursor;
      } while (!next.empty());
    } else {
      for (const Stored* entry : missing)
        if (auto document = store->get(kVectors, entry->id); document.ok())
          if (auto vector = vectorFrom(*document, model, index_.vectors.dimension))
            vectors.emplace(entry->id, std::move(*vector));
    }
    std::vector<const Stored*> unembedded;
    for (const Stored* entry : missing) {
      auto found = vectors.find(entry->id);
      if (found == vectors.end()) {
        unembedded.push_back(entry);
        continue;
      }
      index->add(entry->label, entry->id, entry->text, &found->second);
    }
    // Vectors of another model (the embedder changed): embedded again, kept.
    for (std::size_t start = 0; start < unembedded.size(); start += kEmbedBatch) {
      std::vector<std::string> texts;
      std::size_t end = std::min(unembedded.size(), start + kEmbedBatch);
      for (std::size_t i = start; i < end; ++i) texts.push_back(unembedded[i]->text);
      auto embedded =
          HIVE_TRY(embedder_->embed(texts), "embedding the entries of " + context.text() + " again");
      for (std::size_t i = start; i < end; ++i) {
        const Stored& entry = *unembedded[i];
        index->add(entry.label, entry.id, entry.text, &embedded[i - start]);
        store::Document document{.id = entry.id,
                                 .body = vectorBytes(embedded[i - start]),
                                 .index = {{"scope", key}, {"model", model}}};
        HIVE_TRY(store->put(kVectors, std::move(document)), "storing a vector");
      }
    }
    std::lock_guard lock(mutex_);
    scopes_[context] = index;
  }
  report.scopes = byScope.size();
  HIVE_TRY(saveIndexes());
  return report;
}

Status Contexts::saveIndexes() {
  std::vector<std::pair<ScopeRef, std::shared_ptr<ScopeIndex>>> dirty;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [context, index] : scopes_)
      if (index->dirty()) dirty.emplace_back(context, index);
  }
  for (auto& [context, index] : dirty) HIVE_TRY(index->save(indexFile(context), embedder_->model()));
  return okStatus();
}

Result<Entry> Contexts::put(const ScopeRef& context, const std::string& text, const json::value& metadata,
                            const std::string& author) {
  HIVE_TRY(checkScope(context.scope));
  if (text.empty()) return invalidArgument("text must not be empty");
  if (text.size() > limits_.maxTextBytes)
    return invalidArgument("text has " + std::to_string(text.size()) + " bytes; the limit is " +
                           std::to_string(limits_.maxTextBytes) + " (max_text_bytes)");
  if (!metadata.is_object() && !metadata.is_null()) return invalidArgument("metadata must be an object");
  Entry entry;
  entry.tenant = context.tenant;
  entry.scope = context.scope;
  entry.text = text;
  entry.metadata = metadata.is_null() ? json::value(json::object{}) : metadata;
  if (std::size_t bytes = json::serialize(entry.metadata).size(); bytes > limits_.maxMetadataBytes)
    return invalidArgument("metadata has " + std::to_string(bytes) + " bytes; the limit is " +
                           std::to_string(limits_.maxMetadataBytes) + " (max_metadata_bytes)");
  entry.author = author;
  entry.createdMs = plugin_common::nowMs();
  auto vector = HIVE_TRY(embedOne(text));
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::uint64_t label = 0;
  Status written = okStatus();
  for (int attempt = 0; attempt < kLabelRetries; ++attempt) {
    label = nextLabel();
    entry.id = idOf(label);
    store::Document vectorDocument{.id = entry.id,
                                   .body = vectorBytes(vector),
                                   .index = {{"scope", scopeKey(context)}, {"model", embedder_->model()}}};
    written = store->transact([&](store::Transaction& tx) -> Status {
      HIVE_TRY(tx.put(kEntries, documentOf(entry), store::kMustNotExist));
      HIVE_TRY(tx.put(kVectors, vectorDocument));
      return okStatus();
    });
    if (written.code() != StatusCode::kAborted) break;
  }
  HIVE_TRY(written, "storing the entry");
  scopeIndex(context, true)->add(label, entry.id, entry.text, &vector);
  return entry;
}

Result<Entry> Contexts::get(const ScopeRef& context, const std::string& id) {
  HIVE_TRY(checkScope(context.scope));
  // The caller's scope only: another tenant's entry is as absent as one never written.
  auto absent = [&] { return notFound("no entry '" + id + "' in " + context.scope); };
  if (!labelOf(id)) return absent();
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto document = store->get(kEntries, id);
  if (!document.ok()) {
    if (document.status().code() == StatusCode::kNotFound) return absent();
    return document.status();
  }
  auto entry = HIVE_TRY(entryFrom(*document));
  if (entry.context() != context) return absent();
  return entry;
}

Result<EntryPage> Contexts::list(const ScopeRef& context, Which which, std::size_t limit,
                                 const std::string& cursor) {
  HIVE_TRY(checkScope(context.scope));
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto page = HIVE_TRY(store->list(
      {.collection = kEntries,
       .equals = {{"scope", scopeKey(context)}, {"state", which == Which::kActive ? kActive : kArchived}},
       .limit = limit,
       .cursor = cursor}));
  EntryPage out;
  out.nextCursor = page.nextCursor;
  for (const store::Document& document : page.items)
    if (auto entry = entryFrom(document); entry.ok() && entry->context() == context)
      out.items.push_back(std::move(entry).value());
  return out;
}

Status Contexts::remove(const ScopeRef& context, const std::string& id) {
  auto entry = HIVE_TRY(get(context, id));
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.remove(kEntries, id));
    if (Status removed = tx.remove(kVectors, id); !removed.ok() && removed.code() != StatusCode::kNotFound)
      return removed;
    return okStatus();
  }));
  if (auto index = scopeIndex(context, false)) index->remove(*labelOf(id));
  return okStatus();
}

Result<std::size_t> Contexts::clear(const ScopeRef& context) {
  HIVE_TRY(checkScope(context.scope));
  std::size_t removed = 0;
  for (Which which : {Which::kActive, Which::kArchived}) {
    while (true) {
      // Always the first page: the previous one is gone.
      auto page = HIVE_TRY(list(context, which, 100, ""));
      if (page.items.empty()) break;
      for (const Entry& entry : page.items) {
        Status done = remove(context, entry.id);
        if (!done.ok() && done.code() != StatusCode::kNotFound) return done;
        ++removed;
      }
    }
  }
  return removed;
}

Result<std::vector<Hit>> Contexts::search(const ScopeRef& context, const std::string& query, std::size_t k,
                                          Ranking ranking) {
  HIVE_TRY(checkScope(context.scope));
  if (query.empty()) return invalidArgument("q must not be empty");
  if (query.size() > limits_.maxTextBytes) return invalidArgument("q is longer than max_text_bytes");
  if (k < 1 || k > limits_.maxK)
    return invalidArgument("k must be between 1 and " + std::to_string(limits_.maxK) + " (max_k)");
  auto index = scopeIndex(context, false);
  if (!index) return std::vector<Hit>{};
  std::vector<float> vector;
  if (ranking != Ranking::kLexical) vector = HIVE_TRY(embedOne(query));
  return index->search(query, vector, k, ranking);
}

ScopeStats Contexts::stats(const ScopeRef& context) const {
  std::shared_ptr<ScopeIndex> index;
  {
    std::lock_guard lock(mutex_);
    auto found = scopes_.find(context);
    if (found == scopes_.end()) return {};
    index = found->second;
  }
  return {index->entries(), index->tokens(), index->vectors()};
}

std::vector<ScopeRef> Contexts::scopes() const {
  std::lock_guard lock(mutex_);
  std::vector<ScopeRef> out;
  for (const auto& [context, index] : scopes_) out.push_back(context);
  return out;
}

Result<Entry> Contexts::replaceWithSummary(const ScopeRef& context, const std::vector<std::string>& replaced,
                                           const std::string& summary, const std::string& author,
                                           const json::value& metadata, const UnitPart& alsoInUnit) {
  HIVE_TRY(checkScope(context.scope));
  if (summary.empty()) return invalidArgument("the summary is empty");
  Entry entry;
  entry.tenant = context.tenant;
  entry.scope = context.scope;
  // A summary longer than an entry may be is cut, not refused: the task is done.
  entry.text = summary.substr(0, limits_.maxTextBytes);
  entry.metadata = metadata.is_object() ? metadata : json::value(json::object{});
  entry.author = author;
  entry.createdMs = plugin_common::nowMs();
  entry.summaryOf = replaced;
  auto vector = HIVE_TRY(embedOne(entry.text));
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::uint64_t label = nextLabel();
  entry.id = idOf(label);
  std::vector<std::uint64_t> archived;
  HIVE_TRY(store->transact([&](store::Transaction& tx) -> Status {
    archived.clear();
    HIVE_TRY(tx.put(kEntries, documentOf(entry), store::kMustNotExist));
    HIVE_TRY(tx.put(kVectors, {.id = entry.id,
                               .body = vectorBytes(vector),
                               .index = {{"scope", scopeKey(context)}, {"model", embedder_->model()}}}));
    for (const std::string& id : replaced) {
      auto document = tx.get(kEntries, id);
      if (!document.ok()) continue;  // deleted meanwhile
      auto original = entryFrom(*document);
      if (!original.ok() || original->context() != context || original->archived) continue;
      original->archived = true;
      original->archivedBy = entry.id;
      HIVE_TRY(tx.put(kEntries, documentOf(*original), document->version));
      if (Status gone = tx.remove(kVectors, id); !gone.ok() && gone.code() != StatusCode::kNotFound)
        return gone;
      archived.push_back(*labelOf(id));
    }
    return alsoInUnit(tx, entry.id);
  }),
           "archiving the summarised entries");
  auto index = scopeIndex(context, true);
  index->add(label, entry.id, entry.text, &vector);
  for (std::uint64_t old : archived) index->remove(old);
  return entry;
}

}  // namespace hive::context_manager
