// A worker process appending and consuming 10,000 stream messages is killed
// with SIGKILL mid-way and restarted: every message whose append returned OK is
// delivered and acked (at-least-once), and only messages not acked before the
// crash are delivered again.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "bus_host.hpp"
#include "process.hpp"

namespace hive::communication_engine::test {
namespace {

constexpr int kMessages = 10'000;

struct RunLog {
  std::set<std::string> appended;                // payloads
  std::set<std::string> deliveredIds, ackedIds;  // stream ids
  std::map<std::string, std::string> payloadOf;  // id -> payload
  std::size_t appendedLines = 0;
};

RunLog readLog(const std::string& path) {
  RunLog log;
  std::ifstream in(path);
  std::string kind, payload, id;
  while (in >> kind >> payload >> id) {
    if (kind == "appended") {
      log.appended.insert(payload);
      ++log.appendedLines;
    } else if (kind == "delivered") {
      log.deliveredIds.insert(id);
      log.payloadOf[id] = payload;
    } else if (kind == "acked") {
      log.ackedIds.insert(id);
    }
  }
  return log;
}

int highestAppended(const RunLog& log) {
  int highest = -1;
  for (const auto& p : log.appended) highest = std::max(highest, std::stoi(p.substr(1)));
  return highest;
}

TEST(BusCrashTest, AWorkerKilledMidStreamLosesNoAcknowledgedMessage) {
  std::string url = testRedisUrl();
  ASSERT_FALSE(url.empty()) << kNoRedis;
  std::string prefix = uniquePrefix();
  ScratchDirectory logs("crash");
  std::string first = (logs.path() / "run1.log").string();
  std::string second = (logs.path() / "run2.log").string();

  {
    ChildProcess worker({HIVE_BUS_WORKER, "stream", url, prefix, first, "0", std::to_string(kMessages)});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (readLog(first).appendedLines < 3'000 && std::chrono::steady_clock::now() < deadline) {
      ASSERT_FALSE(worker.wait(std::chrono::milliseconds(20)).has_value()) << "the worker exited early";
    }
    ASSERT_GE(readLog(first).appendedLines, 3'000u) << "the worker made no progress";
    worker.kill(SIGKILL);
  }
  RunLog run1 = readLog(first);
  ASSERT_LT(run1.appended.size(), static_cast<std::size_t>(kMessages)) << "killed too late to test anything";

  // Restarted: it appends the rest and takes over what the first run left.
  int resume = highestAppended(run1) + 1;
  ChildProcess worker(
      {HIVE_BUS_WORKER, "stream", url, prefix, second, std::to_string(resume), std::to_string(kMessages)});
  auto code = worker.wait(std::chrono::seconds(300));
  ASSERT_TRUE(code.has_value()) << "the restarted worker did not finish";
  ASSERT_EQ(*code, 0) << "the restarted worker failed (2: messages left pending)";
  RunLog run2 = readLog(second);

  std::set<std::string> appended = run1.appended;
  appended.insert(run2.appended.begin(), run2.appended.end());
  EXPECT_EQ(appended.size(), static_cast<std::size_t>(kMessages));

  // Every appended payload was delivered (under some id); that each delivery was
  // acked is checked below: nothing is left pending in the group.
  std::set<std::string> delivered;
  for (const auto& [id, payload] : run1.payloadOf) delivered.insert(payload);
  for (const auto& [id, payload] : run2.payloadOf) delivered.insert(payload);
  std::size_t lost = 0;
  for (const auto& p : appended) lost += delivered.count(p) == 0;
  EXPECT_EQ(lost, 0u) << "appended (OK) but never delivered";

  // Redelivered after the crash: only messages the first run had not acked.
  std::size_t redelivered = 0, duplicatesOfAcked = 0;
  for (const auto& id : run2.deliveredIds) {
    if (run1.deliveredIds.count(id) != 0) ++redelivered;
    if (run1.ackedIds.count(id) != 0) ++duplicatesOfAcked;
  }
  EXPECT_EQ(duplicatesOfAcked, 0u) << "a message acked before the crash was delivered again";

  // Nothing is left pending in Redis.
  BusHost host(redisSection(url, prefix));
  ASSERT_NE(host.bus(), nullptr) << host.error();
  auto pending = host.bus()->pending("crash", "workers", 100);
  ASSERT_TRUE(pending.ok()) << pending.status().toString();
  EXPECT_TRUE(pending->empty());
  std::cout << "[ figures  ] killed after " << run1.appended.size() << " appends, " << run1.ackedIds.size()
            << " acks; " << redelivered << " unacked messages redelivered after the restart\n";
  deleteKeys(url, prefix);
}

}  // namespace
}  // namespace hive::communication_engine::test
