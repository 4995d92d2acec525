#include "postgres_plugin.hpp"

#include <exception>

#include "plugin_common/event_erasure.hpp"

namespace hive::storage_postgres {

void PostgresPlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  try {
    config_ = parseConfig(section, diagnostics);
  } catch (const std::exception& error) {
    diagnostics.error(section.location(), std::string("storage_postgres: ") + error.what());
  }
}

Status PostgresPlugin::start() {
  try {
    auto store =
        std::make_shared<PostgresStore>(config_, context_.log(), context_.metrics(), &context_.services());
    HIVE_TRY(store->open(), "storage_postgres");
    Status provided = context_.services().provide<store::Store>(store);
    if (provided.ok())
      provided = context_.services().provide<store::Erasure>(
          std::make_shared<plugin_common::EventErasure<PostgresStore>>(store));
    if (!provided.ok()) {
      store->close();
      return provided;
    }
    store_ = std::move(store);
    context_.log().info("serving hive.store/1 from " + redactUrl(config_.url) + " schema '" + config_.schema +
                        "' (schema version " + std::to_string(store_->schemaVersion()) + ", pool of " +
                        std::to_string(config_.poolSize) + ")");
    return okStatus();
  } catch (const std::exception& error) {
    Redactor redact(passwordOf(config_.url));
    return internalError("storage_postgres: " + redact(error.what()));
  }
}

void PostgresPlugin::stop() {
  if (!store_) return;
  store_->close();
  store_.reset();
}

Status PostgresPlugin::health() {
  if (!store_) return unavailable("not started");
  return store_->health();
}

}  // namespace hive::storage_postgres
