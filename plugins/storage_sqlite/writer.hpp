// The one writer: a thread that owns the read-write connection and commits
// write requests in groups. Callers submit a unit of work and wait; the thread
// takes every request waiting (up to max_batch), runs each inside its own
// SAVEPOINT of one transaction, and commits once — one fsync for the group.
// A request that fails is rolled back to its savepoint and gets its own error;
// the others of the group still commit. Each caller waits for its own result.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "connection.hpp"
#include "hive/metrics.hpp"
#include "hive/services/watchdog.hpp"
#include "hive/status.hpp"
#include "operations.hpp"

namespace hive::storage_sqlite {

class Writer {
 public:
  // Runs on the writer thread inside the group's transaction. It may record
  // what it made claimable in `effects`; they are published only if it commits.
  using Work = std::function<Status(Connection&, WriteEffects&)>;
  // Called on the writer thread after each commit with what the group changed.
  using AfterCommit = std::function<void(const WriteEffects&)>;

  struct Instruments {
    Histogram* batchSize = nullptr;  // requests per commit
    Counter* commits = nullptr;
    Counter* failedCommits = nullptr;
  };

  Writer(std::unique_ptr<Connection> connection, std::size_t maxBatch, std::size_t maxPending,
         Instruments instruments, AfterCommit afterCommit);
  ~Writer();  // stops
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Optional (hive.watchdog/1): beaten as the thread works, idle while it
  // waits for requests. Set before start().
  void watchWith(std::unique_ptr<watchdog::Heartbeat> heartbeat) { heartbeat_ = std::move(heartbeat); }
  // Fault injection for tests of supervision: the first batch once `file`
  // exists (any batch when it is empty) waits `stall` before it runs, without
  // beating. Set before start().
  void injectStall(std::chrono::milliseconds stall, std::string file) {
    stall_ = stall;
    stallFile_ = std::move(file);
  }

  // After a group in which a committed request freed pages in bulk
  // (WriteEffects::freedPages), give up to `pages` free pages back to the file
  // system in the same transaction (PRAGMA incremental_vacuum; the database
  // must be in auto_vacuum = INCREMENTAL mode, or it does nothing). 0: never.
  // Small steps keep the group's commit short. Set before start().
  void reclaimFreedPages(std::size_t pages) { reclaimPages_ = pages; }

  void start();
  // Finishes the requests already queued, refuses new ones, joins the thread.
  void stop();

  // Blocks until `work` has committed (its status, OK) or failed (its error),
  // or kUnavailable when stopped. kFailedPrecondition when called from the
  // writer thread itself (a store call inside transact()).
  Status submit(const Work& work);

 private:
  struct Request {
    const Work* work = nullptr;
    WriteEffects effects;
    Status status;
    bool done = false;
    // Its own: a finished group wakes only its own callers, not every waiting one.
    std::condition_variable finished;
  };

  void run();
  void runBatch(std::vector<Request*>& batch);

  std::unique_ptr<Connection> connection_;
  const std::size_t maxBatch_;
  const std::size_t maxPending_;
  Instruments instruments_;
  AfterCommit afterCommit_;
  std::unique_ptr<watchdog::Heartbeat> heartbeat_;
  std::size_t reclaimPages_ = 0;
  std::chrono::milliseconds stall_{0};
  std::string stallFile_;

  std::mutex mutex_;
  std::condition_variable work_;  // the writer waits for requests
  std::condition_variable room_;  // submitters wait for room in the queue
  std::deque<Request*> pending_;
  bool stopping_ = false;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace hive::storage_sqlite
