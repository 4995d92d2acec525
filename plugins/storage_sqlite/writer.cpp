#include "writer.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <exception>
#include <thread>
#include <utility>

#include "plugin_common/thread_name.hpp"

namespace hive::storage_sqlite {

namespace {
thread_local const Writer* currentWriter = nullptr;
}  // namespace

Writer::Writer(std::unique_ptr<Connection> connection, std::size_t maxBatch, std::size_t maxPending,
               Instruments instruments, AfterCommit afterCommit)
    : connection_(std::move(connection)),
      maxBatch_(maxBatch),
      maxPending_(maxPending),
      instruments_(instruments),
      afterCommit_(std::move(afterCommit)) {}

Writer::~Writer() { stop(); }

void Writer::start() {
  std::lock_guard lock(mutex_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    plugin_common::nameThisThread("sqlite-writer");
    run();
  });
}

void Writer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  work_.notify_all();
  room_.notify_all();
  thread_.join();
  std::lock_guard lock(mutex_);
  running_ = false;
}

Status Writer::submit(const Work& work) {
  if (currentWriter == this)
    return failedPrecondition("store called from inside its own transact() unit: use the Transaction");
  Request request;
  request.work = &work;
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] { return stopping_ || !running_ || pending_.size() < maxPending_; });
  if (stopping_ || !running_) return unavailable("storage_sqlite is stopped");
  pending_.push_back(&request);
  work_.notify_one();
  request.finished.wait(lock, [&] { return request.done; });
  return request.status;
}

void Writer::run() {
  currentWriter = this;
  std::vector<Request*> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (heartbeat_ && pending_.empty()) heartbeat_->idle();
      work_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (heartbeat_) heartbeat_->beat();
      if (pending_.empty()) break;  // stopping, nothing left
      while (!pending_.empty() && batch.size() < maxBatch_) {
        batch.push_back(pending_.front());
        pending_.pop_front();
      }
    }
    room_.notify_all();
    if (stall_.count() > 0 && (stallFile_.empty() || access(stallFile_.c_str(), F_OK) == 0))
      std::this_thread::sleep_for(std::exchange(stall_, std::chrono::milliseconds(0)));
    runBatch(batch);
    if (heartbeat_) heartbeat_->beat();
    {
      // Notified under the lock: a caller may return (and destroy its request)
      // as soon as it sees `done`.
      std::lock_guard lock(mutex_);
      for (Request* r : batch) {
        r->done = true;
        r->finished.notify_one();
      }
    }
    batch.clear();
  }
  if (heartbeat_) heartbeat_->idle();  // stopped is not stalled, even if this object outlives its thread
  currentWriter = nullptr;
}

void Writer::runBatch(std::vector<Request*>& batch) {
  Connection& c = *connection_;
  Status begin = c.execute("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    for (Request* r : batch) r->status = begin.withContext("starting the write transaction");
    if (instruments_.failedCommits) instruments_.failedCommits->increment();
    return;
  }
  bool transactionLost = false;
  for (Request* r : batch) {
    if (transactionLost) {
      r->status = unavailable("the write transaction was rolled back by an earlier request of its group");
      continue;
    }
    Status status = c.run("SAVEPOINT request");
    if (status.ok()) {
      try {
        status = (*r->work)(c, r->effects);
      } catch (const std::exception& e) {
        status = internalError(std::string("exception in a store operation: ") + e.what());
      } catch (...) {
        status = internalError("exception in a store operation");
      }
      if (status.ok()) status = c.run("RELEASE request");
    }
    if (!status.ok()) {
      r->effects.clear();
      if (sqlite3_get_autocommit(c.handle()) != 0) {
        transactionLost = true;
      } else {
        (void)c.run("ROLLBACK TO request");
        (void)c.run("RELEASE request");
      }
    }
    r->status = std::move(status);
  }
  if (transactionLost) {
    // SQLite rolled back the whole transaction (I/O error, disk full): nothing of
    // the group committed, so nobody may be told OK.
    for (Request* r : batch) {
      if (r->status.ok()) r->status = unavailable("the write transaction was rolled back; retry");
      r->effects.clear();
    }
    if (instruments_.failedCommits) instruments_.failedCommits->increment();
    return;
  }
  bool freed = false;
  for (Request* r : batch) freed = freed || (r->status.ok() && r->effects.freedPages);
  if (freed && reclaimPages_ > 0) {
    // Housekeeping: when it fails (statement rolled back), the pages stay on the
    // free list for later writes and the group still commits what it did.
    (void)c.execute("PRAGMA incremental_vacuum(" + std::to_string(reclaimPages_) + ")");
  }
  Status commit = c.execute("COMMIT");
  if (!commit.ok()) {
    (void)c.execute("ROLLBACK");
    for (Request* r : batch) {
      if (r->status.ok()) r->status = commit.withContext("commit");
      r->effects.clear();
    }
    if (instruments_.failedCommits) instruments_.failedCommits->increment();
    return;
  }
  if (instruments_.commits) instruments_.commits->increment();
  if (instruments_.batchSize) instruments_.batchSize->observe(static_cast<double>(batch.size()));
  WriteEffects effects;
  for (Request* r : batch) effects.merge(r->effects);
  if (afterCommit_ && (!effects.claimable.empty() || !effects.claimableAt.empty())) afterCommit_(effects);
}

}  // namespace hive::storage_sqlite
