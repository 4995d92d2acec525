// The SQL the store runs, with the schema filled in, prepared once per connection.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <pqxx/connection>

namespace hive::storage_postgres {

// Statement names (prepared on every pooled connection).
namespace statement {
inline constexpr const char* kDocGet = "doc_get";
inline constexpr const char* kDocCreate = "doc_create";
inline constexpr const char* kDocUpsert = "doc_upsert";
inline constexpr const char* kDocUpdate = "doc_update";
inline constexpr const char* kDocDelete = "doc_delete";
inline constexpr const char* kDocDeleteVersion = "doc_delete_version";
inline constexpr const char* kDocList = "doc_list";
inline constexpr const char* kCollectionGet = "collection_get";
inline constexpr const char* kCollectionDeclare = "collection_declare";
inline constexpr const char* kEnqueue = "queue_enqueue";
inline constexpr const char* kEnqueueMany = "queue_enqueue_many";
inline constexpr const char* kByKey = "queue_by_key";
inline constexpr const char* kPeek = "queue_peek";
inline constexpr const char* kClaim = "queue_claim";
inline constexpr const char* kExtend = "queue_extend";
inline constexpr const char* kComplete = "queue_complete";
inline constexpr const char* kCompleteMany = "queue_complete_many";
inline constexpr const char* kFail = "queue_fail";
inline constexpr const char* kCancel = "queue_cancel";
inline constexpr const char* kRelease = "queue_release";
inline constexpr const char* kDepth = "queue_depth";
inline constexpr const char* kAppend = "event_append";
inline constexpr const char* kAppendMany = "event_append_many";
inline constexpr const char* kRead = "event_read";
inline constexpr const char* kTrim = "event_trim";
inline constexpr const char* kEraseEvents = "event_erase";
inline constexpr const char* kCounterAdd = "counter_add";
inline constexpr const char* kCounters = "counters_read";
}  // namespace statement

// Milliseconds since the epoch on the database's clock: every node of a shared
// store compares leases and notBefore against the same clock.
inline constexpr const char* kNowMs = "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint";

// The channel NOTIFYs of this schema go to; the payload is "<queue> <notBeforeMs>".
std::string notifyChannel(const std::string& schema);

class Statements {
 public:
  explicit Statements(const std::string& schema);
  // Prepares every statement on `connection`. Throws what libpqxx throws.
  void prepareAll(pqxx::connection& connection) const;

 private:
  std::vector<std::pair<std::string, std::string>> statements_;
};

}  // namespace hive::storage_postgres
