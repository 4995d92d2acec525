// A consumer plugin of hive.store/1 written as docs/plugin-authors.md teaches,
// for the tests of MemoryStore: it follows the store's "jobs" queue
// (onClaimable through a hive::ServiceFollower), and on each wake-up claims on
// the blocking executor and, in one unit per job, records it in "jobs_done"
// and completes it.
#pragma once

#include <string>

#include "hive/follower.hpp"
#include "hive/plugin.hpp"
#include "hive/services/store.hpp"

namespace hive::jobs_test {

class JobsPlugin final : public Plugin {
 public:
  explicit JobsPlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode&, Diagnostics&) override {}
  Status start() override {
    auto store = HIVE_TRY(context_.services().get<store::Store>());
    HIVE_TRY(store->declareCollection({"jobs_done", {}}));
    return wakeUps_.start();
  }
  void stop() override { wakeUps_.stop(); }

 private:
  // On the blocking executor: everything claimable now.
  void work() {
    auto store = context_.services().get<store::Store>();
    if (!store.ok()) return;
    for (;;) {
      store::ClaimRequest request;
      request.queue = "jobs";
      request.claimant = "jobs-plugin";
      request.maxItems = 10;
      auto claimed = (*store)->claim(request);
      if (!claimed.ok() || claimed->empty()) return;
      for (const auto& item : *claimed) {
        Status done = (*store)->transact([&](store::Transaction& tx) -> Status {
          store::Document record;
          record.id = item.id;
          record.body = item.payload;
          HIVE_TRY(tx.put("jobs_done", std::move(record)));
          return tx.complete("jobs", item.id, item.leaseToken);
        });
        if (!done.ok()) context_.log().warn("job " + item.id + ": " + done.toString());
      }
    }
  }

  PluginContext& context_;
  ServiceFollower<store::Store> wakeUps_{
      context_.services(), [this](store::Store& store) {
        return store.onClaimable("jobs", [this] { context_.blocking().post([this] { work(); }); });
      }};
};

}  // namespace hive::jobs_test
