// The hive.store/1 conformance suite against the real storage_sqlite .so, each
// test on a fresh database file in the harness's temporary data directory.
#include <memory>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/store_conformance.hpp"

namespace {

std::unique_ptr<hive::testing::StoreUnderTest> makeSqliteStore() {
  auto loaded = hive::testing::PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
  if (!loaded.ok()) {
    ADD_FAILURE() << loaded.status().toString();
    return nullptr;
  }
  auto harness = std::move(loaded).value();
  // fsync on every commit is not what this suite is about; the crash test covers it.
  harness->setConfig(hive::testing::configFromPairs({{"synchronous", "normal"}}));
  hive::Status started = harness->start();
  if (!started.ok()) {
    ADD_FAILURE() << started.toString();
    return nullptr;
  }
  auto store = harness->services().get<hive::store::Store>();
  if (!store.ok()) {
    ADD_FAILURE() << store.status().toString();
    return nullptr;
  }
  return hive::testing::StoreUnderTest::hold(std::move(harness), std::move(store).value());
}

}  // namespace

HIVE_STORE_CONFORMANCE_SUITE(Sqlite, makeSqliteStore);
