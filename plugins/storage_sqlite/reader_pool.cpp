#include "reader_pool.hpp"

#include <exception>
#include <utility>

namespace hive::storage_sqlite {

ReaderPool::ReaderPool(std::vector<std::unique_ptr<Connection>> connections) : all_(std::move(connections)) {
  for (auto& c : all_) idle_.push_back(c.get());
}

Status ReaderPool::with(const std::function<Status(Connection&)>& read) {
  Connection* connection = nullptr;
  {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [&] { return !idle_.empty(); });
    connection = idle_.back();
    idle_.pop_back();
  }
  Status status = connection->execute("BEGIN");
  if (status.ok()) {
    try {
      status = read(*connection);
    } catch (const std::exception& e) {
      status = internalError(std::string("exception in a store read: ") + e.what());
    }
    (void)connection->execute("COMMIT");
  }
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(connection);
  }
  available_.notify_one();
  return status;
}

}  // namespace hive::storage_sqlite
