// storage_sqlite behaviour beyond the hive.store/1 contract: the database file,
// schema versions, durability settings, group commit and config validation.
// Every test loads the real .so.
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

namespace {

using namespace std::chrono_literals;
using hive::StatusCode;
using hive::store::Store;
using ::testing::HasSubstr;

class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "storage_sqlite_test.XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct Opened {
  std::unique_ptr<hive::testing::PluginHarness> harness;
  hive::ServiceRef<Store> store;
  hive::Status status;
  ~Opened() {
    store = {};
    harness.reset();
  }
};

std::unique_ptr<Opened> open(hive::ConfigNode config) {
  auto opened = std::make_unique<Opened>();
  auto loaded = hive::testing::PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
  if (!loaded.ok()) {
    opened->status = loaded.status();
    return opened;
  }
  opened->harness = std::move(loaded).value();
  opened->harness->setConfig(std::move(config));
  opened->status = opened->harness->start();
  if (!opened->status.ok()) return opened;
  auto store = opened->harness->services().get<Store>();
  if (!store.ok()) {
    opened->status = store.status();
    return opened;
  }
  opened->store = std::move(store).value();
  return opened;
}

std::unique_ptr<Opened> openAt(const std::string& path, const std::string& synchronous = "normal") {
  return open(hive::testing::configFromPairs({{"path", path}, {"synchronous", synchronous}}));
}

// One value of a query on the database file, read with the sqlite3 library directly.
std::string sqliteValue(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out = "<error>";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK) {
      int rc = sqlite3_step(statement);
      if (rc == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(statement, 0);
        out = text ? reinterpret_cast<const char*>(text) : "<null>";
      } else if (rc == SQLITE_DONE) {
        out = "<done>";
      }
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return out;
}

hive::store::Document document(std::string id, std::string body) {
  hive::store::Document d;
  d.id = std::move(id);
  d.body = std::move(body);
  return d;
}

TEST(StorageSqlite, CreatesTheDatabaseUnderTheDataDirectoryInWalMode) {
  auto opened = open(hive::ConfigNode::map());
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  std::string file = opened->harness->context().dataDirectory() + "/store.sqlite3";
  EXPECT_TRUE(std::filesystem::exists(file)) << file;
  EXPECT_EQ(sqliteValue(file, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(sqliteValue(file, "SELECT max(version) FROM schema_version"), "3");
  EXPECT_EQ(opened->store->schemaVersion(), 3u);
  EXPECT_TRUE(opened->harness->health().ok());
  EXPECT_THAT(opened->harness->logLines(), ::testing::Contains(HasSubstr("synchronous=full")));
}

// The names of this process's threads, as `top -H` shows them.
std::vector<std::string> threadNames() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.push_back(name);
  }
  return names;
}

// An operator reading `top -H` or a profile sees which thread is the store's
// writer (the one every write goes through) and which wakes claimers. Each
// thread names itself as it starts, which may come after open() returns: the
// names are waited for (5 s at most).
TEST(StorageSqlite, ItsThreadsSayWhatTheyAre) {
  auto opened = open(hive::ConfigNode::map());
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  auto named = [](const std::string& name) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<std::string> names = threadNames();
    while (std::find(names.begin(), names.end(), name) == names.end() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      names = threadNames();
    }
    return names;
  };
  EXPECT_THAT(named("sqlite-writer"), ::testing::Contains("sqlite-writer"));
  EXPECT_THAT(named("sqlite-notify"), ::testing::Contains("sqlite-notify"));
}

std::int64_t pages(const std::string& path, const std::string& pragma) {
  return std::stoll(sqliteValue(path, "PRAGMA " + pragma));
}

// Appends `count` events of 4 KiB (about a page each) to `stream`.
void appendBulk(Store& store, const std::string& stream, int count) {
  for (int start = 0; start < count; start += 100) {
    ASSERT_TRUE(store
                    .transact([&](hive::store::Transaction& tx) -> hive::Status {
                      for (int i = start; i < std::min(count, start + 100); ++i)
                        HIVE_TRY(
                            tx.append(stream, "bulk", std::string(4000, static_cast<char>('a' + i % 26))));
                      return hive::okStatus();
                    })
                    .ok());
  }
}

TEST(StorageSqlite, NewDatabaseGivesTrimmedSpaceBack) {
  ScratchDirectory dir;
  std::string path = dir.file("retention.sqlite3");
  auto opened = openAt(path);
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  EXPECT_EQ(sqliteValue(path, "PRAGMA auto_vacuum"), "2") << "incremental";
  appendBulk(*opened->store, "log", 2000);
  std::int64_t full = pages(path, "page_count");
  ASSERT_GT(full, 2000);
  // Retention in batches smaller than incremental_vacuum_pages (256): each
  // commit gives back what its trim freed.
  std::uint64_t trimmed = 0;
  for (int batch = 0; batch < 20; ++batch) {
    auto gone = opened->store->trim("log", std::numeric_limits<std::int64_t>::max(), 100);
    ASSERT_TRUE(gone.ok()) << gone.status().toString();
    trimmed += *gone;
  }
  EXPECT_EQ(trimmed, 2000u);
  EXPECT_LT(pages(path, "page_count"), full / 10) << "the file shrank (pages given back)";
  EXPECT_LT(pages(path, "freelist_count"), 50);
  auto id = opened->store->append("log", "after", "x");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 2001u);
}

TEST(StorageSqlite, IncrementalVacuumPagesZeroKeepsFreedPagesForReuse) {
  ScratchDirectory dir;
  std::string path = dir.file("keep-pages.sqlite3");
  auto opened = open(hive::testing::configFromPairs(
      {{"path", path}, {"synchronous", "normal"}, {"incremental_vacuum_pages", "0"}}));
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  appendBulk(*opened->store, "log", 500);
  std::int64_t full = pages(path, "page_count");
  auto gone = opened->store->trim("log", std::numeric_limits<std::int64_t>::max(), 10000);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, 500u);
  EXPECT_EQ(pages(path, "page_count"), full);
  EXPECT_GT(pages(path, "freelist_count"), 400);
}

TEST(StorageSqlite, ExistingDatabaseMigratesAndKeepsItsVacuumModeUntilAnOperatorVacuums) {
  ScratchDirectory dir;
  std::string path = dir.file("old.sqlite3");
  {
    auto opened = openAt(path);
    ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
    ASSERT_TRUE(opened->store->append("log", "t", "kept").ok());
  }
  // Make it a schema-1 database as an older storage_sqlite left it: no
  // auto_vacuum, no tables of migration 2.
  ASSERT_EQ(sqliteValue(path, "DROP TABLE counters"), "<done>");
  ASSERT_EQ(sqliteValue(path, "DROP TABLE stream_trims"), "<done>");
  ASSERT_EQ(sqliteValue(path, "UPDATE schema_version SET version = 1"), "<done>");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "PRAGMA auto_vacuum = NONE; VACUUM;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_EQ(sqliteValue(path, "PRAGMA auto_vacuum"), "0");
  {
    auto opened = openAt(path);
    ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
    EXPECT_EQ(opened->store->schemaVersion(), 3u);
    EXPECT_EQ(sqliteValue(path, "PRAGMA auto_vacuum"), "0")
        << "never switched (nor VACUUMed) behind one's back";
    auto events = opened->store->read("log", 0);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ(events->front().body, "kept");
    ASSERT_TRUE(
        opened->store->transact([](hive::store::Transaction& tx) { return tx.addToCounter("c", 5); }).ok());
    auto counters = opened->store->counters("c");
    ASSERT_TRUE(counters.ok()) << counters.status().toString();
    EXPECT_EQ(counters->at("c"), 5);
    auto trimmed = opened->store->trim("log", std::numeric_limits<std::int64_t>::max(), 10);
    ASSERT_TRUE(trimmed.ok()) << trimmed.status().toString();
    EXPECT_EQ(*trimmed, 1u);
  }
  // The one-off switch docs/storage.md tells operators to run, store stopped.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(sqliteValue(path, "PRAGMA auto_vacuum"), "2");
  auto reopened = openAt(path);
  ASSERT_TRUE(reopened->status.ok()) << reopened->status.toString();
  auto id = reopened->store->append("log", "t", "next");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 2u) << "the trimmed id is not reused";
}

// Schema 3 drops the index of document_index by document id: a document's
// entries are found through the index map it stores. A schema-2 database
// migrates, and removing or reindexing its documents leaves no entry behind.
TEST(StorageSqlite, SchemaTwoMigratesAndDocumentsLeaveNoIndexEntryBehind) {
  ScratchDirectory dir;
  std::string path = dir.file("two.sqlite3");
  auto indexed = [](std::string id, std::string status) {
    auto d = document(std::move(id), "{}");
    d.index = {{"status", std::move(status)}, {"type", "t"}};
    return d;
  };
  {
    auto opened = openAt(path);
    ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
    ASSERT_TRUE(opened->store->declareCollection({"c", {"status", "type"}}).ok());
    ASSERT_TRUE(opened->store->put("c", indexed("a", "pending")).ok());
    ASSERT_TRUE(opened->store->put("c", indexed("b", "pending")).ok());
  }
  ASSERT_EQ(sqliteValue(path, "CREATE INDEX document_index_by_id ON document_index (collection, id)"),
            "<done>");
  ASSERT_EQ(sqliteValue(path, "UPDATE schema_version SET version = 2"), "<done>");
  auto opened = openAt(path);
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  EXPECT_EQ(opened->store->schemaVersion(), 3u);
  EXPECT_EQ(sqliteValue(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'document_index_by_id'"), "0");
  Store& store = *opened->store;
  auto a = store.get("c", "a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store.put("c", indexed("a", "done"), a->version).ok());
  ASSERT_TRUE(store.remove("c", "b").ok());
  EXPECT_EQ(sqliteValue(path,
                        "SELECT group_concat(field || '=' || value || '@' || id, ' ') FROM "
                        "(SELECT * FROM document_index ORDER BY id, field)"),
            "status=done@a type=t@a");
  hive::store::ListQuery query;
  query.collection = "c";
  query.equals = {{"status", "pending"}};
  auto pending = store.list(query);
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->items.empty());
  query.equals = {{"status", "done"}};
  auto done = store.list(query);
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->items.size(), 1u);
  EXPECT_EQ(done->items.front().id, "a");
}

TEST(StorageSqlite, ReopenKeepsEverything) {
  ScratchDirectory dir;
  std::string path = dir.file("keep.sqlite3");
  std::string itemId, token;
  {
    auto opened = openAt(path, "full");
    ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
    Store& store = *opened->store;
    ASSERT_TRUE(store.declareCollection({"agents", {"kind"}}).ok());
    auto d = document("a1", "body");
    d.index = {{"kind", "w"}};
    ASSERT_TRUE(store.put("agents", d).ok());
    ASSERT_TRUE(store.put("agents", d).ok());
    hive::store::EnqueueRequest request;
    request.queue = "jobs";
    request.payload = "p";
    request.idempotencyKey = "k";
    ASSERT_TRUE(store.enqueue(request).ok());
    hive::store::ClaimRequest claim;
    claim.queue = "jobs";
    claim.lease = 1h;
    auto claimed = store.claim(claim);
    ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
    itemId = (*claimed)[0].id;
    token = (*claimed)[0].leaseToken;
    ASSERT_TRUE(store.append("log", "t", "one").ok());
    ASSERT_TRUE(store.append("log", "t", "two").ok());
  }
  auto opened = openAt(path);
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  Store& store = *opened->store;
  auto got = store.get("agents", "a1");
  ASSERT_TRUE(got.ok()) << got.status().toString();
  EXPECT_EQ(got->version, 2u);
  EXPECT_EQ(got->index.at("kind"), "w");
  auto item = store.peek("jobs", itemId);
  ASSERT_TRUE(item.ok());
  EXPECT_EQ(item->leaseToken, token) << "leases survive a restart";
  EXPECT_EQ(item->idempotencyKey, "k");
  EXPECT_TRUE(store.complete("jobs", itemId, token).ok());
  auto next = store.append("log", "t", "three");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 3u);
  // A declared index still filters after the restart.
  hive::store::ListQuery query;
  query.collection = "agents";
  query.equals = {{"kind", "w"}};
  auto page = store.list(query);
  ASSERT_TRUE(page.ok()) << page.status().toString();
  EXPECT_EQ(page->items.size(), 1u);
}

TEST(StorageSqlite, SchemaNewerThanTheCodeIsRefused) {
  ScratchDirectory dir;
  std::string path = dir.file("future.sqlite3");
  {
    auto opened = openAt(path);
    ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  }
  ASSERT_EQ(sqliteValue(path, "UPDATE schema_version SET version = 99"), "<done>");
  auto opened = openAt(path);
  EXPECT_EQ(opened->status.code(), StatusCode::kFailedPrecondition) << opened->status.toString();
  EXPECT_THAT(opened->status.message(), HasSubstr("schema version 99"));
  EXPECT_THAT(opened->status.message(), HasSubstr("newer than this storage_sqlite knows (3)"));
  EXPECT_THAT(opened->status.message(), HasSubstr(path));
  ASSERT_NE(opened->harness, nullptr);
  EXPECT_THAT(opened->harness->logLines(), ::testing::Contains(HasSubstr("schema version 99")));
  // Refusing changed nothing.
  EXPECT_EQ(sqliteValue(path, "SELECT max(version) FROM schema_version"), "99");
}

TEST(StorageSqlite, NotADatabaseIsRefused) {
  ScratchDirectory dir;
  std::string path = dir.file("garbage.sqlite3");
  {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("this is not an SQLite database, not even close; padding padding padding padding padding", f);
    fclose(f);
  }
  auto opened = openAt(path);
  EXPECT_FALSE(opened->status.ok());
  EXPECT_THAT(opened->status.message(), HasSubstr(path));
}

TEST(StorageSqlite, IntegrityCheckAfterConcurrentWork) {
  ScratchDirectory dir;
  std::string path = dir.file("busy.sqlite3");
  {
    auto opened = openAt(path, "full");
    ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
    Store& store = *opened->store;
    ASSERT_TRUE(store.declareCollection({"docs", {"owner"}}).ok());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          auto d = document("d" + std::to_string(t) + "-" + std::to_string(i % 10), std::string(100, 'x'));
          d.index = {{"owner", "t" + std::to_string(t)}};
          if (!store.put("docs", d).ok()) ++failures;
          hive::store::EnqueueRequest request;
          request.queue = "q";
          request.payload = "x";
          if (!store.enqueue(request).ok()) ++failures;
          if (!store.append("s" + std::to_string(t), "t", "b").ok()) ++failures;
          hive::store::ClaimRequest claim;
          claim.queue = "q";
          auto claimed = store.claim(claim);
          if (!claimed.ok())
            ++failures;
          else
            for (const auto& item : *claimed)
              if (!store.complete("q", item.id, item.leaseToken).ok()) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
  }
  EXPECT_EQ(sqliteValue(path, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(sqliteValue(path, "SELECT count(*) FROM documents"), "40");
  EXPECT_EQ(sqliteValue(path, "SELECT count(*) FROM events"), "400");
}

// Holds the writer thread inside a unit of work until released, so that the
// requests submitted meanwhile are all waiting when the next group starts.
class WriterGate {
 public:
  void holdWriter(Store& store) {
    thread_ = std::thread([this, &store] {
      (void)store.transact([this](hive::store::Transaction&) -> hive::Status {
        std::unique_lock lock(mutex_);
        entered_ = true;
        changed_.notify_all();
        changed_.wait_for(lock, 10s, [&] { return released_; });
        return hive::okStatus();
      });
    });
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 10s, [&] { return entered_; });
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  bool entered() {
    std::lock_guard lock(mutex_);
    return entered_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false, released_ = false;
  std::thread thread_;
};

TEST(StorageSqlite, GroupCommitIsolatesFailingRequests) {
  auto opened = open(hive::testing::configFromPairs({{"synchronous", "full"}}));
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  Store& store = *opened->store;
  ASSERT_TRUE(store.declareCollection({"docs", {}}).ok());
  ASSERT_TRUE(store.put("docs", document("taken", "first")).ok());
  auto& batches = opened->harness->metrics().histogram("hive_store_sqlite_batch_size", "");
  auto& commits = opened->harness->metrics().counter("hive_store_sqlite_commits_total", "");
  std::uint64_t batchesBefore = batches.count();
  double requestsBefore = batches.sum();
  double commitsBefore = commits.value();

  WriterGate gate;
  gate.holdWriter(store);
  ASSERT_TRUE(gate.entered());
  constexpr int kClients = 8;
  std::vector<hive::Status> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      // Odd clients collide on an existing document; even ones create their own.
      auto put =
          i % 2 ? store.put("docs", document("taken", "client"), hive::store::kMustNotExist)
                : store.put("docs", document("c" + std::to_string(i), "client"), hive::store::kMustNotExist);
      results[i] = put.status();
    });
  }
  std::this_thread::sleep_for(300ms);  // lets every client queue its request behind the gate
  gate.release();
  for (auto& c : clients) c.join();

  for (int i = 0; i < kClients; ++i) {
    if (i % 2) {
      EXPECT_EQ(results[i].code(), StatusCode::kAborted) << i << ": " << results[i].toString();
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].toString();
      EXPECT_TRUE(store.get("docs", "c" + std::to_string(i)).ok());
    }
  }
  auto taken = store.get("docs", "taken");
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->body, "first");
  // 1 gate unit + 8 client requests, in fewer commits than requests.
  std::uint64_t newBatches = batches.count() - batchesBefore;
  EXPECT_EQ(batches.sum() - requestsBefore, 1.0 + kClients);
  EXPECT_LT(newBatches, 1u + kClients) << "requests waiting together share one commit";
  EXPECT_EQ(commits.value() - commitsBefore, static_cast<double>(newBatches));
}

TEST(StorageSqlite, StoreCallFromInsideTransactIsRefusedNotDeadlocked) {
  auto opened = open(hive::ConfigNode::map());
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  Store& store = *opened->store;
  hive::Status inner;
  hive::Status outer = store.transact([&](hive::store::Transaction&) -> hive::Status {
    inner = store.append("log", "t", "b").status();
    return hive::okStatus();
  });
  EXPECT_TRUE(outer.ok());
  EXPECT_EQ(inner.code(), StatusCode::kFailedPrecondition) << inner.toString();
}

TEST(StorageSqlite, SizeLimitsFromConfig) {
  auto opened = open(hive::testing::configFromPairs(
      {{"max_document_bytes", "1024"}, {"max_payload_bytes", "512"}, {"synchronous", "normal"}}));
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  Store& store = *opened->store;
  ASSERT_TRUE(store.declareCollection({"docs", {}}).ok());
  EXPECT_TRUE(store.put("docs", document("ok", std::string(1024, 'x'))).ok());
  auto big = store.put("docs", document("big", std::string(1025, 'x')));
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("1025 bytes exceeds the limit of 1024"));
  hive::store::EnqueueRequest request;
  request.queue = "q";
  request.payload = std::string(513, 'x');
  EXPECT_EQ(store.enqueue(request).status().code(), StatusCode::kInvalidArgument);
  request.payload.resize(512);
  EXPECT_TRUE(store.enqueue(request).ok());
  EXPECT_EQ(store.append("log", "t", std::string(1025, 'x')).status().code(), StatusCode::kInvalidArgument);
}

TEST(StorageSqlite, DefaultLimitIsOneMebibyte) {
  auto opened = open(hive::testing::configFromPairs({{"synchronous", "normal"}}));
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  Store& store = *opened->store;
  ASSERT_TRUE(store.declareCollection({"docs", {}}).ok());
  EXPECT_TRUE(store.put("docs", document("ok", std::string(1 << 20, 'x'))).ok());
  EXPECT_EQ(store.put("docs", document("big", std::string((1 << 20) + 1, 'x'))).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(StorageSqlite, OnClaimableFiresWhenNotBeforeArrives) {
  auto opened = open(hive::testing::configFromPairs({{"synchronous", "normal"}}));
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  Store& store = *opened->store;
  std::atomic<std::int64_t> firedAt{0};
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  auto subscription = store.onClaimable("later", [&] {
    if (firedAt.load() == 0) firedAt = now();
  });
  hive::store::EnqueueRequest request;
  request.queue = "later";
  request.notBeforeMs = now() + 300;
  ASSERT_TRUE(store.enqueue(request).ok());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (firedAt.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_NE(firedAt.load(), 0) << "no wake-up when the item became claimable";
  EXPECT_GE(firedAt.load(), request.notBeforeMs);
}

TEST(StorageSqlite, StoppedStoreRefusesCalls) {
  auto opened = open(hive::ConfigNode::map());
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  hive::ServiceRef<Store> kept = opened->store;
  opened->harness->stop();
  EXPECT_EQ(kept->append("log", "t", "b").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(kept->read("log", 0).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(kept->ping().code(), StatusCode::kUnavailable);
}

TEST(StorageSqliteConfig, ErrorsPointAtTheValue) {
  auto section = hive::ConfigNode::map({"hive.yaml", 10, 3});
  section.set("synchronous", hive::ConfigNode::scalar("sometimes", {"hive.yaml", 11, 18}),
              {"hive.yaml", 11, 5});
  section.set("readers", hive::ConfigNode::scalar("0", {"hive.yaml", 12, 14}), {"hive.yaml", 12, 5});
  section.set("busy_timeout", hive::ConfigNode::scalar("fast", {"hive.yaml", 13, 19}), {"hive.yaml", 13, 5});
  section.set("max_batch", hive::ConfigNode::scalar("-1", {"hive.yaml", 14, 16}), {"hive.yaml", 14, 5});
  section.set("max_document_bytes", hive::ConfigNode::scalar("1GiB", {"hive.yaml", 15, 25}),
              {"hive.yaml", 15, 5});
  section.set("pth", hive::ConfigNode::scalar("x.db", {"hive.yaml", 16, 10}), {"hive.yaml", 16, 5});
  auto loaded = hive::testing::PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  auto harness = std::move(loaded).value();
  harness->setConfig(section);
  hive::Diagnostics diagnostics = harness->configure();
  std::string text = diagnostics.toString();
  EXPECT_EQ(diagnostics.errorCount(), 6u) << text;
  EXPECT_THAT(
      text, HasSubstr("hive.yaml:11:18: error: 'synchronous': expected 'full' or 'normal', got 'sometimes'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:12:14: error: 'readers': must be between 1 and 32, got 0"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:13:19: error: 'busy_timeout'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:14:16: error: 'max_batch'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:15:25: error: 'max_document_bytes'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:16:5: error: unknown key 'pth' (did you mean 'path'?)"));
  EXPECT_EQ(harness->start().code(), StatusCode::kInvalidArgument) << "a bad config never starts";
}

TEST(StorageSqliteConfig, GoodConfigIsAccepted) {
  ScratchDirectory dir;
  auto opened = open(hive::testing::configFromPairs({{"path", dir.file("ok.sqlite3")},
                                                     {"synchronous", "normal"},
                                                     {"busy_timeout", "2s"},
                                                     {"readers", "2"},
                                                     {"max_batch", "64"},
                                                     {"max_pending_writes", "100"},
                                                     {"max_document_bytes", "4096"},
                                                     {"max_payload_bytes", "4096"}}));
  ASSERT_TRUE(opened->status.ok()) << opened->status.toString();
  EXPECT_TRUE(opened->store->ping().ok());
  EXPECT_TRUE(std::filesystem::exists(dir.file("ok.sqlite3")));
}

}  // namespace
