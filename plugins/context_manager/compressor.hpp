// Compression: a context over its budget gets its oldest entries summarised by
// an agent, through ONE task with the `summarize` capability; the summary
// replaces them in search and they stay readable, archived. No LLM in Hive.
//
// A compression is a record in the store (collection context_compressions,
// index {scope: scopeKey(), state: pending | done | failed}, body {scope,
// [tenant,] entries, task_id, summary_id, error}), written before its task is
// submitted: at most one is pending per context (a tenant's scope), across
// restarts. Its task is submitted through task_manager's POST /api/v2/tasks
// with the record id as Idempotency-Key, so a crash between the record and the
// task, or a retry, gives the same task. Both calls act for the context's
// tenant (hive::tenancy::actingFor): the task is that tenant's, and only that
// tenant's agents take it.
// advance() reads each pending task (GET /api/v2/tasks/{id}); a succeeded one
// ends the compression: Contexts::replaceWithSummary() archives the originals,
// adds the summary and marks the record done in one unit of work (a crash
// cannot add the summary twice). A failed, cancelled or dead task marks it
// failed; the next check over budget starts another.
//
// The task's payload is {"scope", "compression", "instructions",
// "entries": [{"id", "text", "author", "created_ms"}]}, oldest first; the
// agent answers with the result {"summary": "..."} (or a JSON string).
//
// Blocking methods: run them on the blocking executor. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/json.hpp>

#include "config.hpp"
#include "contexts.hpp"
#include "hive/log.hpp"
#include "hive/services.hpp"
#include "hive/services/store.hpp"

namespace hive::context_manager {

class Compressor {
 public:
  Compressor(std::shared_ptr<Contexts> contexts, ServiceHandle<store::Store> store, ServiceRegistry& services,
             std::string self, BudgetOptions budget, Logger& log);

  Status open();  // declares the collection, learns the pending compressions
  // Starts a compression of `context` when it is over budget and none is pending.
  void check(const ScopeRef& context);
  // Submits what is not submitted yet, and finishes what its task finished.
  void advance();
  // {"pending": bool, "task_id", "entries": n} of the pending compression, or {"pending": false}.
  boost::json::object describe(const ScopeRef& context) const;

 private:
  struct Pending {
    std::string record;
    std::string taskId;
    std::size_t entries = 0;
  };
  Status submit(const std::string& recordId, const boost::json::object& record);
  void finish(const store::Document& record);
  bool overBudget(const ScopeStats& stats) const;

  std::shared_ptr<Contexts> contexts_;
  ServiceHandle<store::Store> store_;
  ServiceRegistry& services_;
  std::string self_;
  BudgetOptions budget_;
  Logger& log_;
  mutable std::mutex mutex_;
  std::map<ScopeRef, Pending> pending_;  // a record id "" while one is being started
};

}  // namespace hive::context_manager
