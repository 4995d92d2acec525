#include "connection_pool.hpp"

#include <poll.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace hive::storage_postgres {
namespace {

// An idle connection whose socket is readable has been closed by the server (or
// carries an error such as "terminating connection due to administrator
// command"): checking costs one poll() and saves a failed call after a restart.
bool looksClosed(pqxx::connection& connection) {
  if (!connection.is_open()) return true;
  int fd = connection.sock();
  if (fd < 0) return true;
  pollfd descriptor{fd, POLLIN, 0};
  int ready = ::poll(&descriptor, 1, 0);
  return ready != 0;
}

}  // namespace

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(slot_, broken_);
}

pqxx::connection& ConnectionPool::Lease::connection() const { return *pool_->slots_[slot_].connection; }

ConnectionPool::ConnectionPool(PoolSettings settings, Setup setup, Redactor redact, PoolMetrics metrics)
    : settings_(std::move(settings)),
      setup_(std::move(setup)),
      redact_(std::move(redact)),
      metrics_(metrics),
      slots_(settings_.size) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

Result<ConnectionPool::Lease> ConnectionPool::acquire() {
  auto deadline = std::chrono::steady_clock::now() + settings_.acquireTimeout;
  std::unique_lock lock(mutex_);
  if (!released_.wait_until(lock, deadline, [&] { return shutdown_ || busy_ < slots_.size(); }))
    return unavailable("no database connection free within " +
                       std::to_string(settings_.acquireTimeout.count()) + "ms (pool of " +
                       std::to_string(slots_.size()) + " in use)");
  if (shutdown_) return unavailable("store is stopped");
  // Prefer a slot that already holds a connection.
  std::size_t chosen = slots_.size();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].busy) continue;
    if (chosen == slots_.size()) chosen = i;
    if (slots_[i].connection) {
      chosen = i;
      break;
    }
  }
  Slot& slot = slots_[chosen];
  slot.busy = true;
  ++busy_;
  if (metrics_.inUse) metrics_.inUse->set(static_cast<double>(busy_));
  Lease lease(this, chosen);
  bool needsConnect = !slot.connection;
  if (!needsConnect && looksClosed(*slot.connection)) {
    lock.unlock();
    slot.connection.reset();  // the slot is ours: no lock needed for its connection
    lock.lock();
    needsConnect = true;
  }
  if (!needsConnect) return lease;
  if (std::chrono::steady_clock::now() < nextAttempt_) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(nextAttempt_ -
                                                                      std::chrono::steady_clock::now());
    Status down = unavailable("database unavailable (next reconnect attempt in " +
                              std::to_string(wait.count()) + "ms): " + lastConnectError_.message());
    lock.unlock();  // the lease goes back to the pool, which takes the lock
    return down;
  }
  lock.unlock();
  Status connected = connect(slot);
  if (!connected.ok()) return connected;
  return lease;
}

Status ConnectionPool::connect(Slot& slot) {
  Status outcome;
  try {
    auto connection = std::make_unique<pqxx::connection>(settings_.connectionString);
    setup_(*connection);
    slot.connection = std::move(connection);
  } catch (const std::exception& error) {
    outcome = statusFromException(error, redact_);
    outcome = unavailable("cannot connect to the database: " + outcome.message());
  }
  std::lock_guard lock(mutex_);
  if (outcome.ok()) {
    if (!lastConnectError_.ok() && metrics_.reconnects) metrics_.reconnects->increment();
    backoff_ = std::chrono::milliseconds(0);
    nextAttempt_ = {};
    lastConnectError_ = okStatus();
    return outcome;
  }
  if (metrics_.connectFailures) metrics_.connectFailures->increment();
  backoff_ = backoff_.count() == 0 ? settings_.backoffInitial : std::min(backoff_ * 2, settings_.backoffMax);
  nextAttempt_ = std::chrono::steady_clock::now() + backoff_;
  lastConnectError_ = outcome;
  return outcome;
}

void ConnectionPool::release(std::size_t index, bool broken) {
  std::unique_ptr<pqxx::connection> closing;
  {
    std::lock_guard lock(mutex_);
    Slot& slot = slots_[index];
    if (broken || shutdown_) closing = std::move(slot.connection);
    slot.busy = false;
    --busy_;
    if (metrics_.inUse) metrics_.inUse->set(static_cast<double>(busy_));
  }
  released_.notify_all();
  // Closing talks to the server: do it outside the lock. pqxx's destructor does not throw.
  closing.reset();
}

void ConnectionPool::shutdown() {
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  {
    std::unique_lock lock(mutex_);
    shutdown_ = true;
    released_.notify_all();
    // Leases in flight finish their statement (bounded by statement_timeout).
    released_.wait(lock, [&] { return busy_ == 0; });
    for (auto& slot : slots_) closing.push_back(std::move(slot.connection));
  }
  closing.clear();
}

Status ConnectionPool::lastConnectError() const {
  std::lock_guard lock(mutex_);
  return lastConnectError_;
}

}  // namespace hive::storage_postgres
