#include "sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <utility>

#include "schema.hpp"
#include "validation.hpp"

namespace hive::storage_sqlite {

std::int64_t epochMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// One operation of a unit of work: runs inside its own savepoint, so that an
// operation that fails leaves nothing behind even when `work` goes on.
class SqliteTransaction final : public store::Transaction {
 public:
  SqliteTransaction(Connection& connection, Operations& operations, WriteEffects& effects)
      : c_(connection), operations_(operations), effects_(effects) {}

  Result<store::Document> get(const std::string& collection, const std::string& id) override {
    return operations_.get(c_, collection, id);
  }
  Result<store::Document> put(const std::string& collection, store::Document document,
                              std::uint64_t expectedVersion) override {
    return step<store::Document>(
        [&] { return operations_.put(c_, collection, std::move(document), expectedVersion, epochMs()); });
  }
  Status remove(const std::string& collection, const std::string& id,
                std::uint64_t expectedVersion) override {
    return stepStatus([&] { return operations_.remove(c_, collection, id, expectedVersion, effects_); });
  }
  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override {
    return step<store::QueueItem>(
        [&] { return operations_.enqueue(c_, std::move(request), epochMs(), effects_); });
  }
  Status complete(const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken) override {
    return stepStatus([&] { return operations_.complete(c_, queue, itemId, leaseToken); });
  }
  Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
              std::chrono::milliseconds retryAfter, const std::string& error) override {
    return stepStatus([&] {
      return operations_.fail(c_, queue, itemId, leaseToken, retryAfter, error, epochMs(), effects_);
    });
  }
  Status cancel(const std::string& queue, const std::string& itemId) override {
    return stepStatus([&] { return operations_.cancel(c_, queue, itemId); });
  }
  Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                               const std::string& body) override {
    return step<std::uint64_t>([&] { return operations_.append(c_, stream, type, body, epochMs()); });
  }
  // The writer runs one unit at a time, so two units never claim the same item;
  // a unit that fails rolls back to its request savepoint, leases included.
  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override {
    return step<std::vector<store::QueueItem>>(
        [&] { return operations_.claim(c_, request, epochMs(), effects_); });
  }
  Result<store::QueueItem> extend(const std::string& queue, const std::string& itemId,
                                  const std::string& leaseToken, std::chrono::milliseconds lease) override {
    return step<store::QueueItem>(
        [&] { return operations_.extend(c_, queue, itemId, leaseToken, lease, epochMs(), effects_); });
  }
  Status addToCounter(const std::string& name, std::int64_t delta) override {
    return stepStatus([&] { return operations_.addToCounter(c_, name, delta); });
  }

 private:
  template <typename T, typename F>
  Result<T> step(F&& operation) {
    HIVE_TRY(c_.run("SAVEPOINT operation"));
    Result<T> result = operation();
    if (result.ok()) {
      HIVE_TRY(c_.run("RELEASE operation"));
    } else {
      (void)c_.run("ROLLBACK TO operation");
      (void)c_.run("RELEASE operation");
    }
    return result;
  }
  template <typename F>
  Status stepStatus(F&& operation) {
    HIVE_TRY(c_.run("SAVEPOINT operation"));
    Status status = operation();
    if (status.ok()) return c_.run("RELEASE operation");
    (void)c_.run("ROLLBACK TO operation");
    (void)c_.run("RELEASE operation");
    return status;
  }

  Connection& c_;
  Operations& operations_;
  WriteEffects& effects_;
};

}  // namespace

SqliteStore::SqliteStore(const Settings& settings, std::uint32_t schemaVersion)
    : operations_(Limits{settings.maxDocumentBytes, settings.maxPayloadBytes}),
      schemaVersion_(schemaVersion) {}

SqliteStore::~SqliteStore() { close(); }

void SqliteStore::close() {
  closed_ = true;
  if (writer_) writer_->stop();
  if (notifier_) notifier_->stop();
}

Result<std::shared_ptr<SqliteStore>> SqliteStore::open(const std::string& path, const Settings& settings,
                                                       Metrics& metrics, watchdog::Watchdog* watchdog,
                                                       ServiceRegistry* services) {
  auto writeConnection =
      HIVE_TRY(Connection::open(path, Connection::Mode::kReadWrite, settings.busyTimeout), "storage_sqlite");
  // Must come before the first table is created (migrate() creates
  // schema_version): only a new database takes it. An existing one keeps its
  // mode until an operator runs VACUUM once (docs/storage.md); we never VACUUM
  // on our own, it rewrites the whole file under the write lock.
  HIVE_TRY(writeConnection->execute("PRAGMA auto_vacuum = INCREMENTAL"), "opening " + path);
  HIVE_TRY(writeConnection->execute("PRAGMA journal_mode = WAL"), "enabling WAL on " + path);
  {
    auto mode = HIVE_TRY(writeConnection->prepare("PRAGMA journal_mode"));
    HIVE_TRY(mode.step());
    if (mode.text(0) != "wal")
      return unavailable("storage_sqlite: " + path + " cannot use WAL mode (journal_mode is " + mode.text(0) +
                         ")");
  }
  HIVE_TRY(writeConnection->execute(settings.synchronous == Synchronous::kFull
                                        ? "PRAGMA synchronous = FULL"
                                        : "PRAGMA synchronous = NORMAL"));
  HIVE_TRY(writeConnection->execute("PRAGMA foreign_keys = ON"));
  // Deleted and overwritten content is zeroed where that costs no extra I/O:
  // an erased project's bytes do not linger in a page's free space.
  HIVE_TRY(writeConnection->execute("PRAGMA secure_delete = FAST"));
  // Each request of a group and each operation in it runs in its own
  // SAVEPOINT, whose undo log SQLite keeps as a temporary file by default:
  // 80% of the writes of a submission burst went to /var/tmp, not the WAL.
  // It is bounded by one group's changes; keep it in memory.
  HIVE_TRY(writeConnection->execute("PRAGMA temp_store = MEMORY"));
  std::uint32_t version = HIVE_TRY(migrate(*writeConnection, path), "storage_sqlite");

  std::vector<std::unique_ptr<Connection>> readConnections;
  for (int i = 0; i < settings.readers; ++i) {
    auto reader = HIVE_TRY(Connection::open(path, Connection::Mode::kReadOnly, settings.busyTimeout),
                           "storage_sqlite reader");
    readConnections.push_back(std::move(reader));
  }

  std::shared_ptr<SqliteStore> store(new SqliteStore(settings, version));
  store->readers_ = std::make_unique<ReaderPool>(std::move(readConnections));
  SqliteStore* self = store.get();
  store->notifier_ = std::make_unique<Notifier>(
      [self](const std::string& queue, std::int64_t now) {
        std::int64_t at = 0;
        Status status = self->readOnly([&](Connection& c) -> Status {
          at = HIVE_TRY(self->operations_.nextClaimableAt(c, queue, now));
          return okStatus();
        });
        return status.ok() ? at : 0;
      },
      services);
  Writer::Instruments instruments;
  instruments.batchSize =
      &metrics.histogram("hive_store_sqlite_batch_size", "Write requests per group commit",
                         {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  instruments.commits = &metrics.counter("hive_store_sqlite_commits_total", "Group commits (one fsync each)");
  instruments.failedCommits =
      &metrics.counter("hive_store_sqlite_failed_commits_total", "Group transactions that did not commit");
  Notifier* notifier = store->notifier_.get();
  store->writer_ = std::make_unique<Writer>(
      std::move(writeConnection), settings.maxBatch, settings.maxPendingWrites, instruments,
      [notifier](const WriteEffects& effects) { notifier->publish(effects); });
  if (watchdog != nullptr) {
    store->notifier_->watchWith(watchdog->watch("storage_sqlite/notifier", watchdog->period()));
    store->writer_->watchWith(watchdog->watch("storage_sqlite/writer", watchdog->period()));
  }
  store->writer_->injectStall(settings.faultWriterStall, settings.faultWriterStallFile);
  store->writer_->reclaimFreedPages(settings.incrementalVacuumPages);
  store->notifier_->start();
  store->writer_->start();
  return store;
}

Status SqliteStore::write(const Writer::Work& work) { return writer_->submit(work); }

Status SqliteStore::readOnly(const std::function<Status(Connection&)>& read) {
  if (closed_) return unavailable("storage_sqlite is stopped");
  return readers_->with(read);
}

Status SqliteStore::declareCollection(const store::CollectionSpec& spec) {
  return write([&](Connection& c, WriteEffects&) { return operations_.declareCollection(c, spec); });
}

Result<store::Document> SqliteStore::get(const std::string& collection, const std::string& id) {
  std::optional<Result<store::Document>> out;
  HIVE_TRY(readOnly([&](Connection& c) {
    out = operations_.get(c, collection, id);
    return out->status();
  }));
  return std::move(*out);
}

Result<store::Document> SqliteStore::put(const std::string& collection, store::Document document,
                                         std::uint64_t expectedVersion) {
  std::optional<Result<store::Document>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects&) {
    out = operations_.put(c, collection, document, expectedVersion, epochMs());
    return out->status();
  }));
  return std::move(*out);
}

Status SqliteStore::remove(const std::string& collection, const std::string& id,
                           std::uint64_t expectedVersion) {
  return write([&](Connection& c, WriteEffects& effects) {
    return operations_.remove(c, collection, id, expectedVersion, effects);
  });
}

Result<store::Page> SqliteStore::list(const store::ListQuery& query) {
  std::optional<Result<store::Page>> out;
  HIVE_TRY(readOnly([&](Connection& c) {
    out = operations_.list(c, query);
    return out->status();
  }));
  return std::move(*out);
}

Result<store::QueueItem> SqliteStore::enqueue(store::EnqueueRequest request) {
  std::optional<Result<store::QueueItem>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects& effects) {
    out = operations_.enqueue(c, request, epochMs(), effects);
    return out->status();
  }));
  return std::move(*out);
}

Result<std::vector<store::QueueItem>> SqliteStore::claim(const store::ClaimRequest& request) {
  std::optional<Result<std::vector<store::QueueItem>>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects& effects) {
    out = operations_.claim(c, request, epochMs(), effects);
    return out->status();
  }));
  return std::move(*out);
}

Result<store::QueueItem> SqliteStore::extend(const std::string& queue, const std::string& itemId,
                                             const std::string& leaseToken, std::chrono::milliseconds lease) {
  std::optional<Result<store::QueueItem>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects& effects) {
    out = operations_.extend(c, queue, itemId, leaseToken, lease, epochMs(), effects);
    return out->status();
  }));
  return std::move(*out);
}

Status SqliteStore::complete(const std::string& queue, const std::string& itemId,
                             const std::string& leaseToken) {
  return write(
      [&](Connection& c, WriteEffects&) { return operations_.complete(c, queue, itemId, leaseToken); });
}

Status SqliteStore::fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
                         std::chrono::milliseconds retryAfter, const std::string& error) {
  return write([&](Connection& c, WriteEffects& effects) {
    return operations_.fail(c, queue, itemId, leaseToken, retryAfter, error, epochMs(), effects);
  });
}

Status SqliteStore::cancel(const std::string& queue, const std::string& itemId) {
  return write([&](Connection& c, WriteEffects&) { return operations_.cancel(c, queue, itemId); });
}

Result<std::vector<store::QueueItem>> SqliteStore::releaseExpired(const std::string& queue) {
  std::optional<Result<std::vector<store::QueueItem>>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects& effects) {
    out = operations_.releaseExpired(c, queue, epochMs(), effects);
    return out->status();
  }));
  return std::move(*out);
}

Result<store::QueueItem> SqliteStore::peek(const std::string& queue, const std::string& itemId) {
  std::optional<Result<store::QueueItem>> out;
  HIVE_TRY(readOnly([&](Connection& c) {
    out = operations_.peek(c, queue, itemId);
    return out->status();
  }));
  return std::move(*out);
}

Result<std::map<int, std::uint64_t>> SqliteStore::depth(const std::string& queue) {
  std::optional<Result<std::map<int, std::uint64_t>>> out;
  HIVE_TRY(readOnly([&](Connection& c) {
    out = operations_.depth(c, queue, epochMs());
    return out->status();
  }));
  return std::move(*out);
}

std::unique_ptr<Subscription> SqliteStore::onClaimable(const std::string& queue,
                                                       std::function<void()> callback) {
  return notifier_->subscribe(queue, std::move(callback));
}

Result<std::uint64_t> SqliteStore::append(const std::string& stream, const std::string& type,
                                          const std::string& body) {
  std::optional<Result<std::uint64_t>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects&) {
    out = operations_.append(c, stream, type, body, epochMs());
    return out->status();
  }));
  return std::move(*out);
}

Result<std::vector<store::Event>> SqliteStore::read(const std::string& stream, std::uint64_t afterId,
                                                    std::size_t limit) {
  std::optional<Result<std::vector<store::Event>>> out;
  HIVE_TRY(readOnly([&](Connection& c) {
    out = operations_.read(c, stream, afterId, limit);
    return out->status();
  }));
  return std::move(*out);
}

Result<std::uint64_t> SqliteStore::trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) {
  std::optional<Result<std::uint64_t>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects& effects) {
    out = operations_.trim(c, stream, beforeMs, limit, effects);
    return out->status();
  }));
  return std::move(*out);
}

Result<std::uint64_t> SqliteStore::eraseEvents(const std::string& stream,
                                               const std::vector<std::uint64_t>& ids) {
  std::optional<Result<std::uint64_t>> out;
  HIVE_TRY(write([&](Connection& c, WriteEffects& effects) {
    out = operations_.eraseEvents(c, stream, ids);
    effects.freedPages = true;
    return out->status();
  }));
  return std::move(*out);
}

Result<std::map<std::string, std::int64_t>> SqliteStore::counters(const std::string& prefix) {
  std::optional<Result<std::map<std::string, std::int64_t>>> out;
  HIVE_TRY(readOnly([&](Connection& c) {
    out = operations_.counters(c, prefix);
    return out->status();
  }));
  return std::move(*out);
}

Status SqliteStore::transact(const std::function<Status(store::Transaction&)>& work) {
  return write([&](Connection& c, WriteEffects& effects) {
    SqliteTransaction transaction(c, operations_, effects);
    return work(transaction);
  });
}

Status SqliteStore::ping() {
  if (closed_) return unavailable("storage_sqlite is stopped");
  return readOnly([](Connection& c) -> Status {
    auto select = HIVE_TRY(c.prepare("SELECT 1"));
    HIVE_TRY(select.step());
    return okStatus();
  });
}

std::uint32_t SqliteStore::schemaVersion() const { return schemaVersion_; }

}  // namespace hive::storage_sqlite
