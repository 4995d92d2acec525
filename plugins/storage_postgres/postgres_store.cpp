#include "postgres_store.hpp"

#include <exception>
#include <map>
#include <utility>
#include <vector>

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "migrations.hpp"

namespace hive::storage_postgres {
namespace {

// A unit of work inside transact(). Once a statement fails the transaction is
// aborted on the server, so every later operation returns that first failure.
class UnitOfWork final : public store::Transaction {
 public:
  UnitOfWork(pqxx::transaction_base& tx, std::size_t slot, Operations& operations, const Redactor& redact)
      : tx_(tx), slot_(slot), operations_(operations), redact_(redact) {}

  Result<store::Document> get(const std::string& collection, const std::string& id) override {
    return guarded<store::Document>([&] { return operations_.get(tx_, collection, id); });
  }
  Result<store::Document> put(const std::string& collection, store::Document document,
                              std::uint64_t expectedVersion) override {
    return guarded<store::Document>(
        [&] { return operations_.put(tx_, collection, std::move(document), expectedVersion); });
  }
  Status remove(const std::string& collection, const std::string& id,
                std::uint64_t expectedVersion) override {
    return guardedStatus([&] { return operations_.remove(tx_, collection, id, expectedVersion); });
  }
  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override {
    return guarded<store::QueueItem>([&] { return operations_.enqueue(tx_, request, wakeups_); });
  }
  Status complete(const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken) override {
    return guardedStatus([&] { return operations_.complete(tx_, queue, itemId, leaseToken); });
  }
  Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
              std::chrono::milliseconds retryAfter, const std::string& error) override {
    return guardedStatus(
        [&] { return operations_.fail(tx_, queue, itemId, leaseToken, retryAfter, error, wakeups_); });
  }
  Status cancel(const std::string& queue, const std::string& itemId) override {
    return guardedStatus([&] { return operations_.cancel(tx_, queue, itemId); });
  }
  // The first event on a stream is written at once: it locks the stream's row
  // to the commit, so the ids after it are this unit's to give, and its other
  // events on the stream go in one statement at flush() (a claim of ten tasks
  // wrote ten statements before).
  Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                               const std::string& body) override {
    return guarded<std::uint64_t>([&]() -> Result<std::uint64_t> {
      auto pending = pending_.find(stream);
      if (pending == pending_.end()) {
        std::uint64_t id = HIVE_TRY(operations_.append(tx_, stream, type, body));
        pending_.emplace(stream, Pending{id, {}});
        return id;
      }
      HIVE_TRY(operations_.checkEvent(stream, type, body));
      pending->second.events.push_back({type, body});
      return pending->second.firstId + pending->second.events.size();
    });
  }
  // Before the commit: the counter additions and the events append() kept back.
  void flush() {
    if (!counts_.empty()) {
      Status written = guardedStatus([&] { return operations_.addToCounters(tx_, slot_, counts_); });
      if (!written.ok()) {
        if (failure_.ok()) failure_ = written;
        return;
      }
    }
    for (const auto& [stream, pending] : pending_) {
      Status written =
          guardedStatus([&] { return operations_.appendMany(tx_, stream, pending.firstId, pending.events); });
      if (!written.ok()) {
        if (failure_.ok()) failure_ = written;
        return;
      }
    }
  }

  // FOR UPDATE SKIP LOCKED, as Store::claim(): the rows stay locked until this
  // unit ends, so a concurrent unit skips them, and a rollback undoes the lease.
  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override {
    return guarded<std::vector<store::QueueItem>>([&] { return operations_.claim(tx_, request); });
  }
  Result<store::QueueItem> extend(const std::string& queue, const std::string& itemId,
                                  const std::string& leaseToken, std::chrono::milliseconds lease) override {
    return guarded<store::QueueItem>(
        [&] { return operations_.extend(tx_, queue, itemId, leaseToken, lease); });
  }
  // Kept, summed per counter, and written in one statement at flush(): a task's
  // submission, claim and result were seven counter statements, each a round
  // trip. A sum beyond the bigint range fails the unit of work, here or there.
  Status addToCounter(const std::string& name, std::int64_t delta) override {
    if (!failure_.ok()) return failure_;
    HIVE_TRY(checkName(name, "counter"));
    std::int64_t& sum = counts_[name];
    if (__builtin_add_overflow(sum, delta, &sum)) {
      failure_ = Status(StatusCode::kOutOfRange, "counter '" + name + "' would leave the 64-bit range");
      return failure_;
    }
    return okStatus();
  }

  const Status& failure() const { return failure_; }
  bool retryable() const { return retryable_; }
  bool connectionLost() const { return connectionLost_; }
  const Wakeups& wakeups() const { return wakeups_; }

 private:
  template <typename T, typename Operation>
  Result<T> guarded(Operation&& operation) {
    if (!failure_.ok()) return failure_;
    try {
      return operation();
    } catch (const std::exception& error) {
      record(error);
      return failure_;
    }
  }
  template <typename Operation>
  Status guardedStatus(Operation&& operation) {
    if (!failure_.ok()) return failure_;
    try {
      return operation();
    } catch (const std::exception& error) {
      record(error);
      return failure_;
    }
  }
  void record(const std::exception& error) {
    failure_ = statusFromException(error, redact_);
    retryable_ = isRetryable(error);
    connectionLost_ = isConnectionLoss(error);
  }

  struct Pending {
    std::uint64_t firstId = 0;
    std::vector<Operations::PendingEvent> events;
  };

  pqxx::transaction_base& tx_;
  const std::size_t slot_;
  Operations& operations_;
  const Redactor& redact_;
  std::map<std::string, Pending> pending_;
  std::map<std::string, std::int64_t> counts_;
  Wakeups wakeups_;
  Status failure_;
  bool retryable_ = false;
  bool connectionLost_ = false;
};

constexpr int kTransactAttempts = 5;

}  // namespace

PostgresStore::PostgresStore(const Config& config, Logger& log, Metrics& metrics, ServiceRegistry* services)
    : config_(config),
      redact_(passwordOf(config.url)),
      log_(log),
      connectionString_(withConnectTimeout(config.url, config.connectTimeout)),
      statements_(config.schema),
      operations_(Limits{config.maxDocumentBytes, config.maxPayloadBytes, config.maxEventBytes}) {
  const MetricLabels labels = {{"schema", config.schema}};
  PoolSettings poolSettings{connectionString_, config.poolSize, config.acquireTimeout,
                            config.reconnectBackoffInitial, config.reconnectBackoffMax};
  PoolMetrics poolMetrics{
      &metrics.gauge("hive_store_postgres_pool_in_use", "Pooled PostgreSQL connections in use", labels),
      &metrics.counter("hive_store_postgres_reconnects_total",
                       "Successful PostgreSQL connects after the database was unreachable", labels),
      &metrics.counter("hive_store_postgres_connect_failures_total", "Failed PostgreSQL connection attempts",
                       labels)};
  const std::string statementTimeout = std::to_string(config.statementTimeout.count());
  auto setup = [this, statementTimeout](pqxx::connection& connection) {
    {
      pqxx::nontransaction session(connection);
      session.exec("SET statement_timeout = " + statementTimeout);
    }
    statements_.prepareAll(connection);
  };
  pool_ = std::make_unique<ConnectionPool>(std::move(poolSettings), std::move(setup), redact_, poolMetrics);
  BatchMetrics batchMetrics{
      &metrics.histogram("hive_store_postgres_batch_size", "Write requests per group-commit transaction",
                         {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, labels),
      &metrics.counter("hive_store_postgres_batches_total", "Group-commit transactions", labels)};
  notifier_ = std::make_unique<ClaimableNotifier>(
      NotifierSettings{connectionString_, notifyChannel(config.schema), config.reconnectBackoffInitial,
                       config.reconnectBackoffMax},
      redact_, log_,
      &metrics.counter("hive_store_postgres_listener_reconnects_total",
                       "Reconnects of the LISTEN connection for onClaimable", labels),
      &metrics.counter("hive_store_postgres_notifications_dropped_total",
                       "onClaimable wake-ups not sent because too many were pending", labels),
      services);
  committer_ = std::make_unique<GroupCommitter>(
      *pool_, operations_, redact_, config.batchMaxSize, config.batchConcurrency, batchMetrics,
      [this](const Wakeups& wakeups) { notifier_->publish(wakeups); });
}

PostgresStore::~PostgresStore() { close(); }

Status PostgresStore::open() {
  try {
    pqxx::connection connection(connectionString_);
    auto before = migrate(connection, config_.schema, redact_);
    if (!before.ok()) return before.status();
    schemaVersion_ = latestSchemaVersion();
    if (*before != latestSchemaVersion())
      log_.info("schema '" + config_.schema + "' migrated from version " + std::to_string(*before) + " to " +
                std::to_string(latestSchemaVersion()));
  } catch (const std::exception& error) {
    Status status = statusFromException(error, redact_);
    return unavailable("cannot connect to " + redactUrl(config_.url) + ": " + status.message());
  }
  notifier_->start(config_.connectTimeout);
  open_ = true;
  return okStatus();
}

void PostgresStore::close() {
  open_ = false;
  // Writes in flight finish first; then the notifier sends their wake-ups and stops.
  if (pool_) pool_->shutdown();
  if (notifier_) notifier_->stop();
}

template <typename T, typename Read>
Result<T> PostgresStore::readOnly(Read&& read) {
  if (!open_) return unavailable("store is stopped");
  auto lease = pool_->acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::nontransaction tx(lease->connection());
    return read(static_cast<pqxx::transaction_base&>(tx));
  } catch (const std::exception& error) {
    if (isConnectionLoss(error)) lease->markBroken();
    return statusFromException(error, redact_);
  }
}

Status PostgresStore::write(const GroupCommitter::Operation& operation, GroupCommitter::Enqueue enqueue,
                            SharedComplete complete) {
  if (!open_) return unavailable("store is stopped");
  return committer_->run(operation, enqueue, complete);
}

template <typename T, typename Operation>
Result<T> PostgresStore::writeResult(Operation&& operation) {
  Result<T> result = internalError("not run");
  Status status = write([&](pqxx::transaction_base& tx, Wakeups& wakeups) {
    result = operation(tx, wakeups);
    return result.status();
  });
  if (!status.ok()) return status;
  return result;
}

// ---- documents

Status PostgresStore::declareCollection(const store::CollectionSpec& spec) {
  HIVE_TRY(checkName(spec.name, "collection"));
  return write([&](pqxx::transaction_base& tx, Wakeups&) { return operations_.declareCollection(tx, spec); });
}

Result<store::Document> PostgresStore::get(const std::string& collection, const std::string& id) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(id, "document"));
  return readOnly<store::Document>(
      [&](pqxx::transaction_base& tx) { return operations_.get(tx, collection, id); });
}

Result<store::Document> PostgresStore::put(const std::string& collection, store::Document document,
                                           std::uint64_t expectedVersion) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(document.id, "document"));
  return writeResult<store::Document>([&](pqxx::transaction_base& tx, Wakeups&) {
    return operations_.put(tx, collection, document, expectedVersion);
  });
}

Status PostgresStore::remove(const std::string& collection, const std::string& id,
                             std::uint64_t expectedVersion) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(id, "document"));
  return write([&](pqxx::transaction_base& tx, Wakeups&) {
    return operations_.remove(tx, collection, id, expectedVersion);
  });
}

Result<store::Page> PostgresStore::list(const store::ListQuery& query) {
  HIVE_TRY(checkName(query.collection, "collection"));
  return readOnly<store::Page>([&](pqxx::transaction_base& tx) { return operations_.list(tx, query); });
}

// ---- queue

Result<store::QueueItem> PostgresStore::enqueue(store::EnqueueRequest request) {
  HIVE_TRY(checkEnqueue(request, operations_.limits()));
  Result<store::QueueItem> item = internalError("not run");
  Status status = write(
      [&](pqxx::transaction_base& tx, Wakeups& wakeups) {
        item = operations_.enqueue(tx, request, wakeups);
        return item.status();
      },
      GroupCommitter::Enqueue{&request, &item});
  if (!status.ok()) return status;
  return item;
}

Result<std::vector<store::QueueItem>> PostgresStore::claim(const store::ClaimRequest& request) {
  HIVE_TRY(checkClaim(request));
  return writeResult<std::vector<store::QueueItem>>(
      [&](pqxx::transaction_base& tx, Wakeups&) { return operations_.claim(tx, request); });
}

Result<store::QueueItem> PostgresStore::extend(const std::string& queue, const std::string& itemId,
                                               const std::string& leaseToken,
                                               std::chrono::milliseconds lease) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  HIVE_TRY(checkLease(lease));
  return writeResult<store::QueueItem>([&](pqxx::transaction_base& tx, Wakeups&) {
    return operations_.extend(tx, queue, itemId, leaseToken, lease);
  });
}

Status PostgresStore::complete(const std::string& queue, const std::string& itemId,
                               const std::string& leaseToken) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  return write([&](pqxx::transaction_base& tx,
                   Wakeups&) { return operations_.complete(tx, queue, itemId, leaseToken); },
               {}, SharedComplete{&queue, &itemId, &leaseToken});
}

Status PostgresStore::fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
                           std::chrono::milliseconds retryAfter, const std::string& error) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  return write([&](pqxx::transaction_base& tx, Wakeups& wakeups) {
    return operations_.fail(tx, queue, itemId, leaseToken, retryAfter, error, wakeups);
  });
}

Status PostgresStore::cancel(const std::string& queue, const std::string& itemId) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  return write([&](pqxx::transaction_base& tx, Wakeups&) { return operations_.cancel(tx, queue, itemId); });
}

Result<std::vector<store::QueueItem>> PostgresStore::releaseExpired(const std::string& queue) {
  HIVE_TRY(checkName(queue, "queue"));
  return writeResult<std::vector<store::QueueItem>>([&](pqxx::transaction_base& tx, Wakeups& wakeups) {
    return operations_.releaseExpired(tx, queue, wakeups);
  });
}

Result<store::QueueItem> PostgresStore::peek(const std::string& queue, const std::string& itemId) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  return readOnly<store::QueueItem>(
      [&](pqxx::transaction_base& tx) { return operations_.peek(tx, queue, itemId); });
}

Result<std::map<int, std::uint64_t>> PostgresStore::depth(const std::string& queue) {
  HIVE_TRY(checkName(queue, "queue"));
  return readOnly<std::map<int, std::uint64_t>>(
      [&](pqxx::transaction_base& tx) { return operations_.depth(tx, queue); });
}

std::unique_ptr<Subscription> PostgresStore::onClaimable(const std::string& queue,
                                                         std::function<void()> callback) {
  if (!checkName(queue, "queue").ok() || !callback) {
    log_.warn("onClaimable: ignoring a subscription with an invalid queue name or no callback");
    class Nothing final : public Subscription {};
    return std::make_unique<Nothing>();
  }
  return notifier_->subscribe(queue, std::move(callback));
}

// ---- events

Result<std::uint64_t> PostgresStore::append(const std::string& stream, const std::string& type,
                                            const std::string& body) {
  HIVE_TRY(checkName(stream, "stream"));
  return writeResult<std::uint64_t>(
      [&](pqxx::transaction_base& tx, Wakeups&) { return operations_.append(tx, stream, type, body); });
}

Result<std::vector<store::Event>> PostgresStore::read(const std::string& stream, std::uint64_t afterId,
                                                      std::size_t limit) {
  HIVE_TRY(checkName(stream, "stream"));
  return readOnly<std::vector<store::Event>>(
      [&](pqxx::transaction_base& tx) { return operations_.read(tx, stream, afterId, limit); });
}

Result<std::uint64_t> PostgresStore::trim(const std::string& stream, std::int64_t beforeMs,
                                          std::size_t limit) {
  HIVE_TRY(checkName(stream, "stream"));
  if (!open_) return unavailable("store is stopped");
  // Its own transaction, not the group committer's: a retention batch of
  // thousands of deletes must not hold up the submissions batched with it.
  return ownTransaction<std::uint64_t>(
      [&](pqxx::work& tx) { return operations_.trim(tx, stream, beforeMs, limit); });
}

Result<std::uint64_t> PostgresStore::eraseEvents(const std::string& stream,
                                                 const std::vector<std::uint64_t>& ids) {
  HIVE_TRY(checkName(stream, "stream"));
  if (!open_) return unavailable("store is stopped");
  return ownTransaction<std::uint64_t>(
      [&](pqxx::work& tx) { return operations_.eraseEvents(tx, stream, ids); });
}

template <typename T, typename Work>
Result<T> PostgresStore::ownTransaction(Work&& work) {
  auto lease = pool_->acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::work tx(lease->connection());
    Result<T> done = work(tx);
    if (!done.ok()) return done.status();
    tx.commit();
    return done;
  } catch (const std::exception& error) {
    if (isConnectionLoss(error)) lease->markBroken();
    return statusFromException(error, redact_);
  }
}

// ---- counters

Result<std::map<std::string, std::int64_t>> PostgresStore::counters(const std::string& prefix) {
  return readOnly<std::map<std::string, std::int64_t>>(
      [&](pqxx::transaction_base& tx) { return operations_.counters(tx, prefix); });
}

// ---- units of work

Status PostgresStore::transact(const std::function<Status(store::Transaction&)>& work) {
  if (!open_) return unavailable("store is stopped");
  Status last;
  for (int attempt = 1; attempt <= kTransactAttempts; ++attempt) {
    auto lease = pool_->acquire();
    if (!lease.ok()) return lease.status();
    try {
      pqxx::work tx(lease->connection());
      UnitOfWork unit(tx, lease->slot(), operations_, redact_);
      Status outcome;
      try {
        outcome = work(unit);
      } catch (const std::exception& error) {
        outcome = internalError(std::string("unit of work threw: ") + redact_(error.what()));
      } catch (...) {
        outcome = internalError("unit of work threw a non-standard exception");
      }
      if (outcome.ok()) unit.flush();
      if (!unit.failure().ok()) {
        if (unit.connectionLost()) lease->markBroken();
        last = unit.failure();
        if (unit.retryable()) continue;  // the server asked for a retry: run the work again
        return outcome.ok() ? unit.failure() : outcome;
      }
      if (!outcome.ok()) {
        tx.abort();
        return outcome;
      }
      tx.commit();
      notifier_->publish(unit.wakeups());
      return okStatus();
    } catch (const std::exception& error) {
      if (isConnectionLoss(error)) lease->markBroken();
      last = statusFromException(error, redact_);
      if (isRetryable(error)) continue;
      return last;
    }
  }
  return last.withContext("unit of work still conflicting after " + std::to_string(kTransactAttempts) +
                          " attempts");
}

// ---- health

Status PostgresStore::health() const {
  if (!open_) return unavailable("store is stopped");
  HIVE_TRY(notifier_->state());
  return pool_->lastConnectError();
}

Status PostgresStore::ping() {
  if (!open_) return unavailable("store is stopped");
  auto lease = pool_->acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::nontransaction tx(lease->connection());
    tx.exec("SELECT 1");
    return okStatus();
  } catch (const std::exception& error) {
    if (isConnectionLoss(error)) lease->markBroken();
    Status status = statusFromException(error, redact_);
    return unavailable(status.message());
  }
}

}  // namespace hive::storage_postgres
