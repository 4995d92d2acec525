// Batches: a dataset split into chunks of N items, one task per chunk.
//
// The whole state is in the store: the batch (collection `batches`), each
// chunk with its items, state, attempt and task (collection `batch_chunks`,
// ids "<batch>.<index, 6 digits>" so that the store's id order is the chunk
// order), and exact counts (store counters `batches.<id>.*`, moved in the
// same unit of work as the chunk they count). A worker thread advances the
// running batches: it reads each submitted chunk's task through
// task_manager's routes, records the outcome (retrying a failed chunk per the
// batch's policy), and submits pending chunks up to the batch's parallelism.
// A chunk's task is submitted with the Idempotency-Key
// "batch:<id>:<index>:<attempt>", so after a crash between the submission and
// its record the same task is found again, never a second one; a finished
// chunk is never submitted again. After a kill -9 the next process goes on
// from what the store holds.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"

namespace hive::data_processing_engine {

class Batches {
 public:
  using Publish = std::function<void(const std::string& topic, const std::string& payload)>;
  Batches(PluginContext& context, ServiceHandle<store::Store> store, Options options, Publish publish);
  ~Batches();
  Batches(const Batches&) = delete;
  Batches& operator=(const Batches&) = delete;

  // Declares the collections, creates the directories.
  Status open();
  // The worker thread. stop() waits for its pass to end.
  void start();
  void stop();
  // Something changed (a task event, a new batch): advance soon.
  void poke();

  const Options& options() const { return options_; }
  ServiceRegistry& services() { return context_.services(); }

  // The REST side; all blocking. `errors` gets field errors of a bad body;
  // `replayed` is set when `idempotencyKey` named an existing batch of `tenant`.
  // A batch is its creator's tenant's (hive.tenancy/1): so are its tasks, its
  // Idempotency-Key and its input file (under tenants/<tenant>/ for a named one).
  Result<boost::json::object> create(const boost::json::value& body, const std::string& principal,
                                     const std::string& tenant, const std::string& idempotencyKey,
                                     std::vector<http::FieldError>& errors, bool& replayed);
  Result<boost::json::object> get(const std::string& id);
  // `tenant` nullopt: every tenant's.
  Result<boost::json::object> list(const std::optional<std::string>& tenant, const std::string& status,
                                   const std::string& cursor, std::size_t limit);
  // Chunks in order with their state, result or error.
  Result<boost::json::object> results(const std::string& id, const std::string& cursor, std::size_t limit);
  // The JSON lines output of a finished batch.
  Result<std::string> output(const std::string& id);
  // Stops submitting at once (status `cancelling`); the worker cancels the
  // submitted tasks, then the batch is `cancelled`.
  Result<boost::json::object> cancel(const std::string& id);

  // One pass over every running batch (the worker's loop body).
  void advanceAll();

 private:
  void run();
  Status advance(const store::Document& batch);
  Status finish(boost::json::object batch, std::uint64_t version);
  Status finishCancel(const store::Document& batch);
  Result<boost::json::object> summary(const boost::json::object& batch);
  void event(const std::string& name, const boost::json::object& summary);

  PluginContext& context_;
  ServiceHandle<store::Store> store_;
  const Options options_;
  Publish publish_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool poked_ = false;
  bool stopping_ = true;
  std::thread worker_;
};

}  // namespace hive::data_processing_engine
