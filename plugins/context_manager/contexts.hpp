// Contexts: the entries of every scope, durable in hive.store/1, and the
// search index of each scope, in memory and in files.
//
// A context is one tenant's scope (ScopeRef): the same scope of two tenants
// is two contexts, each with its entries and its index. Entry ids are unique
// across tenants; an entry read by id is another context's unless both its
// tenant and its scope match (then "not found").
//
// The store is the truth. Two collections:
//   context_entries  id = 16 hex digits (time-ordered, also the index label),
//                    index {scope: scopeKey(), state: active | archived}, body JSON
//                    {scope, [tenant,] text, metadata, author, created_ms[, summary_of][, archived_by]}
//                    (no tenant: the default tenant's, as entries written before tenancy)
//   context_vectors  id = the entry's, index {scope: scopeKey()}, body: the float32 values
//                    (little-endian bytes) of its vector; `model` in the
//                    document's index says which embedder made them
// An entry is written to the store first, then to the index: a crash in
// between leaves the index short, which open() repairs.
//
// open() builds every scope's index: the lexical half from the texts, the
// semantic half from its file when that checks (VectorIndex::load) — then
// label by label against the store: vectors the store lacks are dropped,
// entries the graph lacks are added from context_vectors (or embedded again
// when their vector came from another model). No file, a torn file, or
// another model: the graph is built from the stored vectors.
//
// Every method blocks (store and embedder calls): run it on the blocking
// executor. Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "hive/log.hpp"
#include "hive/services.hpp"
#include "hive/services/embedder.hpp"
#include "hive/services/store.hpp"
#include "scope.hpp"
#include "scope_index.hpp"

namespace hive::context_manager {

struct EntryLimits {
  std::size_t maxTextBytes = 64 * 1024;
  std::size_t maxMetadataBytes = 16 * 1024;
  std::size_t maxK = 100;
};

struct IndexOptions {
  VectorParams vectors;  // dimension comes from the embedder
  SearchOptions search;
};

struct Entry {
  std::string id;
  std::string tenant;  // "" the default tenant
  std::string scope;
  std::string text;
  boost::json::value metadata;  // an object
  std::string author;
  std::int64_t createdMs = 0;
  bool archived = false;
  std::vector<std::string> summaryOf;  // for a summary: the entries it replaced
  std::string archivedBy;              // for an archived entry: the summary that replaced it

  ScopeRef context() const { return {tenant, scope}; }
  // "tenant" only for a named tenant's entry, as tasks show it.
  boost::json::object toJson() const;
};

struct EntryPage {
  std::vector<Entry> items;
  std::string nextCursor;
};

struct ScopeStats {
  std::size_t entries = 0;  // active, in the index
  std::size_t tokens = 0;   // estimated, of the active entries
  std::size_t vectors = 0;  // in the graph
};

// How open() found each scope's graph, for logs and tests.
struct OpenReport {
  std::size_t scopes = 0;
  std::size_t entries = 0;
  std::size_t loaded = 0;    // graphs read from their file
  std::size_t rebuilt = 0;   // graphs built from the store (no file, or it did not check)
  std::size_t repaired = 0;  // vectors added or dropped after a load, to match the store
};

class Contexts {
 public:
  Contexts(ServiceHandle<store::Store> store, std::shared_ptr<embedder::Embedder> embedder,
           EntryLimits limits, IndexOptions index, std::filesystem::path indexDirectory, Logger& log);

  Result<OpenReport> open();
  // Writes the graph file of every scope changed since its last save.
  Status saveIndexes();

  // kInvalidArgument: bad scope, text empty or too long, metadata not an object or too large.
  Result<Entry> put(const ScopeRef& context, const std::string& text, const boost::json::value& metadata,
                    const std::string& author);
  // kNotFound also for an entry of another context (another scope, or the same scope of another tenant).
  Result<Entry> get(const ScopeRef& context, const std::string& id);
  enum class Which { kActive, kArchived };
  Result<EntryPage> list(const ScopeRef& context, Which which, std::size_t limit, const std::string& cursor);
  Status remove(const ScopeRef& context, const std::string& id);
  // Removes every entry of the context, archived ones too; returns how many.
  Result<std::size_t> clear(const ScopeRef& context);
  Result<std::vector<Hit>> search(const ScopeRef& context, const std::string& query, std::size_t k,
                                  Ranking ranking = Ranking::kHybrid);
  ScopeStats stats(const ScopeRef& context) const;
  // Every context with an index, of every tenant.
  std::vector<ScopeRef> scopes() const;

  // Compression: `summary` becomes an active entry (summary_of = `replaced`),
  // and every entry of `replaced` still active is archived (archived_by = the
  // summary), in one unit of work with `alsoInUnit` (given the summary's id):
  // when that fails, nothing changes. The index follows.
  using UnitPart = std::function<Status(store::Transaction&, const std::string& summaryId)>;
  Result<Entry> replaceWithSummary(const ScopeRef& context, const std::vector<std::string>& replaced,
                                   const std::string& summary, const std::string& author,
                                   const boost::json::value& metadata, const UnitPart& alsoInUnit);

  const EntryLimits& limits() const { return limits_; }

 private:
  std::shared_ptr<ScopeIndex> scopeIndex(const ScopeRef& context, bool create);
  std::filesystem::path indexFile(const ScopeRef& context) const;
  std::uint64_t nextLabel();
  Result<std::vector<float>> embedOne(const std::string& text);

  ServiceHandle<store::Store> store_;
  std::shared_ptr<embedder::Embedder> embedder_;
  EntryLimits limits_;
  IndexOptions index_;
  std::filesystem::path indexDirectory_;
  Logger& log_;
  std::atomic<std::uint64_t> lastLabel_{0};
  mutable std::mutex mutex_;  // scopes_
  std::map<ScopeRef, std::shared_ptr<ScopeIndex>> scopes_;
};

// Entry ids are the labels in 16 hex digits; nullopt when `id` is not one.
std::optional<std::uint64_t> labelOf(const std::string& id);
std::string idOf(std::uint64_t label);

}  // namespace hive::context_manager
