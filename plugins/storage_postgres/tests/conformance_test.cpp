// The shared hive.store/1 conformance suite against the real storage_postgres
// .so, one fresh schema per test.
#include "hive/testing/store_conformance.hpp"
#include "pg_test_support.hpp"

namespace {

using hive::storage_postgres::test::LoadedStore;

class PostgresStoreUnderTest final : public hive::testing::StoreUnderTest {
 public:
  PostgresStoreUnderTest(std::unique_ptr<LoadedStore> loaded, std::string url, std::string schema)
      : loaded_(std::move(loaded)), url_(std::move(url)), schema_(std::move(schema)) {
    if (auto erasure = loaded_->harness->services().get<hive::store::Erasure>(); erasure.ok())
      erasure_ = *erasure;
  }
  ~PostgresStoreUnderTest() override {
    erasure_ = {};
    loaded_.reset();
    hive::storage_postgres::test::dropSchema(url_, schema_);
  }
  hive::store::Store& store() override { return *loaded_->store; }
  hive::store::Erasure* erasure() override { return erasure_ ? &*erasure_ : nullptr; }

 private:
  std::unique_ptr<LoadedStore> loaded_;
  std::string url_;
  std::string schema_;
  hive::ServiceRef<hive::store::Erasure> erasure_;
};

std::unique_ptr<hive::testing::StoreUnderTest> makePostgresStore() {
  std::string url = hive::storage_postgres::test::serverUrl();
  if (url.empty()) {
    ADD_FAILURE() << hive::storage_postgres::test::kNoServerMessage;
    return nullptr;
  }
  std::string schema = hive::storage_postgres::test::freshSchemaName();
  auto loaded =
      hive::storage_postgres::test::loadStore(hive::storage_postgres::test::storeConfig(url, schema));
  if (!loaded->status.ok()) {
    ADD_FAILURE() << "starting storage_postgres: " << loaded->status.toString();
    loaded.reset();
    hive::storage_postgres::test::dropSchema(url, schema);
    return nullptr;
  }
  return std::make_unique<PostgresStoreUnderTest>(std::move(loaded), url, schema);
}

}  // namespace

HIVE_STORE_CONFORMANCE_SUITE(Postgres, makePostgresStore);
