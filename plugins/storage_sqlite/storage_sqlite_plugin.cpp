#include "storage_sqlite_plugin.hpp"

#include <sqlite3.h>

#include <utility>

#include "plugin_common/event_erasure.hpp"

namespace hive::storage_sqlite {

StorageSqlitePlugin::~StorageSqlitePlugin() { stop(); }

void StorageSqlitePlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  settings_ = readSettings(section, diagnostics);
}

Status StorageSqlitePlugin::start() {
  if (sqlite3_threadsafe() == 0)
    return failedPrecondition("storage_sqlite: SQLite was built without threads");
  std::string path = databasePath(settings_, context_.dataDirectory());
  // Optional: without a watchdog (the SDK harness) the threads run unwatched.
  auto dog = context_.services().get<watchdog::Watchdog>();
  auto opened = SqliteStore::open(path, settings_, context_.metrics(), dog.ok() ? &**dog : nullptr,
                                  &context_.services());
  if (!opened.ok()) {
    context_.log().error("cannot open " + path + ": " + opened.status().message());
    return opened.status();
  }
  store_ = std::move(opened).value();
  Status provided = context_.services().provide<store::Store>(store_);
  if (provided.ok())
    provided = context_.services().provide<store::Erasure>(
        std::make_shared<plugin_common::EventErasure<SqliteStore>>(store_));
  if (!provided.ok()) {
    store_->close();
    store_.reset();
    return provided;
  }
  context_.log().info("store " + path + " open (schema version " + std::to_string(store_->schemaVersion()) +
                      ", synchronous=" + (settings_.synchronous == Synchronous::kFull ? "full" : "normal") +
                      ")");
  return okStatus();
}

void StorageSqlitePlugin::stop() {
  if (!store_) return;
  store_->close();
  store_.reset();
}

Status StorageSqlitePlugin::health() {
  if (!store_) return unavailable("storage_sqlite is not started");
  return store_->ping();
}

}  // namespace hive::storage_sqlite
