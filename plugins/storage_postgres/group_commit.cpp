#include "group_commit.hpp"

#include <array>
#include <exception>
#include <utility>

#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace hive::storage_postgres {

GroupCommitter::GroupCommitter(ConnectionPool& pool, Operations& operations, Redactor redact,
                               std::size_t maxBatch, std::size_t concurrency, BatchMetrics metrics,
                               Publish publish)
    : pool_(pool),
      operations_(operations),
      publish_(std::move(publish)),
      redact_(std::move(redact)),
      maxBatch_(maxBatch),
      concurrency_(concurrency),
      metrics_(metrics) {}

Status GroupCommitter::run(const Operation& operation, Enqueue enqueue, SharedComplete complete) {
  Request request;
  request.operation = &operation;
  request.enqueue = enqueue;
  request.complete = complete;
  std::unique_lock lock(mutex_);
  pending_.push_back(&request);
  while (!request.done) {
    if (leaders_ < concurrency_ && !pending_.empty()) {
      ++leaders_;
      std::vector<Request*> batch;
      while (!pending_.empty() && batch.size() < maxBatch_) {
        batch.push_back(pending_.front());
        pending_.pop_front();
      }
      lock.unlock();
      execute(batch);
      lock.lock();
      for (Request* done : batch) {
        done->done = true;
        if (done != &request) done->wake.notify_one();
      }
      --leaders_;
      // A leader slot is free: the oldest waiting caller takes it.
      if (!pending_.empty()) pending_.front()->wake.notify_one();
    } else {
      // Woken when ours is done, or when a leader slot is free for us.
      request.wake.wait(lock);
    }
  }
  return std::move(request.status);
}

void GroupCommitter::runAll(pqxx::transaction_base& tx, std::vector<Request*>& live, bool together,
                            std::size_t& current, Wakeups& wakeups) {
  std::vector<bool> handled(live.size(), false);
  std::vector<std::size_t> shared;
  if (together)
    for (std::size_t i = 0; i < live.size(); ++i)
      if (live[i]->enqueue.request != nullptr) shared.push_back(i);
  if (shared.size() > 1) {
    std::vector<const store::EnqueueRequest*> requests;
    for (std::size_t i : shared) requests.push_back(live[i]->enqueue.request);
    current = live.size() + 1;  // a throw here is nobody's in particular
    auto items = operations_.enqueueMany(tx, requests, wakeups);
    for (std::size_t k = 0; k < shared.size(); ++k) {
      if (!items[k]) continue;  // conflicted: runs alone below
      Request& request = *live[shared[k]];
      *request.enqueue.result = std::move(*items[k]);
      request.status = okStatus();
      handled[shared[k]] = true;
    }
  }
  std::vector<std::size_t> completes;
  if (together)
    for (std::size_t i = 0; i < live.size(); ++i)
      if (live[i]->complete.queue != nullptr) completes.push_back(i);
  if (completes.size() > 1) {
    std::vector<std::array<const std::string*, 3>> entries;
    for (std::size_t i : completes)
      entries.push_back({live[i]->complete.queue, live[i]->complete.itemId, live[i]->complete.leaseToken});
    current = live.size() + 1;
    auto done = operations_.completeMany(tx, entries);
    for (std::size_t k = 0; k < completes.size(); ++k) {
      if (!done[k]) continue;  // stale or gone: complete() alone says which
      live[completes[k]]->status = okStatus();
      handled[completes[k]] = true;
    }
  }
  for (current = 0; current < live.size(); ++current) {
    if (handled[current]) continue;
    Wakeups own;
    live[current]->status = (*live[current]->operation)(tx, own);
    if (live[current]->status.ok()) wakeups.insert(own.begin(), own.end());
  }
  current = live.size();
}

void GroupCommitter::execute(std::vector<Request*>& batch) {
  if (metrics_.batchSize) metrics_.batchSize->observe(static_cast<double>(batch.size()));
  if (metrics_.batches) metrics_.batches->increment();
  std::vector<Request*> live = batch;
  auto failAll = [&](const Status& status) {
    for (Request* request : live) request->status = status;
  };
  auto lease = pool_.acquire();
  if (!lease.ok()) return failAll(lease.status());
  int commitRetries = 0;
  bool together = true;
  // Each round either commits, or drops/retries the request whose statement threw.
  for (std::size_t round = 0; round < batch.size() + 5 && !live.empty(); ++round) {
    std::size_t current = live.size();  // the request running when something threw; size = none
    try {
      Wakeups wakeups;
      if (live.size() == 1) {
        // Alone: its one write statement commits by itself (autocommit), which
        // saves the BEGIN and COMMIT round trips. Its reads change nothing.
        pqxx::nontransaction tx(lease->connection());
        runAll(tx, live, together, current, wakeups);
      } else {
        pqxx::work tx(lease->connection());
        runAll(tx, live, together, current, wakeups);
        tx.commit();
      }
      if (publish_) publish_(wakeups);
      return;
    } catch (const std::exception& error) {
      if (isConnectionLoss(error)) {
        lease->markBroken();
        return failAll(statusFromException(error, redact_));
      }
      if (current == live.size() + 1) {
        together = false;  // the shared INSERT failed: find the culprit one by one
        continue;
      }
      if (current < live.size()) {
        Request* culprit = live[current];
        if (isRetryable(error) && ++culprit->retries < 3) continue;
        culprit->status = statusFromException(error, redact_);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(current));
        continue;
      }
      // The COMMIT failed: it concerns the whole batch.
      if (isRetryable(error) && ++commitRetries < 3) continue;
      return failAll(statusFromException(error, redact_));
    }
  }
  if (!live.empty()) failAll(aborted("group commit gave up after repeated conflicts"));
}

}  // namespace hive::storage_postgres
