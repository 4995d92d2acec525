// hive.store/1 conformance suite — the behaviour every hive::store::Store provider
// must show (storage_sqlite, storage_postgres, or a third party's). Header-only
// GoogleTest; needs only the installed SDK, Hive::sdk_testing and GTest.
//
// Use: in exactly ONE .cpp of a test executable (the header defines the tests),
// give a factory that returns a fresh, empty store, and instantiate the suite:
//
//   #include "hive/testing/store_conformance.hpp"
//
//   std::unique_ptr<hive::testing::StoreUnderTest> makeStore() {
//     auto loaded = hive::testing::PluginHarness::loadLibrary(MY_STORE_PLUGIN_PATH);
//     if (!loaded.ok()) return nullptr;                        // the suite reports it
//     auto harness = std::move(loaded).value();
//     harness->setConfig(hive::testing::configFromPairs({{"synchronous", "normal"}}));
//     if (!harness->start().ok()) return nullptr;
//     auto store = harness->services().get<hive::store::Store>();
//     if (!store.ok()) return nullptr;
//     // The harness must outlive the store reference: keep both, drop the store first.
//     return hive::testing::StoreUnderTest::hold(std::move(harness), std::move(*store));
//   }
//   HIVE_STORE_CONFORMANCE_SUITE(MyStore, makeStore);
//
// Link the test with Hive::sdk_testing and GTest::gtest_main. Each test calls the
// factory once; the store must be empty (a fresh file, schema or database) and is
// destroyed at the end of the test. Tests take a few seconds each at most: leases
// are short (100 ms..1.5 s) and every wait is bounded (kWaitLimit). Nothing asserts
// speed. The concurrency tests (two claimers draining 10,000 items, concurrent
// appends, concurrent transactions) run plain std::threads against the store, as
// blocking-executor threads of several plugins would.
//
// Tests are named `MyStore/StoreConformance.<Group><Case>/MyStore` (the fixture is
// hive::testing::store_conformance::StoreConformance); `--gtest_filter='*Queue*'`
// runs one group. What it checks, by group:
//   Documents — create/replace/versions, kAborted on version conflicts,
//               kMustNotExist, remove, opaque bodies, declared index fields only.
//   List      — equality filters, pagination over several pages without
//               duplicates or omissions, bad cursors and limits.
//   Queue     — priority then FIFO, minPriority, notBefore, idempotency keys,
//               claim/lease/extend/expiry, stale tokens (kFailedPrecondition) on
//               complete/fail/extend, fail with retryAfter, cancel,
//               releaseExpired, depth, onClaimable wake-ups, two claimers.
//   Events    — ids 1,2,3… per stream, read after id with limit, concurrent
//               appends; trim deletes only old events, a prefix, and ids go on.
//   Transact  — all or nothing, documents + queue + events in one unit,
//               concurrent units where some fail; claim and extend inside a
//               unit commit and roll back with it, concurrent claiming units
//               never share an item.
//   Counters  — exact under concurrent units (some failing), prefixes, bad
//               names, the 64-bit range.
//   Names     — invalid collection/queue/stream names and ids: kInvalidArgument.
//   Health    — ping() and schemaVersion().
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hive/services/store.hpp"
#include "hive/services/store_erasure.hpp"
#include "hive/status.hpp"
#include "hive/testing/harness.hpp"

namespace hive::testing {

// One store for one test, and whatever keeps it alive (a harness, a server, a
// temporary directory). Destroyed at the end of the test.
class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  virtual store::Store& store() = 0;
  // The store's hive.store_erasure/1 (SDK 2.11) when it provides one; the
  // erasure tests are skipped without it.
  virtual store::Erasure* erasure() { return nullptr; }

  // The common case: a plugin loaded in a harness and the store it provides
  // (and its hive.store_erasure/1, when it provides one). The references are
  // released before the harness (and its library).
  static std::unique_ptr<StoreUnderTest> hold(std::unique_ptr<PluginHarness> harness,
                                              ServiceRef<store::Store> store) {
    class Held final : public StoreUnderTest {
     public:
      Held(std::unique_ptr<PluginHarness> h, ServiceRef<store::Store> s)
          : harness_(std::move(h)), store_(std::move(s)) {
        if (auto erasure = harness_->services().get<store::Erasure>(); erasure.ok()) erasure_ = *erasure;
      }
      ~Held() override {
        erasure_ = {};
        store_ = {};
        harness_.reset();
      }
      store::Store& store() override { return *store_; }
      store::Erasure* erasure() override { return erasure_ ? &*erasure_ : nullptr; }

     private:
      std::unique_ptr<PluginHarness> harness_;
      ServiceRef<store::Store> store_;
      ServiceRef<store::Erasure> erasure_;
    };
    return std::make_unique<Held>(std::move(harness), std::move(store));
  }
};

// Returns a fresh, empty store, or null when it cannot (the test then fails).
using StoreFactory = std::function<std::unique_ptr<StoreUnderTest>()>;

struct StoreConformanceParam {
  std::string name;
  StoreFactory factory;
};

// How GoogleTest names the parameter in test listings (not as a byte dump).
inline void PrintTo(const StoreConformanceParam& param, std::ostream* out) { *out << param.name; }

namespace store_conformance {

using namespace std::chrono_literals;

// Upper bound of every wait for something that should happen "soon".
inline constexpr std::chrono::milliseconds kWaitLimit = 10s;

inline std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Polls `condition` until it holds or `limit` passes; returns whether it held.
template <class Condition>
bool waitFor(Condition condition, std::chrono::milliseconds limit = kWaitLimit,
             std::chrono::milliseconds poll = 20ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

inline Status statusOf(const Status& status) { return status; }
template <typename T>
Status statusOf(const Result<T>& result) {
  return result.status();
}

inline std::string codeName(StatusCode code) { return std::string(statusCodeName(code)); }

// EXPECT/ASSERT that a Status or Result is OK, or has a given code; the message
// is printed when it does not.
#define HIVE_STORE_EXPECT_OK(expr)                                                       \
  do {                                                                                   \
    ::hive::Status hive_sc_status_ = ::hive::testing::store_conformance::statusOf(expr); \
    EXPECT_TRUE(hive_sc_status_.ok()) << #expr << ": " << hive_sc_status_.toString();    \
  } while (0)
#define HIVE_STORE_ASSERT_OK(expr)                                                       \
  do {                                                                                   \
    ::hive::Status hive_sc_status_ = ::hive::testing::store_conformance::statusOf(expr); \
    ASSERT_TRUE(hive_sc_status_.ok()) << #expr << ": " << hive_sc_status_.toString();    \
  } while (0)
#define HIVE_STORE_EXPECT_CODE(expr, expected)                                           \
  do {                                                                                   \
    ::hive::Status hive_sc_status_ = ::hive::testing::store_conformance::statusOf(expr); \
    EXPECT_EQ(::hive::testing::store_conformance::codeName(hive_sc_status_.code()),      \
              ::hive::testing::store_conformance::codeName(expected))                    \
        << #expr << ": " << hive_sc_status_.toString();                                  \
  } while (0)

class StoreConformance : public ::testing::TestWithParam<StoreConformanceParam> {
 protected:
  void SetUp() override {
    subject_ = GetParam().factory();
    ASSERT_NE(subject_, nullptr) << "the store factory of '" << GetParam().name << "' returned null";
    store_ = &subject_->store();
  }
  void TearDown() override {
    store_ = nullptr;
    subject_.reset();
  }

  store::Store& store() { return *store_; }
  store::Erasure* erasure() { return subject_->erasure(); }

  store::Document document(std::string id, std::string body, std::map<std::string, std::string> index = {}) {
    store::Document d;
    d.id = std::move(id);
    d.body = std::move(body);
    d.index = std::move(index);
    return d;
  }

  store::QueueItem enqueueOrFail(const std::string& queue, const std::string& payload, int priority = 5) {
    store::EnqueueRequest request;
    request.queue = queue;
    request.payload = payload;
    request.priority = priority;
    auto item = store().enqueue(request);
    EXPECT_TRUE(item.ok()) << item.status().toString();
    return item.ok() ? *item : store::QueueItem{};
  }

  std::vector<store::QueueItem> claim(const std::string& queue, std::size_t maxItems = 1,
                                      std::chrono::milliseconds lease = std::chrono::seconds(30),
                                      int minPriority = 1) {
    store::ClaimRequest request;
    request.queue = queue;
    request.claimant = "conformance";
    request.lease = lease;
    request.maxItems = maxItems;
    request.minPriority = minPriority;
    auto claimed = store().claim(request);
    EXPECT_TRUE(claimed.ok()) << claimed.status().toString();
    return claimed.ok() ? *claimed : std::vector<store::QueueItem>{};
  }

  // Total of depth(queue) over all priorities (0 when the call fails, which is reported).
  std::uint64_t waiting(const std::string& queue) {
    auto depth = store().depth(queue);
    EXPECT_TRUE(depth.ok()) << depth.status().toString();
    std::uint64_t total = 0;
    if (depth.ok())
      for (const auto& [priority, count] : *depth) total += count;
    return total;
  }

 private:
  std::unique_ptr<StoreUnderTest> subject_;
  store::Store* store_ = nullptr;
};

// ---------------------------------------------------------------- documents

TEST_P(StoreConformance, DocumentsCreateGetReplace) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {"kind"}}));
  std::int64_t before = store_conformance::nowMs();
  auto created = store().put("agents", document("a1", R"({"n":1})", {{"kind", "worker"}}));
  HIVE_STORE_ASSERT_OK(created);
  EXPECT_EQ(created->id, "a1");
  EXPECT_EQ(created->version, 1u);
  EXPECT_EQ(created->body, R"({"n":1})");
  EXPECT_GE(created->createdAtMs, before - 1000);
  EXPECT_LE(created->createdAtMs, store_conformance::nowMs() + 1000);
  EXPECT_EQ(created->updatedAtMs, created->createdAtMs);

  auto got = store().get("agents", "a1");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->version, 1u);
  EXPECT_EQ(got->body, R"({"n":1})");
  EXPECT_EQ(got->index, (std::map<std::string, std::string>{{"kind", "worker"}}));
  EXPECT_EQ(got->createdAtMs, created->createdAtMs);

  std::this_thread::sleep_for(5ms);
  auto replaced = store().put("agents", document("a1", R"({"n":2})", {{"kind", "planner"}}), 1);
  HIVE_STORE_ASSERT_OK(replaced);
  EXPECT_EQ(replaced->version, 2u);
  EXPECT_EQ(replaced->createdAtMs, created->createdAtMs);
  EXPECT_GE(replaced->updatedAtMs, created->updatedAtMs);

  auto again = store().put("agents", document("a1", R"({"n":3})"));  // kAnyVersion
  HIVE_STORE_ASSERT_OK(again);
  EXPECT_EQ(again->version, 3u);
  got = store().get("agents", "a1");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->version, 3u);
  EXPECT_EQ(got->body, R"({"n":3})");
  EXPECT_TRUE(got->index.empty()) << "a put replaces the index values too";
}

TEST_P(StoreConformance, DocumentsGetMissingIsNotFound) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {}}));
  HIVE_STORE_EXPECT_CODE(store().get("agents", "nobody"), StatusCode::kNotFound);
}

TEST_P(StoreConformance, DocumentsVersionConflictIsAbortedAndChangesNothing) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {}}));
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a1", "v1")));
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a1", "v2"), 1));

  HIVE_STORE_EXPECT_CODE(store().put("agents", document("a1", "stale"), 1), StatusCode::kAborted);
  HIVE_STORE_EXPECT_CODE(store().put("agents", document("a1", "future"), 7), StatusCode::kAborted);
  HIVE_STORE_EXPECT_CODE(store().put("agents", document("a1", "exists"), store::kMustNotExist),
                         StatusCode::kAborted);
  // Expecting a version of a document that does not exist is a conflict too.
  HIVE_STORE_EXPECT_CODE(store().put("agents", document("a2", "x"), 1), StatusCode::kAborted);
  HIVE_STORE_EXPECT_CODE(store().get("agents", "a2"), StatusCode::kNotFound);

  auto got = store().get("agents", "a1");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->version, 2u);
  EXPECT_EQ(got->body, "v2");
}

TEST_P(StoreConformance, DocumentsMustNotExistCreatesOnlyOnce) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"locks", {}}));
  auto first = store().put("locks", document("l1", "mine"), store::kMustNotExist);
  HIVE_STORE_ASSERT_OK(first);
  EXPECT_EQ(first->version, 1u);
  HIVE_STORE_EXPECT_CODE(store().put("locks", document("l1", "yours"), store::kMustNotExist),
                         StatusCode::kAborted);
  auto got = store().get("locks", "l1");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->body, "mine");
}

TEST_P(StoreConformance, DocumentsConcurrentMustNotExistHasOneWinner) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"locks", {}}));
  std::atomic<int> winners{0}, conflicts{0}, others{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto r = store().put("locks", document("leader", "node" + std::to_string(t)), store::kMustNotExist);
      if (r.ok())
        ++winners;
      else if (r.status().code() == StatusCode::kAborted)
        ++conflicts;
      else
        ++others;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(conflicts.load(), 3);
  EXPECT_EQ(others.load(), 0);
}

TEST_P(StoreConformance, DocumentsRemove) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {}}));
  HIVE_STORE_EXPECT_CODE(store().remove("agents", "a1"), StatusCode::kNotFound);
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a1", "x")));
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a1", "y")));
  HIVE_STORE_EXPECT_CODE(store().remove("agents", "a1", 1), StatusCode::kAborted);
  HIVE_STORE_ASSERT_OK(store().get("agents", "a1"));
  HIVE_STORE_EXPECT_OK(store().remove("agents", "a1", 2));
  HIVE_STORE_EXPECT_CODE(store().get("agents", "a1"), StatusCode::kNotFound);
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a2", "z")));
  HIVE_STORE_EXPECT_OK(store().remove("agents", "a2"));  // kAnyVersion
  HIVE_STORE_EXPECT_CODE(store().remove("agents", "a2"), StatusCode::kNotFound);
  // Re-creating a removed document starts again at version 1.
  auto again = store().put("agents", document("a1", "back"), store::kMustNotExist);
  HIVE_STORE_ASSERT_OK(again);
  EXPECT_EQ(again->version, 1u);
}

TEST_P(StoreConformance, DocumentsBodiesAreOpaqueBytes) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"blobs", {}}));
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  binary += "\xC3\xA9t\xC3\xA9 \xE2\x9C\x93";  // UTF-8 too
  std::string large(64 * 1024, 'x');
  HIVE_STORE_ASSERT_OK(store().put("blobs", document("binary", binary)));
  HIVE_STORE_ASSERT_OK(store().put("blobs", document("large", large)));
  HIVE_STORE_ASSERT_OK(store().put("blobs", document("empty", "")));
  auto got = store().get("blobs", "binary");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->body, binary);
  got = store().get("blobs", "large");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->body, large);
  got = store().get("blobs", "empty");
  HIVE_STORE_ASSERT_OK(got);
  EXPECT_EQ(got->body, "");
}

TEST_P(StoreConformance, DocumentsCollectionsAreSeparate) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"a", {}}));
  HIVE_STORE_ASSERT_OK(store().declareCollection({"b", {}}));
  HIVE_STORE_ASSERT_OK(store().put("a", document("same", "in a")));
  HIVE_STORE_EXPECT_CODE(store().get("b", "same"), StatusCode::kNotFound);
  HIVE_STORE_ASSERT_OK(store().put("b", document("same", "in b")));
  auto a = store().get("a", "same");
  HIVE_STORE_ASSERT_OK(a);
  EXPECT_EQ(a->body, "in a");
  EXPECT_EQ(a->version, 1u);
}

TEST_P(StoreConformance, DocumentsUndeclaredIndexFieldIsInvalid) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {"kind"}}));
  HIVE_STORE_EXPECT_CODE(store().put("agents", document("a1", "x", {{"colour", "red"}})),
                         StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().get("agents", "a1"), StatusCode::kNotFound);
  store::ListQuery query;
  query.collection = "agents";
  query.equals = {{"colour", "red"}};
  HIVE_STORE_EXPECT_CODE(store().list(query), StatusCode::kInvalidArgument);
}

TEST_P(StoreConformance, DocumentsDeclareIsIdempotentAndAddsFields) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {"kind"}}));
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {"kind"}}));
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a1", "x", {{"kind", "w"}})));
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {"kind", "zone"}}));
  HIVE_STORE_ASSERT_OK(store().put("agents", document("a2", "y", {{"kind", "w"}, {"zone", "eu"}})));
  // Declaring fewer fields later does not break documents already stored.
  HIVE_STORE_ASSERT_OK(store().declareCollection({"agents", {"kind"}}));
  auto a1 = store().get("agents", "a1");
  HIVE_STORE_ASSERT_OK(a1);
  EXPECT_EQ(a1->body, "x");
  store::ListQuery query;
  query.collection = "agents";
  query.equals = {{"zone", "eu"}};
  auto page = store().list(query);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, "a2");
}

TEST_P(StoreConformance, DocumentsBadIndexFieldNamesAreInvalid) {
  HIVE_STORE_EXPECT_CODE(store().declareCollection({"agents", {"Kind"}}), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().declareCollection({"agents", {"1kind"}}), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().declareCollection({"agents", {"ki-nd"}}), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().declareCollection({"agents", {""}}), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_OK(store().declareCollection({"agents", {"kind_2"}}));
}

// ---------------------------------------------------------------- list

TEST_P(StoreConformance, ListFiltersByEqualityOfAllFields) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {"state", "owner"}}));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("t1", "1", {{"state", "open"}, {"owner", "ann"}})));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("t2", "2", {{"state", "open"}, {"owner", "bob"}})));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("t3", "3", {{"state", "done"}, {"owner", "ann"}})));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("t4", "4", {{"state", "open"}})));

  auto ids = [&](std::map<std::string, std::string> equals) {
    store::ListQuery query;
    query.collection = "tasks";
    query.equals = std::move(equals);
    auto page = store().list(query);
    EXPECT_TRUE(page.ok()) << page.status().toString();
    std::vector<std::string> out;
    if (page.ok()) {
      EXPECT_TRUE(page->nextCursor.empty());
      for (const auto& d : page->items) out.push_back(d.id);
    }
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<std::string>{"t1", "t2", "t3", "t4"}));
  EXPECT_EQ(ids({{"state", "open"}}), (std::vector<std::string>{"t1", "t2", "t4"}));
  EXPECT_EQ(ids({{"state", "open"}, {"owner", "ann"}}), (std::vector<std::string>{"t1"}));
  EXPECT_EQ(ids({{"owner", "carl"}}), (std::vector<std::string>{}));

  // An index value changes with a put.
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("t1", "1", {{"state", "done"}, {"owner", "ann"}})));
  EXPECT_EQ(ids({{"state", "done"}}), (std::vector<std::string>{"t1", "t3"}));
  HIVE_STORE_ASSERT_OK(store().remove("tasks", "t3"));
  EXPECT_EQ(ids({{"state", "done"}}), (std::vector<std::string>{"t1"}));

  // Returned documents are complete.
  store::ListQuery query;
  query.collection = "tasks";
  query.equals = {{"owner", "bob"}};
  auto page = store().list(query);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].body, "2");
  EXPECT_EQ(page->items[0].version, 1u);
  EXPECT_EQ(page->items[0].index.at("state"), "open");
  EXPECT_GT(page->items[0].createdAtMs, 0);
}

TEST_P(StoreConformance, ListPaginatesWithoutDuplicatesOrOmissions) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"items", {"parity"}}));
  std::set<std::string> evens, all;
  for (int i = 0; i < 53; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "item-%03d", (i * 37) % 53);  // inserted out of id order
    std::string parity = ((i * 37) % 53) % 2 == 0 ? "even" : "odd";
    HIVE_STORE_ASSERT_OK(store().put("items", document(id, parity, {{"parity", parity}})));
    all.insert(id);
    if (parity == "even") evens.insert(id);
  }

  auto collect = [&](std::map<std::string, std::string> equals, std::size_t limit, int& pages) {
    std::vector<std::string> out;
    store::ListQuery query;
    query.collection = "items";
    query.equals = std::move(equals);
    query.limit = limit;
    pages = 0;
    while (pages < 100) {
      auto page = store().list(query);
      EXPECT_TRUE(page.ok()) << page.status().toString();
      if (!page.ok()) break;
      ++pages;
      EXPECT_LE(page->items.size(), limit);
      for (const auto& d : page->items) out.push_back(d.id);
      if (page->nextCursor.empty()) break;
      EXPECT_FALSE(page->items.empty()) << "a page with a next cursor holds items";
      query.cursor = page->nextCursor;
    }
    return out;
  };

  int pages = 0;
  auto listed = collect({}, 10, pages);
  EXPECT_GE(pages, 6);
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end())) << "items come in id order";
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), listed.size()) << "duplicates";
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), all);

  auto listedEvens = collect({{"parity", "even"}}, 4, pages);
  EXPECT_GE(pages, 7);
  EXPECT_TRUE(std::is_sorted(listedEvens.begin(), listedEvens.end()));
  EXPECT_EQ(listedEvens.size(), evens.size());
  EXPECT_EQ(std::set<std::string>(listedEvens.begin(), listedEvens.end()), evens);

  // A limit equal to the count: one full page, then at most an empty last one.
  auto exact = collect({}, 53, pages);
  EXPECT_EQ(exact.size(), 53u);
  EXPECT_LE(pages, 2);
}

TEST_P(StoreConformance, ListDefaultLimitIsOneHundred) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"many", {}}));
  HIVE_STORE_ASSERT_OK(store().transact([&](store::Transaction& tx) -> Status {
    for (int i = 0; i < 150; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "m%03d", i);
      HIVE_TRY(tx.put("many", document(id, "")));
    }
    return okStatus();
  }));
  store::ListQuery query;
  query.collection = "many";
  auto page = store().list(query);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 100u);
  EXPECT_EQ(page->items.front().id, "m000");
  EXPECT_EQ(page->items.back().id, "m099");
  ASSERT_FALSE(page->nextCursor.empty());
  query.cursor = page->nextCursor;
  page = store().list(query);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 50u);
  EXPECT_EQ(page->items.front().id, "m100");
  EXPECT_TRUE(page->nextCursor.empty());
  // A cursor of one collection is not a cursor of another.
  HIVE_STORE_ASSERT_OK(store().declareCollection({"other", {}}));
  store::ListQuery elsewhere;
  elsewhere.collection = "other";
  elsewhere.limit = 10;
  store::ListQuery first;
  first.collection = "many";
  first.limit = 10;
  auto firstPage = store().list(first);
  HIVE_STORE_ASSERT_OK(firstPage);
  elsewhere.cursor = firstPage->nextCursor;
  auto crossed = store().list(elsewhere);
  if (!crossed.ok()) {
    HIVE_STORE_EXPECT_CODE(crossed, StatusCode::kInvalidArgument);
  } else {
    EXPECT_TRUE(crossed->items.empty()) << "a foreign cursor must not leak another collection's documents";
  }
}

TEST_P(StoreConformance, ListCursorSurvivesChangesBetweenPages) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"items", {}}));
  for (char c = 'a'; c <= 'j'; ++c)
    HIVE_STORE_ASSERT_OK(store().put("items", document(std::string(1, c), "")));
  store::ListQuery query;
  query.collection = "items";
  query.limit = 5;
  auto first = store().list(query);
  HIVE_STORE_ASSERT_OK(first);
  ASSERT_EQ(first->items.size(), 5u);
  ASSERT_FALSE(first->nextCursor.empty());
  // Remove the last item of the page and the first of the next one; add one after.
  HIVE_STORE_ASSERT_OK(store().remove("items", "e"));
  HIVE_STORE_ASSERT_OK(store().remove("items", "f"));
  HIVE_STORE_ASSERT_OK(store().put("items", document("k", "")));
  query.cursor = first->nextCursor;
  query.limit = 100;
  auto second = store().list(query);
  HIVE_STORE_ASSERT_OK(second);
  std::vector<std::string> ids;
  for (const auto& d : second->items) ids.push_back(d.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"g", "h", "i", "j", "k"}));
  EXPECT_TRUE(second->nextCursor.empty());
}

TEST_P(StoreConformance, ListRejectsBadCursorsAndLimits) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"items", {}}));
  for (int i = 0; i < 3; ++i)
    HIVE_STORE_ASSERT_OK(store().put("items", document("i" + std::to_string(i), "")));
  store::ListQuery query;
  query.collection = "items";
  query.cursor = "not-a-cursor-this-store-issued";
  HIVE_STORE_EXPECT_CODE(store().list(query), StatusCode::kInvalidArgument);
  query.cursor = std::string(3, '\0');
  HIVE_STORE_EXPECT_CODE(store().list(query), StatusCode::kInvalidArgument);
  query.cursor.clear();
  query.limit = 0;
  HIVE_STORE_EXPECT_CODE(store().list(query), StatusCode::kInvalidArgument);
  query.limit = 1001;
  HIVE_STORE_EXPECT_CODE(store().list(query), StatusCode::kInvalidArgument);
  query.limit = 1000;
  HIVE_STORE_EXPECT_OK(store().list(query));
  query.limit = 1;
  auto page = store().list(query);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_FALSE(page->nextCursor.empty());
}

// ---------------------------------------------------------------- queue

TEST_P(StoreConformance, QueueEnqueueAssignsIdAndPeekShowsIt) {
  std::int64_t before = store_conformance::nowMs();
  store::EnqueueRequest request;
  request.queue = "jobs";
  request.payload = "payload-1";
  request.priority = 7;
  auto item = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(item);
  EXPECT_FALSE(item->id.empty());
  EXPECT_EQ(item->queue, "jobs");
  EXPECT_EQ(item->payload, "payload-1");
  EXPECT_EQ(item->priority, 7);
  EXPECT_EQ(item->attempts, 0u);
  EXPECT_TRUE(item->leaseToken.empty());
  EXPECT_GE(item->enqueuedAtMs, before - 1000);
  EXPECT_LE(item->enqueuedAtMs, store_conformance::nowMs() + 1000);

  auto other = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(other);
  EXPECT_NE(other->id, item->id) << "generated ids are unique";

  auto peeked = store().peek("jobs", item->id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_EQ(peeked->payload, "payload-1");
  EXPECT_EQ(peeked->priority, 7);
  EXPECT_TRUE(peeked->leaseToken.empty());
  HIVE_STORE_EXPECT_CODE(store().peek("jobs", "no-such-item"), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().peek("other", item->id), StatusCode::kNotFound);

  request.id = "chosen-id";
  auto chosen = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(chosen);
  EXPECT_EQ(chosen->id, "chosen-id");
  HIVE_STORE_EXPECT_OK(store().peek("jobs", "chosen-id"));
}

TEST_P(StoreConformance, QueuePayloadsAreOpaqueBytes) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  store::EnqueueRequest request;
  request.queue = "jobs";
  request.payload = binary;
  HIVE_STORE_ASSERT_OK(store().enqueue(request));
  auto claimed = claim("jobs");
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].payload, binary);
}

TEST_P(StoreConformance, QueueRejectsPriorityOutOfRange) {
  store::EnqueueRequest request;
  request.queue = "jobs";
  request.priority = 0;
  HIVE_STORE_EXPECT_CODE(store().enqueue(request), StatusCode::kInvalidArgument);
  request.priority = 11;
  HIVE_STORE_EXPECT_CODE(store().enqueue(request), StatusCode::kInvalidArgument);
  EXPECT_EQ(waiting("jobs"), 0u);
  request.priority = 1;
  HIVE_STORE_EXPECT_OK(store().enqueue(request));
  request.priority = 10;
  HIVE_STORE_EXPECT_OK(store().enqueue(request));
}

TEST_P(StoreConformance, QueueClaimsHighestPriorityFirstThenOldest) {
  std::vector<std::pair<std::string, int>> items = {{"a", 5}, {"b", 9},  {"c", 5}, {"d", 1},
                                                    {"e", 9}, {"f", 10}, {"g", 5}};
  for (const auto& [payload, priority] : items) enqueueOrFail("jobs", payload, priority);
  std::vector<std::string> order;
  for (int i = 0; i < 10; ++i) {
    auto claimed = claim("jobs");
    if (claimed.empty()) break;
    ASSERT_EQ(claimed.size(), 1u);
    order.push_back(claimed[0].payload);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"f", "b", "e", "a", "c", "g", "d"}));
}

TEST_P(StoreConformance, QueueClaimsSeveralInOrderAndRespectsMinPriority) {
  for (int i = 0; i < 4; ++i) enqueueOrFail("jobs", "low" + std::to_string(i), 2);
  for (int i = 0; i < 3; ++i) enqueueOrFail("jobs", "high" + std::to_string(i), 8);
  auto high = claim("jobs", 10, 30s, 5);
  ASSERT_EQ(high.size(), 3u);
  EXPECT_EQ(high[0].payload, "high0");
  EXPECT_EQ(high[1].payload, "high1");
  EXPECT_EQ(high[2].payload, "high2");
  EXPECT_TRUE(claim("jobs", 10, 30s, 5).empty());
  auto low = claim("jobs", 3);
  ASSERT_EQ(low.size(), 3u);
  EXPECT_EQ(low[0].payload, "low0");
  EXPECT_EQ(low[2].payload, "low2");
  auto rest = claim("jobs", 3);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].payload, "low3");
  EXPECT_TRUE(claim("jobs", 3).empty());
}

TEST_P(StoreConformance, QueuesAreSeparate) {
  enqueueOrFail("alpha", "in-alpha");
  EXPECT_TRUE(claim("beta").empty());
  EXPECT_EQ(waiting("beta"), 0u);
  auto claimed = claim("alpha");
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].queue, "alpha");
}

TEST_P(StoreConformance, QueueClaimEmptyQueueReturnsNothing) { EXPECT_TRUE(claim("empty").empty()); }

TEST_P(StoreConformance, QueueNotBeforeDelaysClaim) {
  std::int64_t notBefore = store_conformance::nowMs() + 1500;
  store::EnqueueRequest request;
  request.queue = "jobs";
  request.payload = "later";
  request.notBeforeMs = notBefore;
  auto item = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(item);
  EXPECT_EQ(item->notBeforeMs, notBefore);
  enqueueOrFail("jobs", "now", 1);

  auto first = claim("jobs", 10);
  ASSERT_EQ(first.size(), 1u) << "only the item without notBefore is claimable";
  EXPECT_EQ(first[0].payload, "now");

  std::vector<store::QueueItem> later;
  EXPECT_TRUE(store_conformance::waitFor([&] {
    later = claim("jobs", 10);
    return !later.empty();
  }));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].payload, "later");
  EXPECT_GE(store_conformance::nowMs(), notBefore) << "claimed before its notBefore time";
}

// notBeforeMs is stored, and a provider's wake-ups must survive any value of
// it: a time at the end of the clock's range once overflowed a wait into a
// busy loop that held the notifier's lock, and every later write hung.
TEST_P(StoreConformance, QueueFarFutureNotBeforeKeepsTheStoreAnswering) {
  std::atomic<int> wakeUps{0};
  auto subscription = store().onClaimable("jobs", [&] { ++wakeUps; });
  // The largest value: the provider waits for the earliest of its items, so
  // a smaller far one would hide it.
  for (std::int64_t far : {std::numeric_limits<std::int64_t>::max()}) {
    store::EnqueueRequest request;
    request.queue = "jobs";
    request.payload = "far";
    request.notBeforeMs = far;
    HIVE_STORE_ASSERT_OK(store().enqueue(request));
  }
  auto cpuSeconds = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  };
  double before = cpuSeconds();
  std::this_thread::sleep_for(1s);
  EXPECT_LT(cpuSeconds() - before, 0.5) << "something spins while far-future items wait";
  for (int i = 0; i < 5; ++i) {
    auto started = std::chrono::steady_clock::now();
    enqueueOrFail("jobs", "now");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s) << "a write waited behind the far-future items";
  }
  EXPECT_TRUE(store_conformance::waitFor([&] { return wakeUps.load() > 0; }));
  auto claimed = claim("jobs", 10);
  EXPECT_EQ(claimed.size(), 5u) << "only the items due now are claimable";
}

TEST_P(StoreConformance, QueueIdempotencyKeyReturnsTheFirstItem) {
  store::EnqueueRequest request;
  request.queue = "jobs";
  request.payload = "first";
  request.idempotencyKey = "order-42";
  auto first = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(first);
  EXPECT_EQ(first->idempotencyKey, "order-42");
  request.payload = "second";
  auto second = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(second);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->payload, "first");
  EXPECT_EQ(waiting("jobs"), 1u);

  request.idempotencyKey = "order-43";
  auto third = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(third);
  EXPECT_NE(third->id, first->id);
  EXPECT_EQ(waiting("jobs"), 2u);

  // Same key in another queue is another item.
  request.queue = "other";
  request.idempotencyKey = "order-42";
  auto elsewhere = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(elsewhere);
  EXPECT_EQ(waiting("other"), 1u);

  // Also while the first is leased.
  request.queue = "jobs";
  auto claimed = claim("jobs", 10);
  ASSERT_EQ(claimed.size(), 2u);
  request.payload = "again";
  auto leased = store().enqueue(request);
  HIVE_STORE_ASSERT_OK(leased);
  EXPECT_EQ(leased->id, first->id);
  EXPECT_EQ(waiting("jobs"), 0u);
}

TEST_P(StoreConformance, QueueConcurrentIdempotentEnqueuesMakeOneItem) {
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::set<std::string> ids;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      store::EnqueueRequest request;
      request.queue = "jobs";
      request.payload = "from " + std::to_string(t);
      request.idempotencyKey = "once";
      auto item = store().enqueue(request);
      if (!item.ok()) {
        ++failures;
        return;
      }
      std::lock_guard lock(mutex);
      ids.insert(item->id);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(waiting("jobs"), 1u);
}

TEST_P(StoreConformance, QueueClaimLeasesTheItem) {
  auto item = enqueueOrFail("jobs", "work");
  std::int64_t before = store_conformance::nowMs();
  store::ClaimRequest request;
  request.queue = "jobs";
  request.claimant = "node-7";
  request.lease = 20s;
  auto claimed = store().claim(request);
  HIVE_STORE_ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  const auto& leased = (*claimed)[0];
  EXPECT_EQ(leased.id, item.id);
  EXPECT_EQ(leased.attempts, 1u);
  EXPECT_FALSE(leased.leaseToken.empty());
  EXPECT_EQ(leased.claimant, "node-7");
  EXPECT_GE(leased.leaseExpiresMs, before + 20000 - 1000);
  EXPECT_LE(leased.leaseExpiresMs, store_conformance::nowMs() + 20000 + 1000);

  auto peeked = store().peek("jobs", item.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_EQ(peeked->leaseToken, leased.leaseToken);
  EXPECT_EQ(peeked->claimant, "node-7");
  EXPECT_EQ(peeked->attempts, 1u);

  EXPECT_TRUE(claim("jobs").empty()) << "a leased item is not claimed twice";
  EXPECT_EQ(waiting("jobs"), 0u);

  HIVE_STORE_EXPECT_OK(store().complete("jobs", item.id, leased.leaseToken));
  HIVE_STORE_EXPECT_CODE(store().peek("jobs", item.id), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", item.id, leased.leaseToken), StatusCode::kNotFound);
}

TEST_P(StoreConformance, QueueLeaseTokensAreUnguessable) {
  for (int i = 0; i < 20; ++i) enqueueOrFail("jobs", "x");
  auto claimed = claim("jobs", 20);
  ASSERT_EQ(claimed.size(), 20u);
  std::set<std::string> tokens;
  for (const auto& item : claimed) {
    EXPECT_GE(item.leaseToken.size(), 16u) << "at least 64 bits of randomness, as text";
    tokens.insert(item.leaseToken);
  }
  EXPECT_EQ(tokens.size(), 20u);
}

TEST_P(StoreConformance, QueueWrongTokenIsFailedPrecondition) {
  auto item = enqueueOrFail("jobs", "work");
  auto claimed = claim("jobs");
  ASSERT_EQ(claimed.size(), 1u);
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", item.id, "not-the-token"), StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_CODE(store().fail("jobs", item.id, "not-the-token", 0ms, "x"),
                         StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_CODE(store().extend("jobs", item.id, "not-the-token", 10s),
                         StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", item.id, ""), StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", "absent", "whatever"), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().extend("jobs", "absent", "whatever", 10s), StatusCode::kNotFound);
  auto peeked = store().peek("jobs", item.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_EQ(peeked->leaseToken, claimed[0].leaseToken) << "nothing changed";

  // Not leased at all: any token is stale.
  auto idle = enqueueOrFail("jobs", "idle");
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", idle.id, claimed[0].leaseToken),
                         StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_OK(store().peek("jobs", idle.id));
}

TEST_P(StoreConformance, QueueExtendKeepsTheLease) {
  auto item = enqueueOrFail("jobs", "work");
  auto claimed = claim("jobs", 1, 1000ms);
  ASSERT_EQ(claimed.size(), 1u);
  auto extended = store().extend("jobs", item.id, claimed[0].leaseToken, 30s);
  HIVE_STORE_ASSERT_OK(extended);
  EXPECT_EQ(extended->leaseToken, claimed[0].leaseToken);
  EXPECT_GE(extended->leaseExpiresMs, store_conformance::nowMs() + 25000);
  EXPECT_EQ(extended->attempts, 1u);
  std::this_thread::sleep_for(1300ms);  // past the original lease
  EXPECT_TRUE(claim("jobs").empty()) << "the extended lease still holds";
  auto released = store().releaseExpired("jobs");
  HIVE_STORE_ASSERT_OK(released);
  EXPECT_TRUE(released->empty());
  HIVE_STORE_EXPECT_OK(store().complete("jobs", item.id, claimed[0].leaseToken));
}

TEST_P(StoreConformance, QueueExpiredLeaseIsReclaimedAndOldTokenIsStale) {
  auto item = enqueueOrFail("jobs", "work");
  auto first = claim("jobs", 1, 200ms);
  ASSERT_EQ(first.size(), 1u);
  std::vector<store::QueueItem> second;
  ASSERT_TRUE(store_conformance::waitFor([&] {
    second = claim("jobs", 1, 30s);
    return !second.empty();
  })) << "an item whose lease expired becomes claimable again";
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, item.id);
  EXPECT_EQ(second[0].attempts, 2u);
  EXPECT_NE(second[0].leaseToken, first[0].leaseToken);

  const std::string& stale = first[0].leaseToken;
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", item.id, stale), StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_CODE(store().fail("jobs", item.id, stale, 0ms, "late"), StatusCode::kFailedPrecondition);
  HIVE_STORE_EXPECT_CODE(store().extend("jobs", item.id, stale, 30s), StatusCode::kFailedPrecondition);
  auto peeked = store().peek("jobs", item.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_EQ(peeked->leaseToken, second[0].leaseToken) << "stale calls change nothing";
  EXPECT_TRUE(peeked->lastError.empty());
  HIVE_STORE_EXPECT_OK(store().complete("jobs", item.id, second[0].leaseToken));
  HIVE_STORE_EXPECT_CODE(store().peek("jobs", item.id), StatusCode::kNotFound);
}

TEST_P(StoreConformance, QueueExtendAfterExpiryBeforeReclaim) {
  // Expired but not yet claimed again: the holder may still extend or complete
  // (the token is still the item's current one), or the store may refuse with
  // kFailedPrecondition; it must never hand out a second lease meanwhile.
  auto item = enqueueOrFail("jobs", "work");
  auto first = claim("jobs", 1, 100ms);
  ASSERT_EQ(first.size(), 1u);
  std::this_thread::sleep_for(300ms);
  auto extended = store().extend("jobs", item.id, first[0].leaseToken, 30s);
  if (extended.ok()) {
    EXPECT_TRUE(claim("jobs").empty());
    HIVE_STORE_EXPECT_OK(store().complete("jobs", item.id, first[0].leaseToken));
  } else {
    HIVE_STORE_EXPECT_CODE(extended, StatusCode::kFailedPrecondition);
  }
}

TEST_P(StoreConformance, QueueFailMakesItemClaimableAfterRetryAfter) {
  auto item = enqueueOrFail("jobs", "work");
  auto first = claim("jobs");
  ASSERT_EQ(first.size(), 1u);
  std::int64_t failedAt = store_conformance::nowMs();
  HIVE_STORE_ASSERT_OK(store().fail("jobs", item.id, first[0].leaseToken, 1500ms, "tool crashed"));
  auto peeked = store().peek("jobs", item.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_TRUE(peeked->leaseToken.empty());
  EXPECT_EQ(peeked->lastError, "tool crashed");
  EXPECT_GE(peeked->notBeforeMs, failedAt + 1500 - 50);
  EXPECT_TRUE(claim("jobs").empty()) << "not claimable before retryAfter";
  // The token is no longer current.
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", item.id, first[0].leaseToken),
                         StatusCode::kFailedPrecondition);

  std::vector<store::QueueItem> retry;
  ASSERT_TRUE(store_conformance::waitFor([&] {
    retry = claim("jobs");
    return !retry.empty();
  }));
  EXPECT_GE(store_conformance::nowMs(), failedAt + 1500 - 50);
  EXPECT_EQ(retry[0].id, item.id);
  EXPECT_EQ(retry[0].attempts, 2u);
  EXPECT_EQ(retry[0].lastError, "tool crashed");
  HIVE_STORE_EXPECT_OK(store().fail("jobs", item.id, retry[0].leaseToken, 0ms, "again"));
  auto immediate = claim("jobs");
  ASSERT_EQ(immediate.size(), 1u) << "retryAfter 0: claimable at once";
  EXPECT_EQ(immediate[0].attempts, 3u);
  EXPECT_EQ(immediate[0].lastError, "again");
}

TEST_P(StoreConformance, QueueCancelRemovesInAnyState) {
  auto waitingItem = enqueueOrFail("jobs", "waiting");
  auto leasedItem = enqueueOrFail("jobs", "leased", 9);
  auto claimed = claim("jobs");
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_EQ(claimed[0].id, leasedItem.id);

  HIVE_STORE_EXPECT_OK(store().cancel("jobs", waitingItem.id));
  HIVE_STORE_EXPECT_OK(store().cancel("jobs", leasedItem.id));
  HIVE_STORE_EXPECT_CODE(store().peek("jobs", waitingItem.id), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().peek("jobs", leasedItem.id), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().cancel("jobs", waitingItem.id), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", leasedItem.id, claimed[0].leaseToken),
                         StatusCode::kNotFound);
  EXPECT_TRUE(claim("jobs").empty());
  EXPECT_EQ(waiting("jobs"), 0u);
}

TEST_P(StoreConformance, QueueReleaseExpiredReturnsExpiredLeases) {
  auto released = store().releaseExpired("jobs");
  HIVE_STORE_ASSERT_OK(released);
  EXPECT_TRUE(released->empty());

  for (int i = 0; i < 3; ++i) enqueueOrFail("jobs", "short" + std::to_string(i), 9);
  enqueueOrFail("jobs", "long", 1);
  auto shortLeases = claim("jobs", 3, 1000ms);
  ASSERT_EQ(shortLeases.size(), 3u);
  auto longLease = claim("jobs", 1, 60s);
  ASSERT_EQ(longLease.size(), 1u);
  EXPECT_EQ(waiting("jobs"), 0u);

  std::this_thread::sleep_for(1300ms);
  released = store().releaseExpired("jobs");
  HIVE_STORE_ASSERT_OK(released);
  ASSERT_EQ(released->size(), 3u);
  std::set<std::string> tokens, ids;
  for (const auto& item : *released) {
    tokens.insert(item.leaseToken);
    ids.insert(item.id);
  }
  std::set<std::string> expectedTokens, expectedIds;
  for (const auto& item : shortLeases) {
    expectedTokens.insert(item.leaseToken);
    expectedIds.insert(item.id);
  }
  EXPECT_EQ(ids, expectedIds);
  EXPECT_EQ(tokens, expectedTokens) << "released items carry their expired token";

  EXPECT_EQ(waiting("jobs"), 3u);
  auto peeked = store().peek("jobs", *expectedIds.begin());
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_TRUE(peeked->leaseToken.empty());
  HIVE_STORE_EXPECT_CODE(store().complete("jobs", shortLeases[0].id, shortLeases[0].leaseToken),
                         StatusCode::kFailedPrecondition);
  released = store().releaseExpired("jobs");
  HIVE_STORE_ASSERT_OK(released);
  EXPECT_TRUE(released->empty()) << "released once";
  EXPECT_EQ(claim("jobs", 10).size(), 3u);
  HIVE_STORE_EXPECT_OK(store().complete("jobs", longLease[0].id, longLease[0].leaseToken));
}

TEST_P(StoreConformance, QueueDepthCountsWaitingItemsByPriority) {
  auto empty = store().depth("jobs");
  HIVE_STORE_ASSERT_OK(empty);
  for (const auto& [priority, count] : *empty) EXPECT_EQ(count, 0u) << "priority " << priority;

  enqueueOrFail("jobs", "a", 3);
  enqueueOrFail("jobs", "b", 3);
  enqueueOrFail("jobs", "c", 7);
  enqueueOrFail("other", "d", 7);
  auto depth = store().depth("jobs");
  HIVE_STORE_ASSERT_OK(depth);
  std::map<int, std::uint64_t> nonZero;
  for (const auto& [priority, count] : *depth)
    if (count != 0) nonZero[priority] = count;
  EXPECT_EQ(nonZero, (std::map<int, std::uint64_t>{{3, 2}, {7, 1}}));

  auto claimed = claim("jobs");
  ASSERT_EQ(claimed.size(), 1u);
  depth = store().depth("jobs");
  HIVE_STORE_ASSERT_OK(depth);
  nonZero.clear();
  for (const auto& [priority, count] : *depth)
    if (count != 0) nonZero[priority] = count;
  EXPECT_EQ(nonZero, (std::map<int, std::uint64_t>{{3, 2}})) << "leased items are not waiting";

  HIVE_STORE_ASSERT_OK(store().fail("jobs", claimed[0].id, claimed[0].leaseToken, 0ms, "retry"));
  EXPECT_EQ(waiting("jobs"), 3u);
}

TEST_P(StoreConformance, QueueOnClaimableFiresAfterEnqueue) {
  std::mutex mutex;
  std::condition_variable changed;
  int calls = 0;
  Status fromCallback;
  auto subscription = store().onClaimable("jobs", [&] {
    // Runs without the store's locks held: calling back into the store is fine.
    Status status = store_conformance::statusOf(store().depth("jobs"));
    std::lock_guard lock(mutex);
    ++calls;
    if (!status.ok()) fromCallback = status;
    changed.notify_all();
  });
  ASSERT_NE(subscription, nullptr);
  enqueueOrFail("jobs", "wake up");
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, store_conformance::kWaitLimit, [&] { return calls > 0; }))
        << "onClaimable did not fire after an enqueue";
    EXPECT_TRUE(fromCallback.ok()) << fromCallback.toString();
  }
  // An enqueue inside a committed unit of work wakes too.
  int before = 0;
  {
    std::lock_guard lock(mutex);
    before = calls;
  }
  HIVE_STORE_ASSERT_OK(store().transact([](store::Transaction& tx) -> Status {
    store::EnqueueRequest request;
    request.queue = "jobs";
    request.payload = "in a unit";
    auto item = tx.enqueue(request);
    return item.ok() ? okStatus() : item.status();
  }));
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, store_conformance::kWaitLimit, [&] { return calls > before; }))
        << "onClaimable did not fire after an enqueue in transact()";
  }
  // Cancelled: never runs again once the subscription is gone.
  subscription.reset();
  {
    std::lock_guard lock(mutex);
    before = calls;
  }
  enqueueOrFail("jobs", "nobody listens");
  std::this_thread::sleep_for(300ms);
  std::lock_guard lock(mutex);
  EXPECT_EQ(calls, before);
}

TEST_P(StoreConformance, QueueOnClaimableIsPerQueue) {
  std::atomic<int> jobs{0}, other{0};
  auto a = store().onClaimable("jobs", [&] { ++jobs; });
  auto b = store().onClaimable("other", [&] { ++other; });
  enqueueOrFail("other", "x");
  EXPECT_TRUE(store_conformance::waitFor([&] { return other.load() > 0; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(jobs.load(), 0) << "a wake-up for another queue";
}

// The lifetime guarantees of an onClaimable subscription (SDK 1.3,
// hive/callbacks.hpp; a provider gets them from a hive::CallbackRegistry).
TEST_P(StoreConformance, QueueOnClaimableUnsubscribeDestroysTheCallbackAndWaitsForIt) {
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  std::atomic<bool> entered{false}, release{false}, finished{false};
  auto subscription = store().onClaimable("life", [&, captured] {
    entered = true;
    while (!release) std::this_thread::sleep_for(1ms);
    finished = true;
  });
  captured.reset();
  enqueueOrFail("life", "x");
  ASSERT_TRUE(store_conformance::waitFor([&] { return entered.load(); }));
  std::thread releaser([&] {
    std::this_thread::sleep_for(50ms);
    release = true;
  });
  subscription.reset();
  EXPECT_TRUE(finished.load()) << "the subscription was destroyed while its callback still ran";
  EXPECT_TRUE(watch.expired()) << "the callback outlived its subscription";
  releaser.join();
}

TEST_P(StoreConformance, QueueOnClaimableCallbackMayDestroyItsOwnSubscription) {
  std::unique_ptr<Subscription> subscription;
  std::atomic<int> calls{0};
  subscription = store().onClaimable("life", [&] {
    subscription.reset();  // must neither deadlock nor crash
    ++calls;
  });
  enqueueOrFail("life", "1");
  ASSERT_TRUE(store_conformance::waitFor([&] { return calls.load() > 0; }));
  enqueueOrFail("life", "2");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(StoreConformance, QueueTwoClaimersDrainTenThousandItemsExactlyOnce) {
  constexpr int kItems = 10'000;
  constexpr int kBatch = 500;
  for (int start = 0; start < kItems; start += kBatch) {
    HIVE_STORE_ASSERT_OK(store().transact([&](store::Transaction& tx) -> Status {
      for (int i = start; i < start + kBatch; ++i) {
        store::EnqueueRequest request;
        request.queue = "drain";
        request.payload = std::to_string(i);
        request.priority = 1 + i % 10;
        auto item = tx.enqueue(request);
        if (!item.ok()) return item.status();
      }
      return okStatus();
    }));
  }
  ASSERT_EQ(waiting("drain"), static_cast<std::uint64_t>(kItems));

  struct Claimer {
    std::vector<std::string> completed;  // payloads
    std::vector<std::string> errors;
  };
  Claimer claimers[2];
  std::atomic<int> done{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  auto run = [&](Claimer& self, std::string name) {
    int emptyInARow = 0;
    while (std::chrono::steady_clock::now() < deadline && self.errors.size() < 10) {
      store::ClaimRequest request;
      request.queue = "drain";
      request.claimant = name;
      request.lease = std::chrono::minutes(10);
      request.maxItems = 8;
      auto claimed = store().claim(request);
      if (!claimed.ok()) {
        self.errors.push_back("claim: " + claimed.status().toString());
        continue;
      }
      if (claimed->empty()) {
        if (done.load() >= kItems || ++emptyInARow > 50) break;
        std::this_thread::sleep_for(5ms);
        continue;
      }
      emptyInARow = 0;
      for (const auto& item : *claimed) {
        Status status = store().complete("drain", item.id, item.leaseToken);
        if (!status.ok()) {
          self.errors.push_back("complete " + item.id + ": " + status.toString());
          continue;
        }
        self.completed.push_back(item.payload);
        ++done;
      }
    }
  };
  std::thread first(run, std::ref(claimers[0]), "claimer-1");
  std::thread second(run, std::ref(claimers[1]), "claimer-2");
  first.join();
  second.join();

  for (const auto& c : claimers)
    for (const auto& e : c.errors) ADD_FAILURE() << e;
  std::map<std::string, int> times;
  for (const auto& c : claimers)
    for (const auto& payload : c.completed) ++times[payload];
  int duplicates = 0;
  for (const auto& [payload, count] : times) duplicates += count > 1 ? 1 : 0;
  EXPECT_EQ(duplicates, 0) << "items completed more than once";
  EXPECT_EQ(times.size(), static_cast<std::size_t>(kItems)) << "items lost";
  EXPECT_GT(claimers[0].completed.size(), 0u);
  EXPECT_GT(claimers[1].completed.size(), 0u);
  EXPECT_EQ(waiting("drain"), 0u);
  EXPECT_TRUE(claim("drain").empty());
}

TEST_P(StoreConformance, QueueExpiringLeasesUnderConcurrencyCompleteEachItemOnce) {
  // Three workers; some are slow on their first attempt, so their leases expire and
  // other workers take the items over. Whatever the interleaving, each item must be
  // completed successfully exactly once, and a late holder must be told its lease is
  // stale (kFailedPrecondition) or that the item is gone (kNotFound).
  constexpr int kItems = 40;
  for (int i = 0; i < kItems; ++i) enqueueOrFail("slow", std::to_string(i));
  std::mutex mutex;
  std::map<std::string, int> successes;
  std::vector<std::string> unexpected;
  std::atomic<int> stale{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto worker = [&](std::string name) {
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mutex);
        if (successes.size() == static_cast<std::size_t>(kItems)) return;
      }
      store::ClaimRequest request;
      request.queue = "slow";
      request.claimant = name;
      request.lease = 300ms;
      auto claimed = store().claim(request);
      if (!claimed.ok()) {
        std::lock_guard lock(mutex);
        unexpected.push_back("claim: " + claimed.status().toString());
        return;
      }
      if (claimed->empty()) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      const auto& item = (*claimed)[0];
      if (std::stoi(item.payload) % 4 == 0 && item.attempts == 1) std::this_thread::sleep_for(600ms);
      Status done = store().complete("slow", item.id, item.leaseToken);
      std::lock_guard lock(mutex);
      if (done.ok())
        ++successes[item.payload];
      else if (done.code() == StatusCode::kFailedPrecondition || done.code() == StatusCode::kNotFound)
        ++stale;
      else
        unexpected.push_back("complete: " + done.toString());
    }
  };
  std::thread a(worker, "a"), b(worker, "b"), c(worker, "c");
  a.join();
  b.join();
  c.join();
  for (const auto& u : unexpected) ADD_FAILURE() << u;
  EXPECT_EQ(successes.size(), static_cast<std::size_t>(kItems)) << "items never completed";
  for (const auto& [payload, count] : successes)
    EXPECT_EQ(count, 1) << "item " << payload << " completed twice";
  EXPECT_EQ(waiting("slow"), 0u);
  EXPECT_TRUE(claim("slow").empty());
}

// ---------------------------------------------------------------- events

TEST_P(StoreConformance, EventsAppendNumbersFromOne) {
  std::int64_t before = store_conformance::nowMs();
  for (std::uint64_t expected = 1; expected <= 5; ++expected) {
    auto id = store().append("run-1", "step", "body" + std::to_string(expected));
    HIVE_STORE_ASSERT_OK(id);
    EXPECT_EQ(*id, expected);
  }
  auto other = store().append("run-2", "start", "");
  HIVE_STORE_ASSERT_OK(other);
  EXPECT_EQ(*other, 1u) << "each stream numbers its own events";

  auto events = store().read("run-1", 0);
  HIVE_STORE_ASSERT_OK(events);
  ASSERT_EQ(events->size(), 5u);
  for (std::size_t i = 0; i < events->size(); ++i) {
    const auto& e = (*events)[i];
    EXPECT_EQ(e.stream, "run-1");
    EXPECT_EQ(e.id, i + 1);
    EXPECT_EQ(e.type, "step");
    EXPECT_EQ(e.body, "body" + std::to_string(i + 1));
    EXPECT_GE(e.timestampMs, before - 1000);
    EXPECT_LE(e.timestampMs, store_conformance::nowMs() + 1000);
  }
}

TEST_P(StoreConformance, EventsReadAfterIdWithLimit) {
  for (int i = 1; i <= 10; ++i) HIVE_STORE_ASSERT_OK(store().append("log", "t", std::to_string(i)));
  auto page = store().read("log", 3, 4);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->size(), 4u);
  EXPECT_EQ((*page)[0].id, 4u);
  EXPECT_EQ((*page)[3].id, 7u);
  EXPECT_EQ((*page)[0].body, "4");
  page = store().read("log", 8, 100);
  HIVE_STORE_ASSERT_OK(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[1].id, 10u);
  page = store().read("log", 10);
  HIVE_STORE_ASSERT_OK(page);
  EXPECT_TRUE(page->empty());
  page = store().read("never-written", 0);
  HIVE_STORE_ASSERT_OK(page);
  EXPECT_TRUE(page->empty());
  HIVE_STORE_EXPECT_CODE(store().read("log", 0, 0), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().read("log", 0, 10001), StatusCode::kInvalidArgument);
  page = store().read("log", 0, 10000);
  HIVE_STORE_ASSERT_OK(page);
  EXPECT_EQ(page->size(), 10u);
}

TEST_P(StoreConformance, EventsBodiesAreOpaqueBytes) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  HIVE_STORE_ASSERT_OK(store().append("log", "binary", binary));
  auto events = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].body, binary);
}

TEST_P(StoreConformance, EventsConcurrentAppendsGetDistinctIncreasingIds) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 150;
  std::vector<std::vector<std::uint64_t>> ids(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto id = store().append("shared", "t" + std::to_string(t), std::to_string(i));
        if (!id.ok()) {
          ++failures;
          continue;
        }
        ids[t].push_back(*id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::uint64_t> all;
  for (const auto& perThread : ids) {
    EXPECT_TRUE(std::is_sorted(perThread.begin(), perThread.end())) << "a thread's own appends increase";
    all.insert(perThread.begin(), perThread.end());
  }
  constexpr std::uint64_t kTotal = kThreads * kPerThread;
  ASSERT_EQ(all.size(), kTotal) << "duplicate ids";
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), kTotal) << "ids 1..N without gaps";

  // Read back in pages: strictly increasing, each event with its thread's order.
  std::uint64_t after = 0;
  std::size_t count = 0;
  std::map<std::string, int> lastBodyOfType;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = store().read("shared", after, 70);
    HIVE_STORE_ASSERT_OK(page);
    if (page->empty()) break;
    for (const auto& e : *page) {
      EXPECT_GT(e.id, after);
      after = e.id;
      ++count;
      int body = std::stoi(e.body);
      auto [it, inserted] = lastBodyOfType.try_emplace(e.type, -1);
      EXPECT_GT(body, it->second) << "events of one writer keep their order";
      it->second = body;
    }
  }
  EXPECT_EQ(count, kTotal);
}

// ---------------------------------------------------------------- transact

TEST_P(StoreConformance, TransactCommitsDocumentsQueueAndEventsTogether) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {"state"}}));
  std::string itemId;
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    auto doc = tx.put("tasks", document("t1", "created", {{"state", "queued"}}), store::kMustNotExist);
    if (!doc.ok()) return doc.status();
    if (doc->version != 1) return internalError("version " + std::to_string(doc->version));
    auto seen = tx.get("tasks", "t1");  // a unit sees its own writes
    if (!seen.ok()) return seen.status();
    if (seen->body != "created") return internalError("own write not visible");
    store::EnqueueRequest request;
    request.queue = "tasks";
    request.payload = "t1";
    auto item = tx.enqueue(request);
    if (!item.ok()) return item.status();
    itemId = item->id;
    auto event = tx.append("task-t1", "created", "{}");
    if (!event.ok()) return event.status();
    if (*event != 1) return internalError("event id " + std::to_string(*event));
    return okStatus();
  });
  HIVE_STORE_ASSERT_OK(status);
  auto doc = store().get("tasks", "t1");
  HIVE_STORE_ASSERT_OK(doc);
  EXPECT_EQ(doc->body, "created");
  HIVE_STORE_EXPECT_OK(store().peek("tasks", itemId));
  auto events = store().read("task-t1", 0);
  HIVE_STORE_ASSERT_OK(events);
  EXPECT_EQ(events->size(), 1u);

  // Complete the item, update the document and log it, as one unit.
  auto claimed = claim("tasks");
  ASSERT_EQ(claimed.size(), 1u);
  status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.complete("tasks", claimed[0].id, claimed[0].leaseToken));
    HIVE_TRY(tx.put("tasks", document("t1", "done", {{"state", "done"}}), 1));
    HIVE_TRY(tx.append("task-t1", "done", "{}"));
    return okStatus();
  });
  HIVE_STORE_ASSERT_OK(status);
  HIVE_STORE_EXPECT_CODE(store().peek("tasks", itemId), StatusCode::kNotFound);
  doc = store().get("tasks", "t1");
  HIVE_STORE_ASSERT_OK(doc);
  EXPECT_EQ(doc->version, 2u);
  events = store().read("task-t1", 0);
  HIVE_STORE_ASSERT_OK(events);
  EXPECT_EQ(events->size(), 2u);
}

TEST_P(StoreConformance, TransactFailingUnitLeavesNothing) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {}}));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("existing", "v1")));
  auto leased = enqueueOrFail("work", "leased");
  auto claimed = claim("work");
  ASSERT_EQ(claimed.size(), 1u);

  Status status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.put("tasks", document("t1", "new")));
    HIVE_TRY(tx.put("tasks", document("existing", "v2"), 1));
    HIVE_TRY(tx.remove("tasks", "existing", 2));
    store::EnqueueRequest request;
    request.queue = "work";
    request.payload = "ghost";
    HIVE_TRY(tx.enqueue(request));
    HIVE_TRY(tx.complete("work", leased.id, claimed[0].leaseToken));
    HIVE_TRY(tx.append("log", "t", "ghost"));
    return aborted("changed my mind");
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kAborted);
  EXPECT_NE(status.message().find("changed my mind"), std::string::npos) << status.toString();

  HIVE_STORE_EXPECT_CODE(store().get("tasks", "t1"), StatusCode::kNotFound);
  auto existing = store().get("tasks", "existing");
  HIVE_STORE_ASSERT_OK(existing);
  EXPECT_EQ(existing->version, 1u);
  EXPECT_EQ(existing->body, "v1");
  EXPECT_EQ(waiting("work"), 0u) << "the enqueue was rolled back";
  auto peeked = store().peek("work", leased.id);
  HIVE_STORE_ASSERT_OK(peeked);  // the complete was rolled back
  EXPECT_EQ(peeked->leaseToken, claimed[0].leaseToken);
  auto events = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(events);
  EXPECT_TRUE(events->empty());
  auto id = store().append("log", "t", "real");
  HIVE_STORE_ASSERT_OK(id);
  EXPECT_EQ(*id, 1u) << "a rolled-back append leaves no gap";
}

TEST_P(StoreConformance, TransactFailingOperationRollsBackEarlierOnes) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {}}));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("t1", "v1")));
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.put("tasks", document("t2", "new")));
    HIVE_TRY(tx.append("log", "t", "x"));
    HIVE_TRY(tx.put("tasks", document("t1", "conflict"), 5));  // kAborted
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kAborted);
  HIVE_STORE_EXPECT_CODE(store().get("tasks", "t2"), StatusCode::kNotFound);
  auto events = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(events);
  EXPECT_TRUE(events->empty());

  // A stale lease inside a unit fails it with kFailedPrecondition.
  auto item = enqueueOrFail("work", "w");
  auto claimed = claim("work");
  ASSERT_EQ(claimed.size(), 1u);
  status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.append("log", "t", "y"));
    HIVE_TRY(tx.complete("work", item.id, "stale-token"));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kFailedPrecondition);
  events = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(events);
  EXPECT_TRUE(events->empty());
  HIVE_STORE_EXPECT_OK(store().peek("work", item.id));
}

TEST_P(StoreConformance, TransactOperationsInsideAUnit) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {}}));
  auto a = enqueueOrFail("work", "a");
  auto b = enqueueOrFail("work", "b");
  auto claimed = claim("work", 2);
  ASSERT_EQ(claimed.size(), 2u);
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.fail("work", claimed[0].id, claimed[0].leaseToken, 0ms, "retry me"));
    HIVE_TRY(tx.cancel("work", claimed[1].id));
    Status missing = tx.cancel("work", "absent");
    if (missing.code() != StatusCode::kNotFound) return internalError("cancel absent: " + missing.toString());
    auto absent = tx.get("tasks", "absent");
    if (absent.status().code() != StatusCode::kNotFound) return internalError("get absent");
    HIVE_TRY(tx.put("tasks", document("t", "1")));
    HIVE_TRY(tx.remove("tasks", "t"));
    return okStatus();
  });
  HIVE_STORE_ASSERT_OK(status);
  auto retried = store().peek("work", claimed[0].id);
  HIVE_STORE_ASSERT_OK(retried);
  EXPECT_EQ(retried->lastError, "retry me");
  EXPECT_TRUE(retried->leaseToken.empty());
  HIVE_STORE_EXPECT_CODE(store().peek("work", claimed[1].id), StatusCode::kNotFound);
  HIVE_STORE_EXPECT_CODE(store().get("tasks", "t"), StatusCode::kNotFound);
  (void)a;
  (void)b;
}

TEST_P(StoreConformance, TransactIdempotentEnqueueInsideAUnit) {
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    store::EnqueueRequest request;
    request.queue = "work";
    request.payload = "once";
    request.idempotencyKey = "k";
    auto first = HIVE_TRY(tx.enqueue(request));
    auto second = HIVE_TRY(tx.enqueue(request));
    if (first.id != second.id) return internalError("two items for one key");
    return okStatus();
  });
  HIVE_STORE_ASSERT_OK(status);
  EXPECT_EQ(waiting("work"), 1u);
}

TEST_P(StoreConformance, TransactConcurrentUnitsFailIndependently) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"docs", {}}));
  constexpr int kThreads = 4;
  constexpr int kUnits = 25;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUnits; ++i) {
        bool shouldFail = (i + t) % 3 == 0;
        std::string id = "d-" + std::to_string(t) + "-" + std::to_string(i);
        Status status = store().transact([&](store::Transaction& tx) -> Status {
          HIVE_TRY(tx.put("docs", document(id, "x"), store::kMustNotExist));
          HIVE_TRY(tx.append("log-" + std::to_string(t), "unit", id));
          if (shouldFail) return failedPrecondition("planned failure");
          return okStatus();
        });
        bool asExpected = shouldFail ? status.code() == StatusCode::kFailedPrecondition : status.ok();
        if (!asExpected) {
          ++unexpected;
          ADD_FAILURE() << id << ": " << status.toString();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    auto events = store().read("log-" + std::to_string(t), 0);
    HIVE_STORE_ASSERT_OK(events);
    std::vector<std::string> logged;
    for (const auto& e : *events) logged.push_back(e.body);
    std::vector<std::string> expected;
    for (int i = 0; i < kUnits; ++i) {
      std::string id = "d-" + std::to_string(t) + "-" + std::to_string(i);
      bool shouldFail = (i + t) % 3 == 0;
      auto got = store().get("docs", id);
      if (shouldFail) {
        HIVE_STORE_EXPECT_CODE(got, StatusCode::kNotFound);
      } else {
        HIVE_STORE_EXPECT_OK(got);
        expected.push_back(id);
      }
    }
    EXPECT_EQ(logged, expected);
    for (std::size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].id, i + 1);
  }
}

// ---------------------------------------------------------------- claims inside units (SDK ABI 2.0)

TEST_P(StoreConformance, TransactClaimExtendAndRecordsCommitTogether) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {}}));
  auto first = enqueueOrFail("work", "first", 9);
  auto second = enqueueOrFail("work", "second", 8);
  auto third = enqueueOrFail("work", "third", 1);
  std::vector<store::QueueItem> claimed;
  store::QueueItem extended;
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    store::ClaimRequest request;
    request.queue = "work";
    request.claimant = "agent-1";
    request.lease = 30s;
    request.maxItems = 2;
    claimed = HIVE_TRY(tx.claim(request));
    for (const auto& item : claimed)
      HIVE_TRY(tx.put("tasks", document(item.id, "assigned"), store::kMustNotExist));
    if (!claimed.empty()) extended = HIVE_TRY(tx.extend("work", claimed[0].id, claimed[0].leaseToken, 10min));
    HIVE_TRY(tx.addToCounter("tasks.assigned", static_cast<std::int64_t>(claimed.size())));
    return okStatus();
  });
  HIVE_STORE_ASSERT_OK(status);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].id, first.id);
  EXPECT_EQ(claimed[1].id, second.id);
  for (const auto& item : claimed) {
    EXPECT_EQ(item.attempts, 1u);
    EXPECT_EQ(item.claimant, "agent-1");
    auto peeked = store().peek("work", item.id);
    HIVE_STORE_ASSERT_OK(peeked);
    EXPECT_EQ(peeked->leaseToken, item.leaseToken) << "the lease the unit returned is the one committed";
    EXPECT_EQ(peeked->attempts, 1u);
    HIVE_STORE_EXPECT_OK(store().get("tasks", item.id));
  }
  EXPECT_EQ(extended.leaseToken, claimed[0].leaseToken);
  EXPECT_GT(extended.leaseExpiresMs, claimed[0].leaseExpiresMs + 60'000) << "10 min, not 30 s";
  auto peeked = store().peek("work", first.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_EQ(peeked->leaseExpiresMs, extended.leaseExpiresMs);
  auto counters = store().counters("tasks.");
  HIVE_STORE_ASSERT_OK(counters);
  EXPECT_EQ(*counters, (std::map<std::string, std::int64_t>{{"tasks.assigned", 2}}));
  // The claimed items are leased: only the third is left, and the committed
  // tokens complete them.
  auto rest = claim("work", 10);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, third.id);
  for (const auto& item : claimed) HIVE_STORE_EXPECT_OK(store().complete("work", item.id, item.leaseToken));
}

TEST_P(StoreConformance, TransactClaimRollsBackWithTheUnit) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"tasks", {}}));
  HIVE_STORE_ASSERT_OK(store().put("tasks", document("taken", "already here")));
  auto a = enqueueOrFail("work", "a");
  auto b = enqueueOrFail("work", "b");
  // A unit that returns an error, and one whose later operation fails: both
  // leave the items claimable, unleased, their attempts unchanged.
  std::vector<std::function<Status(store::Transaction&, const std::vector<store::QueueItem>&)>> endings = {
      [](store::Transaction&, const std::vector<store::QueueItem>&) -> Status {
        return aborted("the agent went away");
      },
      [this](store::Transaction& tx, const std::vector<store::QueueItem>&) -> Status {
        HIVE_TRY(tx.put("tasks", document("taken", "conflict"), store::kMustNotExist));  // kAborted
        return okStatus();
      },
  };
  for (std::size_t round = 0; round < endings.size(); ++round) {
    SCOPED_TRACE("ending " + std::to_string(round));
    std::vector<store::QueueItem> claimed;
    Status status = store().transact([&](store::Transaction& tx) -> Status {
      store::ClaimRequest request;
      request.queue = "work";
      request.claimant = "agent-1";
      request.maxItems = 5;
      claimed = HIVE_TRY(tx.claim(request));
      for (const auto& item : claimed) {
        HIVE_TRY(tx.put("tasks", document(item.id, "assigned")));
        HIVE_TRY(tx.extend("work", item.id, item.leaseToken, 10min));
      }
      HIVE_TRY(tx.addToCounter("tasks.assigned", 2));
      return endings[round](tx, claimed);
    });
    HIVE_STORE_EXPECT_CODE(status, StatusCode::kAborted);
    EXPECT_EQ(claimed.size(), 2u) << "the unit did claim before it failed";
    EXPECT_EQ(waiting("work"), 2u) << "both items are claimable again";
    for (const auto& id : {a.id, b.id}) {
      auto peeked = store().peek("work", id);
      HIVE_STORE_ASSERT_OK(peeked);
      EXPECT_TRUE(peeked->leaseToken.empty());
      EXPECT_EQ(peeked->attempts, 0u);
      HIVE_STORE_EXPECT_CODE(store().get("tasks", id), StatusCode::kNotFound);
    }
    auto counters = store().counters("tasks.");
    HIVE_STORE_ASSERT_OK(counters);
    EXPECT_TRUE(counters->empty());
    // A token of the rolled-back unit is not a lease.
    for (const auto& item : claimed)
      HIVE_STORE_EXPECT_CODE(store().complete("work", item.id, item.leaseToken),
                             StatusCode::kFailedPrecondition);
  }
  auto claimed = claim("work", 5);
  ASSERT_EQ(claimed.size(), 2u);
  for (const auto& item : claimed) EXPECT_EQ(item.attempts, 1u);
}

TEST_P(StoreConformance, TransactConcurrentClaimsNeverShareAnItem) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"assigned", {}}));
  constexpr int kItems = 300;
  HIVE_STORE_ASSERT_OK(store().transact([&](store::Transaction& tx) -> Status {
    for (int i = 0; i < kItems; ++i) {
      store::EnqueueRequest request;
      request.queue = "work";
      request.payload = std::to_string(i);
      HIVE_TRY(tx.enqueue(request));
    }
    return okStatus();
  }));
  constexpr int kThreads = 4;
  std::vector<std::vector<std::string>> taken(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 1000; ++round) {
        std::vector<store::QueueItem> claimed;
        // Every other unit fails after claiming: its items must go to someone.
        bool fail = round % 2 == 1;
        Status status = store().transact([&](store::Transaction& tx) -> Status {
          store::ClaimRequest request;
          request.queue = "work";
          request.claimant = "agent-" + std::to_string(t);
          request.maxItems = 4;
          claimed = HIVE_TRY(tx.claim(request));
          for (const auto& item : claimed)
            HIVE_TRY(tx.put("assigned", document(item.id, std::to_string(t)), store::kMustNotExist));
          HIVE_TRY(tx.addToCounter("assigned", static_cast<std::int64_t>(claimed.size())));
          if (fail) return failedPrecondition("planned");
          return okStatus();
        });
        if (fail) {
          if (status.code() != StatusCode::kFailedPrecondition) {
            ++errors;
            ADD_FAILURE() << "thread " << t << ": " << status.toString();
          }
          continue;
        }
        if (!status.ok()) {
          ++errors;
          ADD_FAILURE() << "thread " << t << ": " << status.toString();
          continue;
        }
        if (claimed.empty()) break;
        for (const auto& item : claimed) taken[t].push_back(item.payload);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  std::map<std::string, int> times;
  for (const auto& list : taken)
    for (const auto& payload : list) ++times[payload];
  for (const auto& [payload, count] : times) EXPECT_EQ(count, 1) << "item " << payload << " claimed twice";
  EXPECT_EQ(times.size(), static_cast<std::size_t>(kItems)) << "items lost";
  auto counters = store().counters("assigned");
  HIVE_STORE_ASSERT_OK(counters);
  EXPECT_EQ(*counters, (std::map<std::string, std::int64_t>{{"assigned", kItems}}));
  EXPECT_EQ(waiting("work"), 0u);
}

TEST_P(StoreConformance, TransactExtendWithAStaleTokenFailsTheUnit) {
  auto item = enqueueOrFail("work", "w");
  auto claimed = claim("work", 1, 30s);
  ASSERT_EQ(claimed.size(), 1u);
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.append("log", "extend", "x"));
    HIVE_TRY(tx.extend("work", item.id, "not-the-token", 10min));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kFailedPrecondition);
  auto events = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(events);
  EXPECT_TRUE(events->empty()) << "the unit rolled back";
  auto peeked = store().peek("work", item.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_EQ(peeked->leaseExpiresMs, claimed[0].leaseExpiresMs) << "the lease did not move";

  status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.extend("work", "absent", claimed[0].leaseToken, 10min));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kNotFound);
  // Bad requests inside a unit are refused like outside it.
  for (std::size_t maxItems : {std::size_t{0}, std::size_t{100000}}) {
    status = store().transact([&](store::Transaction& tx) -> Status {
      store::ClaimRequest request;
      request.queue = "work";
      request.maxItems = maxItems;
      HIVE_TRY(tx.claim(request));
      return okStatus();
    });
    HIVE_STORE_EXPECT_CODE(status, StatusCode::kInvalidArgument);
  }
  status = store().transact([&](store::Transaction& tx) -> Status {
    store::ClaimRequest request;
    request.queue = "Bad Queue";
    HIVE_TRY(tx.claim(request));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kInvalidArgument);
  status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.extend("work", item.id, claimed[0].leaseToken, 0ms));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kInvalidArgument);
  // The good token extends inside a unit.
  status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.extend("work", item.id, claimed[0].leaseToken, 10min));
    return okStatus();
  });
  HIVE_STORE_EXPECT_OK(status);
  peeked = store().peek("work", item.id);
  HIVE_STORE_ASSERT_OK(peeked);
  EXPECT_GT(peeked->leaseExpiresMs, claimed[0].leaseExpiresMs + 60'000);
}

// ---------------------------------------------------------------- counters (SDK ABI 2.0)

TEST_P(StoreConformance, CountersExactUnderConcurrentUnits) {
  constexpr int kThreads = 4;
  constexpr int kUnits = 40;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUnits; ++i) {
        bool shouldFail = (i + t) % 4 == 0;
        Status status = store().transact([&](store::Transaction& tx) -> Status {
          HIVE_TRY(tx.addToCounter("tasks.status.queued", 1));
          HIVE_TRY(tx.addToCounter("tasks.status.running", 2));
          HIVE_TRY(tx.addToCounter("tasks.status.queued", -3));
          HIVE_TRY(tx.addToCounter("other", 1));
          if (shouldFail) return failedPrecondition("planned failure");
          return okStatus();
        });
        bool asExpected = shouldFail ? status.code() == StatusCode::kFailedPrecondition : status.ok();
        if (!asExpected) {
          ++unexpected;
          ADD_FAILURE() << status.toString();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  const std::int64_t committed = kThreads * kUnits - kThreads * kUnits / 4;
  auto tasks = store().counters("tasks.status.");
  HIVE_STORE_ASSERT_OK(tasks);
  EXPECT_EQ(*tasks, (std::map<std::string, std::int64_t>{{"tasks.status.queued", -2 * committed},
                                                         {"tasks.status.running", 2 * committed}}));
  auto all = store().counters("");
  HIVE_STORE_ASSERT_OK(all);
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ(all->count("other"), 1u);
  auto none = store().counters("tasks.status.x");
  HIVE_STORE_ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  // A counter back at 0 still exists.
  HIVE_STORE_ASSERT_OK(store().transact(
      [&](store::Transaction& tx) -> Status { return tx.addToCounter("other", -committed); }));
  auto other = store().counters("other");
  HIVE_STORE_ASSERT_OK(other);
  EXPECT_EQ(*other, (std::map<std::string, std::int64_t>{{"other", 0}}));
}

TEST_P(StoreConformance, CountersRefuseBadNamesAndLeavingTheRange) {
  for (const std::string& name :
       {std::string(), std::string("Tasks"), std::string("1x"), std::string("a b"), std::string(64, 'a')}) {
    SCOPED_TRACE("name '" + name + "'");
    Status status = store().transact([&](store::Transaction& tx) -> Status {
      HIVE_TRY(tx.addToCounter("fine", 1));
      HIVE_TRY(tx.addToCounter(name, 1));
      return okStatus();
    });
    HIVE_STORE_EXPECT_CODE(status, StatusCode::kInvalidArgument);
    if (!name.empty()) HIVE_STORE_EXPECT_CODE(store().counters(name), StatusCode::kInvalidArgument);
  }
  auto counters = store().counters("");
  HIVE_STORE_ASSERT_OK(counters);
  EXPECT_TRUE(counters->empty()) << "the failed units added nothing";

  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  HIVE_STORE_ASSERT_OK(store().transact([](store::Transaction& tx) { return tx.addToCounter("big", kMax); }));
  HIVE_STORE_EXPECT_CODE(store().transact([](store::Transaction& tx) { return tx.addToCounter("big", 1); }),
                         StatusCode::kOutOfRange);
  HIVE_STORE_ASSERT_OK(
      store().transact([](store::Transaction& tx) { return tx.addToCounter("small", -kMax); }));
  HIVE_STORE_EXPECT_CODE(
      store().transact([](store::Transaction& tx) { return tx.addToCounter("small", -2); }),
      StatusCode::kOutOfRange);
  counters = store().counters("");
  HIVE_STORE_ASSERT_OK(counters);
  EXPECT_EQ(*counters, (std::map<std::string, std::int64_t>{{"big", kMax}, {"small", -kMax}}));
}

// ---------------------------------------------------------------- erasure (SDK ABI 2.11)

TEST_P(StoreConformance, EventsErasedBecomeTombstonesAndIdsGoOn) {
  if (erasure() == nullptr) GTEST_SKIP() << "the store provides no hive.store_erasure/1";
  for (int i = 1; i <= 4; ++i)
    HIVE_STORE_ASSERT_OK(store().append("log", "made", "{\"secret\":" + std::to_string(i) + "}"));
  HIVE_STORE_ASSERT_OK(store().append("other", "made", "{\"secret\":2}"));
  auto before = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(before);
  ASSERT_EQ(before->size(), 4u);

  HIVE_STORE_EXPECT_CODE(erasure()->eraseEvents("Bad Stream", {1}), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(erasure()->eraseEvents("log", std::vector<std::uint64_t>(10001, 1)),
                         StatusCode::kInvalidArgument);
  // The last one too: the next append must not take its id.
  auto erased = erasure()->eraseEvents("log", {2, 4, 99, std::numeric_limits<std::uint64_t>::max()});
  HIVE_STORE_ASSERT_OK(erased);
  EXPECT_EQ(*erased, 2u) << "ids not there are skipped";
  auto again = erasure()->eraseEvents("log", {2});
  HIVE_STORE_ASSERT_OK(again);
  EXPECT_EQ(*again, 0u) << "an erased event is not erased twice";
  auto none = erasure()->eraseEvents("log", {});
  HIVE_STORE_ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);

  auto after = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(after);
  ASSERT_EQ(after->size(), 4u) << "tombstones keep their place";
  for (std::size_t i = 0; i < after->size(); ++i) {
    const auto& event = (*after)[i];
    EXPECT_EQ(event.id, i + 1);
    EXPECT_EQ(event.timestampMs, (*before)[i].timestampMs);
    if (event.id == 2 || event.id == 4) {
      EXPECT_EQ(event.type, "erased");
      EXPECT_EQ(event.body, "{}");
    } else {
      EXPECT_EQ(event.type, "made");
      EXPECT_EQ(event.body, (*before)[i].body);
    }
  }
  auto next = store().append("log", "after", "{}");
  HIVE_STORE_ASSERT_OK(next);
  EXPECT_EQ(*next, 5u) << "ids are never reused";
  auto other = store().read("other", 0);
  HIVE_STORE_ASSERT_OK(other);
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ(other->front().body, "{\"secret\":2}") << "another stream is untouched";
}

// ---------------------------------------------------------------- retention (SDK ABI 2.0)

TEST_P(StoreConformance, EventsTrimDeletesOnlyOldEventsAndIdsGoOn) {
  for (int i = 1; i <= 3; ++i) HIVE_STORE_ASSERT_OK(store().append("log", "old", std::to_string(i)));
  HIVE_STORE_ASSERT_OK(store().append("keep", "other", "x"));
  auto old = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(old);
  ASSERT_EQ(old->size(), 3u);
  const std::int64_t cut = (*old)[2].timestampMs + 1;
  // The store's clock (the database's, for a shared store) must pass the cut.
  std::vector<store::Event> young;
  ASSERT_TRUE(waitFor([&] {
    auto id = store().append("log", "young", "probe");
    auto events = store().read("log", 3);
    if (!id.ok() || !events.ok()) return false;
    young = *events;
    return !young.empty() && young.back().timestampMs > cut;
  }));
  const std::uint64_t lastId = young.back().id;
  // Probes appended while the clock had not passed the cut are old too: the
  // first young event is where trimming must stop.
  std::size_t oldCount = 3;
  for (const auto& event : young) oldCount += event.timestampMs < cut ? 1 : 0;

  HIVE_STORE_EXPECT_CODE(store().trim("log", cut, 0), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().trim("log", cut, 10001), StatusCode::kInvalidArgument);
  HIVE_STORE_EXPECT_CODE(store().trim("Bad Stream", cut, 10), StatusCode::kInvalidArgument);
  auto untouched = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(untouched);
  EXPECT_EQ(untouched->size(), static_cast<std::size_t>(lastId)) << "refused trims deleted nothing";

  auto first = store().trim("log", cut, 2);
  HIVE_STORE_ASSERT_OK(first);
  EXPECT_EQ(*first, 2u) << "at most `limit`";
  auto rest = store().trim("log", cut, 10000);
  HIVE_STORE_ASSERT_OK(rest);
  EXPECT_EQ(*rest, oldCount - 2) << "only the events older than the cut";
  auto left = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(left);
  ASSERT_FALSE(left->empty());
  EXPECT_EQ(left->front().id, oldCount + 1);
  EXPECT_EQ(left->back().id, lastId);
  for (const auto& event : *left) EXPECT_GE(event.timestampMs, cut);
  auto again = store().trim("log", cut, 10000);
  HIVE_STORE_ASSERT_OK(again);
  EXPECT_EQ(*again, 0u);

  // Everything goes; the next append does not reuse an id.
  auto all = store().trim("log", std::numeric_limits<std::int64_t>::max(), 10000);
  HIVE_STORE_ASSERT_OK(all);
  EXPECT_EQ(*all, lastId - oldCount);
  auto empty = store().read("log", 0);
  HIVE_STORE_ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
  auto next = store().append("log", "after", "y");
  HIVE_STORE_ASSERT_OK(next);
  EXPECT_EQ(*next, lastId + 1) << "ids are never reused";
  auto keep = store().read("keep", 0);
  HIVE_STORE_ASSERT_OK(keep);
  EXPECT_EQ(keep->size(), 1u) << "other streams are untouched";
  auto nothing = store().trim("never-written", std::numeric_limits<std::int64_t>::max(), 10);
  HIVE_STORE_ASSERT_OK(nothing);
  EXPECT_EQ(*nothing, 0u);
}

// ---------------------------------------------------------------- names

TEST_P(StoreConformance, NamesInvalidAreRejected) {
  const std::vector<std::string> badNames = {"",    "Agents", "1agents",  "_agents",           "agents/x",
                                             "a b", "ä",      "agents\n", std::string(64, 'a')};
  for (const auto& name : badNames) {
    SCOPED_TRACE("name '" + name + "'");
    HIVE_STORE_EXPECT_CODE(store().declareCollection({name, {}}), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().get(name, "x"), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().put(name, document("x", "")), StatusCode::kInvalidArgument);
    store::ListQuery query;
    query.collection = name;
    HIVE_STORE_EXPECT_CODE(store().list(query), StatusCode::kInvalidArgument);
    store::EnqueueRequest request;
    request.queue = name;
    HIVE_STORE_EXPECT_CODE(store().enqueue(request), StatusCode::kInvalidArgument);
    store::ClaimRequest claimRequest;
    claimRequest.queue = name;
    HIVE_STORE_EXPECT_CODE(store().claim(claimRequest), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().depth(name), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().append(name, "t", "b"), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().read(name, 0), StatusCode::kInvalidArgument);
  }
  // The longest and odd-but-valid names pass.
  const std::vector<std::string> goodNames = {std::string(63, 'a'), "a", "a0_.-z", "tasks.v2"};
  for (const auto& name : goodNames) {
    SCOPED_TRACE("name '" + name + "'");
    HIVE_STORE_EXPECT_OK(store().declareCollection({name, {}}));
    HIVE_STORE_EXPECT_OK(store().put(name, document("x", "")));
    store::EnqueueRequest request;
    request.queue = name;
    HIVE_STORE_EXPECT_OK(store().enqueue(request));
    HIVE_STORE_EXPECT_OK(store().append(name, "t", "b"));
  }
}

TEST_P(StoreConformance, NamesInvalidIdsAreRejected) {
  HIVE_STORE_ASSERT_OK(store().declareCollection({"docs", {}}));
  const std::vector<std::string> badIds = {
      "", std::string(129, 'x'), "tab\there", "nl\n", std::string("nul\0x", 5), "del\x7f", "caf\xC3\xA9"};
  for (const auto& id : badIds) {
    SCOPED_TRACE("id of " + std::to_string(id.size()) + " bytes");
    HIVE_STORE_EXPECT_CODE(store().put("docs", document(id, "")), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().get("docs", id), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().remove("docs", id), StatusCode::kInvalidArgument);
    store::EnqueueRequest request;
    request.queue = "work";
    request.id = id;
    if (!id.empty()) HIVE_STORE_EXPECT_CODE(store().enqueue(request), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().peek("work", id), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().cancel("work", id), StatusCode::kInvalidArgument);
    HIVE_STORE_EXPECT_CODE(store().complete("work", id, "token"), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(waiting("work"), 0u);
  const std::vector<std::string> goodIds = {std::string(128, 'x'), "a", "with space", "~!@#$%^&*()_+{}|:<>?"};
  for (const auto& id : goodIds) {
    SCOPED_TRACE("id '" + id + "'");
    HIVE_STORE_EXPECT_OK(store().put("docs", document(id, "")));
    HIVE_STORE_EXPECT_OK(store().get("docs", id));
  }
}

TEST_P(StoreConformance, NamesInvalidArgumentsInsideAUnitAreRejected) {
  Status status = store().transact([&](store::Transaction& tx) -> Status {
    HIVE_TRY(tx.append("Bad Stream", "t", "b"));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kInvalidArgument);
  status = store().transact([&](store::Transaction& tx) -> Status {
    store::EnqueueRequest request;
    request.queue = "work";
    request.priority = 42;
    HIVE_TRY(tx.enqueue(request));
    return okStatus();
  });
  HIVE_STORE_EXPECT_CODE(status, StatusCode::kInvalidArgument);
  EXPECT_EQ(waiting("work"), 0u);
}

// ---------------------------------------------------------------- health

TEST_P(StoreConformance, HealthPingAndSchemaVersion) {
  HIVE_STORE_EXPECT_OK(store().ping());
  EXPECT_GE(store().schemaVersion(), 1u);
}

}  // namespace store_conformance
}  // namespace hive::testing

// Instantiates the suite for one provider. `Prefix` names the instantiation
// (letters, digits and underscores); `factory` is a StoreFactory (a function or
// lambda returning std::unique_ptr<hive::testing::StoreUnderTest>).
#define HIVE_STORE_CONFORMANCE_SUITE(Prefix, factory)                                                    \
  namespace hive::testing::store_conformance {                                                           \
  INSTANTIATE_TEST_SUITE_P(                                                                              \
      Prefix, StoreConformance,                                                                          \
      ::testing::Values(::hive::testing::StoreConformanceParam{#Prefix,                                  \
                                                               ::hive::testing::StoreFactory(factory)}), \
      [](const ::testing::TestParamInfo<::hive::testing::StoreConformanceParam>& info) {                 \
        return info.param.name;                                                                          \
      });                                                                                                \
  } /* namespace hive::testing::store_conformance */                                                     \
  static_assert(true, "")
