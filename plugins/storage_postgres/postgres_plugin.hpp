// The storage_postgres plugin: reads its config, opens the store, provides hive.store/1.
#pragma once

#include <memory>

#include "config.hpp"
#include "hive/plugin.hpp"
#include "postgres_store.hpp"

namespace hive::storage_postgres {

class PostgresPlugin final : public Plugin {
 public:
  explicit PostgresPlugin(PluginContext& context) : context_(context) {}
  ~PostgresPlugin() override { stop(); }

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  Status health() override;

 private:
  PluginContext& context_;
  Config config_;
  std::shared_ptr<PostgresStore> store_;
};

}  // namespace hive::storage_postgres
