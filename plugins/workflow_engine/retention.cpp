#include "retention.hpp"

#include <boost/json.hpp>

#include "run.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;

namespace {

constexpr const char* kFinal[] = {"succeeded", "failed", "cancelled"};
constexpr std::size_t kPagesPerPass = 20;  // bounds a pass over runs too young to go

}  // namespace

std::size_t RunRetention::pass() {
  auto store = store_.lease();
  if (!store) return 0;
  const std::int64_t cutoff = clock_.nowMs() - options_.keep.count();
  std::size_t deleted = 0;
  for (std::size_t s = 0; s < std::size(kFinal) && deleted < options_.batch; ++s) {
    for (std::size_t pages = 0; pages < kPagesPerPass && deleted < options_.batch; ++pages) {
      auto page = store->list({.collection = kRunsCollection,
                               .equals = {{"status", kFinal[s]}},
                               .limit = std::min<std::size_t>(options_.batch - deleted, 1000),
                               .cursor = cursors_[s]});
      if (!page.ok()) {
        log_.warn("workflow runs not swept: " + page.status().message());
        return deleted;
      }
      for (const store::Document& document : page->items) {
        auto run = Run::fromJson(document.body);
        if (!run.ok() || run->finishedAtMs == 0 || run->finishedAtMs >= cutoff) continue;
        if (!run->parentRun.empty()) {
          auto parent = store->get(kRunsCollection, run->parentRun);
          if (parent.ok()) {
            auto parentRun = Run::fromJson(parent->body);
            if (parentRun.ok() && !isOver(parentRun->status)) continue;
          }
        }
        Status done = store->transact([&](store::Transaction& tx) -> Status {
          // Only as it was read: a run changed since is looked at again later.
          HIVE_TRY(tx.remove(kRunsCollection, document.id, document.version));
          if (!run->idempotencyKey.empty())
            if (Status key = tx.remove(kRunKeysCollection, runKeyId(run->tenant, run->idempotencyKey));
                !key.ok() && key.code() != StatusCode::kNotFound)
              return key;
          return okStatus();
        });
        if (done.ok())
          ++deleted;
        else if (done.code() != StatusCode::kAborted && done.code() != StatusCode::kNotFound)
          log_.warn("workflow run " + document.id + " not deleted: " + done.message());
      }
      cursors_[s] = page->nextCursor;
      if (cursors_[s].empty()) break;  // the next pass starts this status from the beginning
    }
  }
  if (auto trimmed = store->trim(kEventStream, cutoff, 10000); !trimmed.ok())
    log_.warn("workflow events not trimmed: " + trimmed.status().message());
  return deleted;
}

}  // namespace hive::workflow_engine
