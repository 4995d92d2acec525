// A few read-only connections for reads that run in parallel with the writer
// (WAL mode: readers see the last committed state and never block it).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "connection.hpp"
#include "hive/status.hpp"

namespace hive::storage_sqlite {

class ReaderPool {
 public:
  explicit ReaderPool(std::vector<std::unique_ptr<Connection>> connections);

  // Runs `read` with a connection of its own, inside one read transaction so that
  // it sees a single snapshot; waits while all connections are busy.
  Status with(const std::function<Status(Connection&)>& read);

 private:
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> all_;
  std::vector<Connection*> idle_;
};

}  // namespace hive::storage_sqlite
