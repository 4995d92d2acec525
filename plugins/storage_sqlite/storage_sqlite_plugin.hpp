// The storage_sqlite plugin: opens the database in start(), provides hive.store/1,
// closes it in stop().
#pragma once

#include <memory>

#include "config.hpp"
#include "hive/plugin.hpp"
#include "sqlite_store.hpp"

namespace hive::storage_sqlite {

class StorageSqlitePlugin final : public Plugin {
 public:
  explicit StorageSqlitePlugin(PluginContext& context) : context_(context) {}
  ~StorageSqlitePlugin() override;

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  Status health() override;

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<SqliteStore> store_;
};

}  // namespace hive::storage_sqlite
