// A bounded pool of PostgreSQL connections that reconnects with exponential
// backoff. acquire() never waits longer than the configured bound: when no
// connection can be had it fails with kUnavailable and the reason.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "errors.hpp"
#include "hive/metrics.hpp"
#include "hive/status.hpp"

namespace hive::storage_postgres {

struct PoolSettings {
  std::string connectionString;  // with connect_timeout; holds the password
  std::size_t size = 8;
  std::chrono::milliseconds acquireTimeout{5000};
  std::chrono::milliseconds backoffInitial{100};
  std::chrono::milliseconds backoffMax{5000};
};

struct PoolMetrics {
  Gauge* inUse = nullptr;
  Counter* reconnects = nullptr;
  Counter* connectFailures = nullptr;
};

class ConnectionPool {
 public:
  // Runs on every new connection before it is handed out (prepare statements,
  // session settings). May throw; the connection is then dropped.
  using Setup = std::function<void(pqxx::connection&)>;

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& connection() const;
    // The connection failed: it is closed instead of going back to the pool.
    void markBroken() { broken_ = true; }
    // Which of the pool's connections this is (0 to size - 1): no two leases
    // held at once share it.
    std::size_t slot() const { return slot_; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::size_t slot) : pool_(pool), slot_(slot) {}
    ConnectionPool* pool_;
    std::size_t slot_;
    bool broken_ = false;
  };

  ConnectionPool(PoolSettings settings, Setup setup, Redactor redact, PoolMetrics metrics);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  Result<Lease> acquire();
  // Closes every connection; acquire() fails from now on. Waits for leases to return.
  void shutdown();
  // The reason the last connect failed, or OK once connected again.
  Status lastConnectError() const;

 private:
  struct Slot {
    std::unique_ptr<pqxx::connection> connection;
    bool busy = false;
  };

  void release(std::size_t slot, bool broken);
  Status connect(Slot& slot);

  const PoolSettings settings_;
  const Setup setup_;
  const Redactor redact_;
  const PoolMetrics metrics_;

  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::vector<Slot> slots_;
  std::size_t busy_ = 0;
  bool shutdown_ = false;
  // Reconnect backoff: after a failed connect, no new attempt before nextAttempt_.
  std::chrono::steady_clock::time_point nextAttempt_{};
  std::chrono::milliseconds backoff_{0};
  Status lastConnectError_;
};

}  // namespace hive::storage_postgres
