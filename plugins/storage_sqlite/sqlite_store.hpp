// hive::store::Store on SQLite: writes through the group-committing Writer,
// reads through the ReaderPool, wake-ups through the Notifier.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "config.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services/store.hpp"
#include "notifier.hpp"
#include "operations.hpp"
#include "reader_pool.hpp"
#include "writer.hpp"

namespace hive::storage_sqlite {

class SqliteStore final : public store::Store {
 public:
  // Opens (creating when needed) the database at `path`, applies migrations and
  // starts the writer and notifier threads, watched by `watchdog` when there
  // is one. kFailedPrecondition for a schema newer than this code knows. With
  // `services` (the plugin's), onClaimable subscriptions follow a swap of the
  // plugin (see Notifier).
  static Result<std::shared_ptr<SqliteStore>> open(const std::string& path, const Settings& settings,
                                                   Metrics& metrics, watchdog::Watchdog* watchdog = nullptr,
                                                   ServiceRegistry* services = nullptr);
  ~SqliteStore() override;

  // Stops the threads: afterwards every call returns kUnavailable.
  void close();

  // hive::store::Store
  Status declareCollection(const store::CollectionSpec& spec) override;
  Result<store::Document> get(const std::string& collection, const std::string& id) override;
  Result<store::Document> put(const std::string& collection, store::Document document,
                              std::uint64_t expectedVersion) override;
  Status remove(const std::string& collection, const std::string& id, std::uint64_t expectedVersion) override;
  Result<store::Page> list(const store::ListQuery& query) override;
  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override;
  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override;
  Result<store::QueueItem> extend(const std::string& queue, const std::string& itemId,
                                  const std::string& leaseToken, std::chrono::milliseconds lease) override;
  Status complete(const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken) override;
  Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
              std::chrono::milliseconds retryAfter, const std::string& error) override;
  Status cancel(const std::string& queue, const std::string& itemId) override;
  Result<std::vector<store::QueueItem>> releaseExpired(const std::string& queue) override;
  Result<store::QueueItem> peek(const std::string& queue, const std::string& itemId) override;
  Result<std::map<int, std::uint64_t>> depth(const std::string& queue) override;
  [[nodiscard]] std::unique_ptr<Subscription> onClaimable(const std::string& queue,
                                                          std::function<void()> callback) override;
  Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                               const std::string& body) override;
  Result<std::vector<store::Event>> read(const std::string& stream, std::uint64_t afterId,
                                         std::size_t limit) override;
  Result<std::uint64_t> trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) override;
  // hive.store_erasure/1 (plugin_common/event_erasure.hpp).
  Result<std::uint64_t> eraseEvents(const std::string& stream, const std::vector<std::uint64_t>& ids);
  Result<std::map<std::string, std::int64_t>> counters(const std::string& prefix) override;
  Status transact(const std::function<Status(store::Transaction&)>& work) override;
  Status ping() override;
  std::uint32_t schemaVersion() const override;

 private:
  SqliteStore(const Settings& settings, std::uint32_t schemaVersion);

  Status write(const Writer::Work& work);
  Status readOnly(const std::function<Status(Connection&)>& read);

  std::atomic<bool> closed_{false};
  Operations operations_;
  std::uint32_t schemaVersion_;
  std::unique_ptr<ReaderPool> readers_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<Writer> writer_;
};

std::int64_t epochMs();

}  // namespace hive::storage_sqlite
