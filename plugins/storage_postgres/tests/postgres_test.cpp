// storage_postgres behaviour beyond the conformance suite: migrations, the
// database going away and coming back, password redaction, group commit, the
// connection bound, and two processes sharing one database.
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pg_test_support.hpp"
#include "process.hpp"

namespace hive::storage_postgres::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

std::string execScalar(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction tx(connection);
  auto result = tx.exec(sql);
  return result.empty() || result[0][0].is_null() ? std::string() : result[0][0].c_str();
}

store::EnqueueRequest request(const std::string& queue, const std::string& payload) {
  store::EnqueueRequest r;
  r.queue = queue;
  r.payload = payload;
  return r;
}

template <class Condition>
bool waitUntil(Condition condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// ---------------------------------------------------------------- migrations

TEST(StoragePostgres, MigratesAFreshSchemaAndRestartsOnIt) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  {
    auto loaded = loadStore(storeConfig(schema.url(), schema.name()));
    ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
    EXPECT_EQ(loaded->store->schemaVersion(), 3u);
    ASSERT_TRUE(loaded->store->enqueue(request("jobs", "survives")).ok());
    EXPECT_THAT(loaded->harness->logLines(), ::testing::Contains(HasSubstr("migrated from version 0 to 3")));
  }
  auto again = loadStore(storeConfig(schema.url(), schema.name()));
  ASSERT_TRUE(again->status.ok()) << again->status.toString();
  EXPECT_THAT(again->harness->logLines(), Not(::testing::Contains(HasSubstr("migrated"))));
  auto depth = again->store->depth("jobs");
  ASSERT_TRUE(depth.ok());
  EXPECT_EQ(depth->at(5), 1u);
  EXPECT_EQ(execScalar(schema.url(), "SELECT count(*) FROM \"" + schema.name() + "\".schema_migrations"),
            "3");
}

// Migration 3 (the claim index holds only free items) on a schema of version 2
// with items free, leased and leased past expiry: a claim afterwards gets the
// free and the expired ones in claim order, never the one leased.
TEST(StoragePostgres, AVersion2SchemaWithLeasedItemsMigratesTo3AndClaimsAsBefore) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  const std::string s = "\"" + schema.name() + "\"";
  {
    auto loaded = loadStore(storeConfig(schema.url(), schema.name()));
    ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
    for (const char* id : {"leased", "expiring", "free-1", "free-2"}) {
      auto item = request("jobs", id);
      item.id = id;
      ASSERT_TRUE(loaded->store->enqueue(item).ok());
    }
    store::ClaimRequest held{.queue = "jobs", .lease = std::chrono::minutes(5)};
    auto leased = loaded->store->claim(held);
    ASSERT_TRUE(leased.ok() && leased->size() == 1 && leased->front().id == "leased");
    store::ClaimRequest brief{.queue = "jobs", .lease = std::chrono::milliseconds(1)};
    auto expiring = loaded->store->claim(brief);
    ASSERT_TRUE(expiring.ok() && expiring->size() == 1 && expiring->front().id == "expiring");
  }
  // Back to version 2 as it shipped.
  execScalar(schema.url(), "DROP INDEX " + s + ".queue_items_ready, " + s + ".queue_items_leased");
  execScalar(schema.url(),
             "CREATE INDEX queue_items_claim ON " + s + ".queue_items (queue, priority DESC, seq)");
  execScalar(schema.url(), "DELETE FROM " + s + ".schema_migrations WHERE version = 3");
  std::this_thread::sleep_for(5ms);  // the brief lease is over

  auto again = loadStore(storeConfig(schema.url(), schema.name()));
  ASSERT_TRUE(again->status.ok()) << again->status.toString();
  EXPECT_THAT(again->harness->logLines(), ::testing::Contains(HasSubstr("migrated from version 2 to 3")));
  store::ClaimRequest all{.queue = "jobs", .maxItems = 10};
  auto claimed = again->store->claim(all);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  std::vector<std::string> ids;
  for (const auto& item : *claimed) ids.push_back(item.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"expiring", "free-1", "free-2"}));
  auto depth = again->store->depth("jobs");
  ASSERT_TRUE(depth.ok());
  EXPECT_TRUE(depth->empty() || depth->at(5) == 0u) << "every item is leased now";
}

TEST(StoragePostgres, SchemaNewerThanTheCodeIsRefused) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  {
    auto loaded = loadStore(storeConfig(schema.url(), schema.name()));
    ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  }
  execScalar(schema.url(), "INSERT INTO \"" + schema.name() + "\".schema_migrations (version) VALUES (99)");
  auto refused = loadStore(storeConfig(schema.url(), schema.name()));
  EXPECT_EQ(refused->status.code(), StatusCode::kFailedPrecondition) << refused->status.toString();
  EXPECT_THAT(refused->status.message(),
              HasSubstr("version 99, newer than this storage_postgres supports (3)"));
  EXPECT_FALSE(refused->store);
}

TEST(StoragePostgres, NodesStartingAtOnceMigrateOnce) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<LoadedStore>> nodes(kNodes);
  std::vector<std::thread> threads;
  std::latch go(kNodes);
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      nodes[i] = loadStore(storeConfig(schema.url(), schema.name()));
    });
  for (auto& t : threads) t.join();
  int migrated = 0;
  for (auto& node : nodes) {
    ASSERT_TRUE(node->status.ok()) << node->status.toString();
    for (const auto& line : node->harness->logLines()) migrated += line.find("migrated") != std::string::npos;
  }
  EXPECT_EQ(migrated, 1) << "exactly one node applies the migration";
  EXPECT_EQ(execScalar(schema.url(), "SELECT count(*) FROM \"" + schema.name() + "\".schema_migrations"),
            "3");
}

// ---------------------------------------------------------------- secrets

TEST(StoragePostgres, PasswordNeverAppearsInErrorsOrLogs) {
  HIVE_REQUIRE_POSTGRES();
  const std::string password = "Sup3r-s3cret-Pw";
  // Nothing listens on this port: start fails, and says why without the password.
  std::string unreachable =
      "postgresql://postgres:" + password + "@127.0.0.1:" + std::to_string(freePort()) + "/x";
  auto failed = loadStore(storeConfig(unreachable, "hive", {{"connect_timeout", "1s"}}));
  EXPECT_EQ(failed->status.code(), StatusCode::kUnavailable) << failed->status.toString();
  EXPECT_THAT(failed->status.message(), HasSubstr("postgresql://postgres:***@127.0.0.1"));
  EXPECT_THAT(failed->status.message(), Not(HasSubstr(password)));
  for (const auto& line : failed->harness->logLines()) EXPECT_THAT(line, Not(HasSubstr(password)));

  // The key=value form too.
  std::string keywords =
      "host=127.0.0.1 port=" + std::to_string(freePort()) + " user=postgres password=" + password;
  failed = loadStore(storeConfig(keywords, "hive", {{"connect_timeout", "1s"}}));
  EXPECT_EQ(failed->status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(failed->status.message(), Not(HasSubstr(password)));

  // A server that accepts it (trust): the startup line shows the URL, redacted.
  ScratchSchema schema;
  std::string url = schema.url();
  std::size_t scheme = url.find("://");
  std::size_t at = url.find('@');
  ASSERT_NE(at, std::string::npos) << "expected a URL with a user: " << url;
  std::string withPassword = url.substr(0, at) + ":" + password + url.substr(at);
  ASSERT_NE(scheme, std::string::npos);
  auto loaded = loadStore(storeConfig(withPassword, schema.name()));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  bool sawUrl = false;
  for (const auto& line : loaded->harness->logLines()) {
    EXPECT_THAT(line, Not(HasSubstr(password)));
    sawUrl = sawUrl || line.find(":***@") != std::string::npos;
  }
  EXPECT_TRUE(sawUrl) << "the startup line names the (redacted) URL";
}

// ---------------------------------------------------------------- limits and lifecycle

TEST(StoragePostgres, ConfiguredSizeLimitsAreEnforced) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded = loadStore(
      storeConfig(schema.url(), schema.name(),
                  {{"max_payload_bytes", "100"}, {"max_document_bytes", "50"}, {"max_event_bytes", "10"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  EXPECT_EQ(s.enqueue(request("jobs", std::string(101, 'x'))).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(s.enqueue(request("jobs", std::string(100, 'x'))).ok());
  ASSERT_TRUE(s.declareCollection({"docs", {}}).ok());
  store::Document big;
  big.id = "d";
  big.body = std::string(51, 'x');
  EXPECT_EQ(s.put("docs", big).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.append("log", "t", std::string(11, 'x')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.get("docs", "d").status().code(), StatusCode::kNotFound);
}

TEST(StoragePostgres, CallsAfterStopAreUnavailable) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded = loadStore(storeConfig(schema.url(), schema.name()));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto store = loaded->store;  // a caller still holding the service
  loaded->harness->stop();
  EXPECT_EQ(store->enqueue(request("jobs", "late")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->ping().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->transact([](store::Transaction&) { return okStatus(); }).code(), StatusCode::kUnavailable);
}

TEST(StoragePostgres, NoFreeConnectionFailsWithinTheAcquireTimeout) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded =
      loadStore(storeConfig(schema.url(), schema.name(),
                            {{"pool_size", "2"}, {"batch_concurrency", "1"}, {"acquire_timeout", "100ms"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  // Two units of work hold both connections until the third call has its answer.
  std::latch holding(2);
  std::latch release(1);
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i)
    holders.emplace_back([&] {
      Status held = s.transact([&](store::Transaction&) {
        holding.count_down();
        release.wait();
        return okStatus();
      });
      EXPECT_TRUE(held.ok()) << held.toString();
    });
  holding.wait();
  auto start = std::chrono::steady_clock::now();
  Status starved = s.ping();
  auto waited = std::chrono::steady_clock::now() - start;
  release.count_down();
  for (auto& t : holders) t.join();
  EXPECT_EQ(starved.code(), StatusCode::kUnavailable) << starved.toString();
  EXPECT_THAT(starved.message(), HasSubstr("no database connection free within 100ms"));
  EXPECT_LT(waited, 10s) << "bounded, not hanging";
  EXPECT_TRUE(s.ping().ok());
}

// ---------------------------------------------------------------- group commit

TEST(StoragePostgres, ConcurrentWritesShareTransactionsAndFailIndependently) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded =
      loadStore(storeConfig(schema.url(), schema.name(), {{"pool_size", "4"}, {"batch_concurrency", "1"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  ASSERT_TRUE(s.declareCollection({"locks", {}}).ok());
  store::Document taken;
  taken.id = "taken";
  ASSERT_TRUE(s.put("locks", taken).ok());

  constexpr int kThreads = 16;
  constexpr int kRounds = 40;
  std::atomic<int> enqueued{0}, conflicts{0}, unexpected{0};
  std::vector<std::thread> threads;
  std::barrier start(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        // Every other write fails (the document exists); it must not take its batch with it.
        if ((i + t) % 2 == 0) {
          auto r = s.put("locks", taken, store::kMustNotExist);
          if (r.status().code() == StatusCode::kAborted)
            ++conflicts;
          else
            ++unexpected;
        } else {
          auto r = s.enqueue(request("jobs", std::to_string(t) + "-" + std::to_string(i)));
          if (r.ok())
            ++enqueued;
          else
            ++unexpected;
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(enqueued.load(), kThreads * kRounds / 2);
  EXPECT_EQ(conflicts.load(), kThreads * kRounds / 2);
  auto depth = s.depth("jobs");
  ASSERT_TRUE(depth.ok());
  EXPECT_EQ(depth->at(5), static_cast<std::uint64_t>(kThreads * kRounds / 2));

  auto& metrics = loaded->harness->metrics();
  const MetricLabels labels = {{"schema", schema.name()}};
  auto& sizes = metrics.histogram("hive_store_postgres_batch_size", "",
                                  {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, labels);
  double requests = sizes.sum();
  std::uint64_t batches = sizes.count();
  EXPECT_EQ(requests, 2.0 + kThreads * kRounds) << "every write went through the group committer";
  EXPECT_LT(batches, static_cast<std::uint64_t>(requests))
      << "16 writers on one batch slot share transactions";
}

TEST(StoragePostgres, EnqueuesSharingOneInsertKeepTheirOwnOutcome) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded =
      loadStore(storeConfig(schema.url(), schema.name(), {{"pool_size", "4"}, {"batch_concurrency", "1"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  constexpr int kThreads = 16;
  constexpr int kRounds = 25;
  std::mutex mutex;
  std::map<std::string, std::set<std::string>> idsByKey;  // idempotency key -> ids returned
  std::map<std::string, int> explicitWins;                // explicit id -> successful enqueues
  std::atomic<int> plain{0}, duplicates{0}, unexpected{0};
  std::vector<std::thread> threads;
  std::barrier start(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        store::EnqueueRequest r = request("jobs", "t" + std::to_string(t) + "-" + std::to_string(i));
        switch ((t + i) % 3) {
          case 0: r.idempotencyKey = "key-" + std::to_string(i % 5); break;  // many threads, one key
          case 1:
            r.id = "fixed-" + std::to_string(i) + "-" + std::to_string(t % 2);
            break;  // two threads, one id
          default: break;
        }
        auto item = s.enqueue(r);
        std::lock_guard lock(mutex);
        if (!r.idempotencyKey.empty()) {
          if (item.ok())
            idsByKey[r.idempotencyKey].insert(item->id);
          else
            ++unexpected, ADD_FAILURE() << item.status().toString();
        } else if (!r.id.empty()) {
          if (item.ok()) {
            EXPECT_EQ(item->id, r.id);
            EXPECT_EQ(item->payload, r.payload) << "an item reported as ours is ours";
            ++explicitWins[r.id];
          } else if (item.status().code() == StatusCode::kAlreadyExists) {
            ++duplicates;
          } else {
            ++unexpected, ADD_FAILURE() << item.status().toString();
          }
        } else if (item.ok() && item->payload == r.payload) {
          ++plain;
        } else {
          ++unexpected, ADD_FAILURE() << item.status().toString();
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (const auto& [key, ids] : idsByKey)
    EXPECT_EQ(ids.size(), 1u) << "one item per idempotency key: " << key;
  for (const auto& [id, wins] : explicitWins) EXPECT_EQ(wins, 1) << "one enqueue per explicit id: " << id;
  std::uint64_t expected = static_cast<std::uint64_t>(plain.load()) + idsByKey.size() + explicitWins.size();
  auto depth = s.depth("jobs");
  ASSERT_TRUE(depth.ok());
  EXPECT_EQ(depth->at(5), expected);
  auto& sizes = loaded->harness->metrics().histogram("hive_store_postgres_batch_size", "",
                                                     {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
                                                     {{"schema", schema.name()}});
  EXPECT_LT(sizes.count(), static_cast<std::uint64_t>(sizes.sum())) << "enqueues shared transactions";
}

TEST(StoragePostgres, CompletesSharingOneDeleteKeepTheirOwnOutcome) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded =
      loadStore(storeConfig(schema.url(), schema.name(), {{"pool_size", "4"}, {"batch_concurrency", "1"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  constexpr int kItems = 120;
  for (int i = 0; i < kItems; ++i) ASSERT_TRUE(s.enqueue(request("jobs", std::to_string(i))).ok());
  store::ClaimRequest claim;
  claim.queue = "jobs";
  claim.maxItems = kItems;
  auto claimed = s.claim(claim);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  ASSERT_EQ(claimed->size(), static_cast<std::size_t>(kItems));
  // Every item is completed three times at once: twice with its token, once with a wrong one.
  std::vector<std::atomic<int>> successes(kItems);
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  std::barrier start(12);
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = t % 4; i < kItems; i += 4) {
        const auto& item = (*claimed)[i];
        bool wrongToken = t >= 8;
        Status status = s.complete("jobs", item.id, wrongToken ? item.leaseToken + "x" : item.leaseToken);
        if (status.ok() && !wrongToken) {
          ++successes[i];
        } else if (status.ok() || (status.code() != StatusCode::kNotFound &&
                                   status.code() != StatusCode::kFailedPrecondition)) {
          ++unexpected;
          ADD_FAILURE() << (wrongToken ? "wrong token: " : "right token: ") << status.toString();
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(successes[i].load(), 1) << "item " << i << " completed once";
  auto peeked = s.peek("jobs", (*claimed)[0].id);
  EXPECT_EQ(peeked.status().code(), StatusCode::kNotFound);
  auto depth = s.depth("jobs");
  ASSERT_TRUE(depth.ok());
  for (const auto& [priority, count] : *depth) EXPECT_EQ(count, 0u);
}

TEST(StoragePostgres, AStatementErrorInABatchFailsOnlyItsRequest) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded =
      loadStore(storeConfig(schema.url(), schema.name(), {{"pool_size", "4"}, {"batch_concurrency", "1"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  // A trigger makes the INSERT of a "poison" payload throw inside the batch's
  // transaction, aborting it on the server: the others must still commit.
  execScalar(schema.url(),
             "CREATE FUNCTION \"" + schema.name() +
                 "\".poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "IF NEW.payload = 'poison'::bytea THEN RAISE EXCEPTION 'poisoned item'; END IF; "
                 "RETURN NEW; END $$");
  execScalar(schema.url(), "CREATE TRIGGER poison BEFORE INSERT ON \"" + schema.name() +
                               "\".queue_items FOR EACH ROW EXECUTE FUNCTION \"" + schema.name() +
                               "\".poison()");
  constexpr int kThreads = 16;
  constexpr int kRounds = 30;
  std::atomic<int> good{0}, poisoned{0}, unexpected{0};
  std::vector<std::thread> threads;
  std::barrier start(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        bool poison = (i * kThreads + t) % 5 == 0;
        auto r = s.enqueue(request("jobs", poison ? "poison" : std::to_string(t) + "-" + std::to_string(i)));
        if (poison && !r.ok() && r.status().message().find("poisoned item") != std::string::npos)
          ++poisoned;
        else if (!poison && r.ok())
          ++good;
        else {
          ++unexpected;
          ADD_FAILURE() << (poison ? "poison: " : "good: ") << r.status().toString();
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(poisoned.load(), kThreads * kRounds / 5);
  auto depth = s.depth("jobs");
  ASSERT_TRUE(depth.ok());
  EXPECT_EQ(depth->at(5), static_cast<std::uint64_t>(good.load())) << "every acknowledged enqueue is stored";
}

// ---------------------------------------------------------------- the database goes away

TEST(StoragePostgres, ServerRestartFailsCallsThenRecovers) {
  ThrowawayCluster cluster;
  ASSERT_TRUE(cluster.ready()) << "initdb failed (is PostgreSQL installed?)";
  ASSERT_TRUE(cluster.start());
  auto loaded = loadStore(storeConfig(cluster.url(), "hive",
                                      {{"connect_timeout", "1s"},
                                       {"acquire_timeout", "2s"},
                                       {"reconnect_backoff_initial", "50ms"},
                                       {"reconnect_backoff_max", "500ms"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  std::atomic<int> wakes{0};
  auto subscription = s.onClaimable("jobs", [&] { ++wakes; });
  auto before = s.enqueue(request("jobs", "before the crash"));
  ASSERT_TRUE(before.ok()) << before.status().toString();

  ASSERT_TRUE(cluster.stop());
  // Every kind of call fails with kUnavailable, promptly.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s.enqueue(request("jobs", "during")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.peek("jobs", before->id).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.transact([](store::Transaction&) { return okStatus(); }).code(), StatusCode::kUnavailable);
  Status down = s.ping();
  EXPECT_EQ(down.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(down.message().empty());
  EXPECT_TRUE(waitUntil([&] { return loaded->harness->health().code() == StatusCode::kUnavailable; }, 10s))
      << "health() reports the outage";
  EXPECT_FALSE(loaded->harness->health().message().empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s) << "calls must fail, not hang";

  ASSERT_TRUE(cluster.start());
  EXPECT_TRUE(waitUntil([&] { return s.ping().ok(); }, 30s)) << "the store reconnects on its own";
  EXPECT_TRUE(waitUntil([&] { return loaded->harness->health().ok(); }, 30s))
      << loaded->harness->health().toString();
  auto peeked = s.peek("jobs", before->id);
  ASSERT_TRUE(peeked.ok()) << peeked.status().toString();
  EXPECT_EQ(peeked->payload, "before the crash") << "what was acknowledged survived";
  int wakesBefore = wakes.load();
  ASSERT_TRUE(s.enqueue(request("jobs", "after")).ok());
  EXPECT_TRUE(waitUntil([&] { return wakes.load() > wakesBefore; }, 15s)) << "the listener reconnected";
  EXPECT_GE(loaded->harness->metrics()
                .counter("hive_store_postgres_reconnects_total", "", {{"schema", "hive"}})
                .value(),
            1.0);
}

// A unit of work writes its first event on a stream at once and the others on
// it in one statement before the commit. Units on four threads appending to
// two streams at once: every stream's ids run 1..N without a gap or a repeat,
// each unit's events are consecutive and in its order, and a unit that fails
// after its appends leaves none of them.
TEST(StoragePostgres, EventsOfConcurrentUnitsOfWorkGetConsecutiveIdsWithoutGaps) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded = loadStore(storeConfig(schema.url(), schema.name(), {{"pool_size", "4"}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  constexpr int kThreads = 4, kUnits = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int u = 0; u < kUnits; ++u) {
        const int events = 1 + (t + u) % 4;
        const bool rolledBack = u % 10 == 9;
        std::vector<std::uint64_t> ids;
        Status status = s.transact([&](store::Transaction& tx) -> Status {
          ids.clear();
          for (int e = 0; e < events; ++e) {
            const std::string body = std::to_string(t) + "/" + std::to_string(u) + "/" + std::to_string(e);
            ids.push_back(HIVE_TRY(tx.append("a", "unit", body)));
            if (e == 0) HIVE_TRY(tx.append("b", "unit", body));
          }
          return rolledBack ? aborted("given up") : okStatus();
        });
        if (status.ok() == rolledBack) ++failures;
        for (std::size_t i = 1; !rolledBack && i < ids.size(); ++i)
          if (ids[i] != ids[i - 1] + 1) ++failures;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::size_t committedA = 0;
  for (int t = 0; t < kThreads; ++t)
    for (int u = 0; u < kUnits; ++u) committedA += u % 10 == 9 ? 0 : 1 + (t + u) % 4;
  for (const char* stream : {"a", "b"}) {
    auto events = s.read(stream, 0, 10'000);
    ASSERT_TRUE(events.ok()) << events.status().toString();
    EXPECT_EQ(events->size(), std::string(stream) == "a" ? committedA : kThreads * kUnits * 9 / 10) << stream;
    std::set<std::string> units;
    std::string unit;
    int next = 0;
    for (std::size_t i = 0; i < events->size(); ++i) {
      const store::Event& event = (*events)[i];
      ASSERT_EQ(event.id, i + 1) << stream << ": ids run 1..N";
      const std::string prefix = event.body.substr(0, event.body.rfind('/'));
      const int e = std::stoi(event.body.substr(event.body.rfind('/') + 1));
      if (prefix != unit) {
        EXPECT_TRUE(units.insert(prefix).second) << stream << ": unit " << prefix << " is split";
        unit = prefix;
        next = 0;
      }
      EXPECT_EQ(e, next++) << stream << " " << event.body << ": a unit's events in its order";
      EXPECT_NE(std::stoi(prefix.substr(prefix.find('/') + 1)) % 10, 9)
          << "rolled back yet written: " << event.body;
    }
  }
}

// Each connection adds to its own row of a counter: a unit of work that added
// to one and has not committed yet does not hold back another that adds to it
// (with rows chosen by backend pid modulo 8, two connections could share one).
TEST(StoragePostgres, OpenUnitsOfWorkAddToOneCounterWithoutWaitingForEachOther) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  constexpr int kOpen = 7;
  auto loaded =
      loadStore(storeConfig(schema.url(), schema.name(), {{"pool_size", std::to_string(kOpen + 1)}}));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;
  std::mutex mutex;
  std::condition_variable changed;
  int added = 0;
  bool release = false;
  std::vector<std::thread> open;
  for (int i = 0; i < kOpen; ++i)
    open.emplace_back([&] {
      Status status = s.transact([&](store::Transaction& tx) -> Status {
        HIVE_TRY(tx.addToCounter("tasks.pending", 1));
        std::unique_lock lock(mutex);
        ++added;
        changed.notify_all();
        changed.wait(lock, [&] { return release; });
        return okStatus();
      });
      EXPECT_TRUE(status.ok()) << status.toString();
    });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10), [&] { return added == kOpen; }));
  }
  // Every unit above holds its row until it commits; this one must not wait.
  auto last = std::async(std::launch::async, [&] {
    return s.transact([](store::Transaction& tx) { return tx.addToCounter("tasks.pending", 1); });
  });
  const bool finished = last.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  for (auto& thread : open) thread.join();
  ASSERT_TRUE(finished) << "an addition waited for another connection's open unit of work";
  EXPECT_TRUE(last.get().ok());
  auto counters = s.counters("tasks.");
  ASSERT_TRUE(counters.ok()) << counters.status().toString();
  EXPECT_EQ(counters->at("tasks.pending"), kOpen + 1);
}

// ---------------------------------------------------------------- two processes, one database

TEST(StoragePostgres, TwoProcessesDrainOneQueueExactlyOnce) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded = loadStore(storeConfig(schema.url(), schema.name()));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  constexpr int kItems = 10'000;
  for (int start = 0; start < kItems; start += 500) {
    Status status = loaded->store->transact([&](store::Transaction& tx) -> Status {
      for (int i = start; i < start + 500; ++i) HIVE_TRY(tx.enqueue(request("shared", std::to_string(i))));
      return okStatus();
    });
    ASSERT_TRUE(status.ok()) << status.toString();
  }
  std::string outA = "/tmp/hive-pg-drain-" + schema.name() + "-a";
  std::string outB = "/tmp/hive-pg-drain-" + schema.name() + "-b";
  {
    Child a({STORAGE_POSTGRES_WORKER_PATH, "drain", schema.url(), schema.name(), "shared", outA, "node-a"});
    Child b({STORAGE_POSTGRES_WORKER_PATH, "drain", schema.url(), schema.name(), "shared", outB, "node-b"});
    ASSERT_TRUE(a.started() && b.started());
    EXPECT_EQ(a.wait(400s), std::optional<int>(0));
    EXPECT_EQ(b.wait(400s), std::optional<int>(0));
  }
  std::map<std::string, int> times;
  std::size_t counts[2] = {0, 0};
  int which = 0;
  for (const auto& path : {outA, outB}) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      ++times[line];
      ++counts[which];
    }
    std::filesystem::remove(path);
    ++which;
  }
  int duplicates = 0;
  for (const auto& [payload, count] : times) duplicates += count > 1;
  EXPECT_EQ(duplicates, 0) << "items completed by both processes";
  EXPECT_EQ(times.size(), static_cast<std::size_t>(kItems)) << "items lost";
  EXPECT_GT(counts[0], 0u) << "process a got no share";
  EXPECT_GT(counts[1], 0u) << "process b got no share";
  auto depth = loaded->store->depth("shared");
  ASSERT_TRUE(depth.ok());
  for (const auto& [priority, count] : *depth) EXPECT_EQ(count, 0u);
}

TEST(StoragePostgres, NotifyFromOneProcessWakesTheOther) {
  HIVE_REQUIRE_POSTGRES();
  ScratchSchema schema;
  auto loaded = loadStore(storeConfig(schema.url(), schema.name()));
  ASSERT_TRUE(loaded->status.ok()) << loaded->status.toString();
  auto& s = *loaded->store;

  // This process enqueues; the worker's subscriber wakes.
  {
    Child waiter({STORAGE_POSTGRES_WORKER_PATH, "wait", schema.url(), schema.name(), "cross", "20000"});
    ASSERT_TRUE(waiter.started());
    ASSERT_EQ(waiter.readLine(60s), std::optional<std::string>("ready"));
    ASSERT_TRUE(s.enqueue(request("cross", "wake the other node")).ok());
    EXPECT_EQ(waiter.readLine(30s), std::optional<std::string>("woken"));
    EXPECT_EQ(waiter.wait(30s), std::optional<int>(0));
  }
  // The worker enqueues; this process's subscriber wakes.
  std::atomic<int> wakes{0};
  auto subscription = s.onClaimable("back", [&] { ++wakes; });
  Child enqueuer(
      {STORAGE_POSTGRES_WORKER_PATH, "enqueue", schema.url(), schema.name(), "back", "from the worker"});
  ASSERT_TRUE(enqueuer.started());
  EXPECT_EQ(enqueuer.wait(60s), std::optional<int>(0));
  EXPECT_TRUE(waitUntil([&] { return wakes.load() > 0; }, 15s))
      << "no wake-up from the other process's enqueue";
}

}  // namespace
}  // namespace hive::storage_postgres::test
