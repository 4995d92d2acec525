// hive::store::Store on PostgreSQL. Single writes go through the group committer,
// reads run on a pooled connection without a transaction, transact() runs a unit
// of work in its own transaction. No exception leaves this class.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "claimable_notifier.hpp"
#include "config.hpp"
#include "connection_pool.hpp"
#include "errors.hpp"
#include "group_commit.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services/store.hpp"
#include "operations.hpp"
#include "statements.hpp"

namespace hive::storage_postgres {

class PostgresStore final : public store::Store {
 public:
  // With `services` (the plugin's), onClaimable subscriptions follow a swap of
  // the plugin (see ClaimableNotifier).
  PostgresStore(const Config& config, Logger& log, Metrics& metrics, ServiceRegistry* services = nullptr);
  ~PostgresStore() override;

  // Migrates the schema, then starts the listener. The pool connects lazily.
  Status open();
  // Stops the listener and closes every connection; later calls fail with kUnavailable.
  void close();
  // Without touching the database (the kernel may ask from any thread): OK while
  // the listener connection is up and the last connect attempt succeeded.
  Status health() const;
  // hive.store_erasure/1 (plugin_common/event_erasure.hpp).
  Result<std::uint64_t> eraseEvents(const std::string& stream, const std::vector<std::uint64_t>& ids);

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
  Result<std::map<std::string, std::int64_t>> counters(const std::string& prefix) override;
  Status transact(const std::function<Status(store::Transaction&)>& work) override;
  Status ping() override;
  std::uint32_t schemaVersion() const override { return schemaVersion_; }

 private:
  // Runs `read` on a pooled connection outside any transaction.
  template <typename T, typename Read>
  Result<T> readOnly(Read&& read);
  Status write(const GroupCommitter::Operation& operation, GroupCommitter::Enqueue enqueue = {},
               SharedComplete complete = {});
  // A write whose operation yields a value: that value, or the write's failure.
  template <typename T, typename Operation>
  Result<T> writeResult(Operation&& operation);
  // `work` in a transaction of its own on a pooled connection, outside the
  // group committer (bulk deletes and erasures must not hold up batched writes).
  template <typename T, typename Work>
  Result<T> ownTransaction(Work&& work);

  const Config config_;
  const Redactor redact_;
  Logger& log_;
  const std::string connectionString_;
  const Statements statements_;
  Operations operations_;
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<GroupCommitter> committer_;
  std::unique_ptr<ClaimableNotifier> notifier_;
  std::atomic<std::uint32_t> schemaVersion_{0};
  std::atomic<bool> open_{false};
};

}  // namespace hive::storage_postgres
