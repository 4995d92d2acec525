// Group commit: single write calls from many threads share one transaction.
//
// A caller queues its operation; while fewer than `concurrency` batches are in
// flight, it becomes the leader of the next batch: it takes up to `maxBatch`
// queued operations (its own among the first), runs them in one transaction and
// commits once. The others wait for their result. One fsync then covers the
// whole batch, which is how many small writes per second get past PostgreSQL's
// per-commit cost.
//
// One failure does not fail the others. Every operation is a single write
// statement (plus reads), so one that answers with an error status changed
// nothing and the transaction goes on. One whose statement throws aborts the
// transaction: the batch is rolled back and run again without it (a deadlock or
// serialization failure is retried instead, up to three times). Nothing was
// committed, so the others simply run again; this is a savepoint per request
// without paying two round trips per request for it. A batch of one runs in
// autocommit: its single write statement is its own transaction.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include <pqxx/transaction_base>

#include "connection_pool.hpp"
#include "errors.hpp"
#include "hive/metrics.hpp"
#include "operations.hpp"

namespace hive::storage_postgres {

struct BatchMetrics {
  Histogram* batchSize = nullptr;
  Counter* batches = nullptr;
};

// An enqueue that may share one multi-row INSERT with the other enqueues of its
// batch. Its operation still runs it alone when its row conflicts (idempotency
// key, existing id) or the shared statement fails.
struct SharedEnqueue {
  const store::EnqueueRequest* request = nullptr;
  Result<store::QueueItem>* result = nullptr;
};

// A complete that may share one multi-row DELETE with the other completes of its
// batch; its operation runs it alone when the shared statement did not match.
struct SharedComplete {
  const std::string* queue = nullptr;
  const std::string* itemId = nullptr;
  const std::string* leaseToken = nullptr;
};

class GroupCommitter {
 public:
  // Runs inside the batch's transaction; returns its outcome and records the
  // wakeups to send once committed. May throw what libpqxx throws.
  using Operation = std::function<Status(pqxx::transaction_base&, Wakeups&)>;

  // Called after each commit with the batch's wakeups (to NOTIFY them).
  using Publish = std::function<void(const Wakeups&)>;

  GroupCommitter(ConnectionPool& pool, Operations& operations, Redactor redact, std::size_t maxBatch,
                 std::size_t concurrency, BatchMetrics metrics, Publish publish);

  using Enqueue = SharedEnqueue;

  // Blocks until `operation` is committed (OK) or refused. The operation's own
  // results (captured by reference) are valid only when this returns OK.
  Status run(const Operation& operation, Enqueue enqueue = {}, SharedComplete complete = {});

 private:
  struct Request {
    const Operation* operation = nullptr;
    Enqueue enqueue;
    SharedComplete complete;
    Status status;
    bool done = false;
    int retries = 0;
    // Its own: woken when it is done, or when it may lead the next batch,
    // rather than every waiting caller on every finished batch.
    std::condition_variable wake;
  };

  void execute(std::vector<Request*>& batch);
  // Runs `live` in `tx`; the enqueues among them in one statement when `together`.
  void runAll(pqxx::transaction_base& tx, std::vector<Request*>& live, bool together, std::size_t& current,
              Wakeups& wakeups);

  ConnectionPool& pool_;
  Operations& operations_;
  const Publish publish_;
  const Redactor redact_;
  const std::size_t maxBatch_;
  const std::size_t concurrency_;
  const BatchMetrics metrics_;

  std::mutex mutex_;
  std::deque<Request*> pending_;
  std::size_t leaders_ = 0;
};

}  // namespace hive::storage_postgres
