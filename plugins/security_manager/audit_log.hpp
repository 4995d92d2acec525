// The audit log: every state-changing request, every refused one and every
// key created or revoked, as a hash chain in the store's event stream
// `security.audit`. Each entry carries the digest of the one before it
// (`prev`) and its own (`hash` = BLAKE2b-256 of prev and the entry's JSON), so
// that changing, removing or reordering a stored entry breaks the chain where
// it happened; verify() finds the first break.
//
// Several nodes append to one chain: the head (last sequence number and hash)
// is a store document updated in the same unit of work as the appended events,
// with an expected version, so two nodes never chain onto the same head.
//
// Entries wait in a bounded queue (what does not fit is dropped and counted,
// security_audit_dropped_total) and are written by flush() on the blocking
// executor every flush interval and at stop. recordDurably() also waits until
// its entry is committed: the request it records is answered only then, so a
// crash (kill -9) loses no entry of an answered request. Entries queued
// meanwhile go in the same transaction (group commit). record() alone never
// waits: a crash loses at most what was queued.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "hive/metrics.hpp"
#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "hive/status.hpp"

namespace hive::security_manager {

inline constexpr const char* kAuditStream = "security.audit";
inline constexpr const char* kAuditHeadCollection = "security_audit_head";

struct AuditEntry {
  std::int64_t atMs = 0;
  std::string principal;  // "anonymous" when unknown
  std::string action;     // "POST /api/v2/tasks", "key.create", "key.revoke"
  std::string target;     // a key id for key actions
  std::string permission;
  std::string outcome;  // allowed, unauthenticated, denied, done
  std::string remote;
  std::string requestId;
  std::string tenant;   // the caller's, or the project's for project actions; "" the default
  std::string project;  // the caller's key's, or the project acted on; "" none
};

struct AuditVerification {
  bool intact = true;
  std::uint64_t entries = 0;
  std::uint64_t brokenAtEvent = 0;  // the event id where the chain breaks
  std::string reason;
};

class AuditLog {
 public:
  AuditLog(ServiceHandle<store::Store> store, std::size_t maxPending, Counter& dropped);

  Status open();
  // Any thread; never blocks on the store.
  void record(AuditEntry entry);
  // Records `entry` and waits until it is in the store, at most `timeout`;
  // asks for a flush through the trigger. kResourceExhausted when the queue is
  // full, kDeadlineExceeded when not written in time (it stays queued).
  // Blocks: not on the thread that runs flush().
  Status recordDurably(AuditEntry entry, std::chrono::milliseconds timeout);
  // How recordDurably() gets a flush run soon (on the blocking executor).
  void setFlushTrigger(std::function<void()> trigger) { trigger_ = std::move(trigger); }
  // Writes what is queued, in batches. Blocking; one flush at a time.
  Status flush();
  bool pending() const;

  // Stored events after `afterId`, at most `limit`.
  Result<std::vector<store::Event>> read(std::uint64_t afterId, std::size_t limit);
  // Walks the whole chain.
  Result<AuditVerification> verify();
  // Retention: deletes the entries stored before `beforeMs`, oldest first,
  // `batch` per store call, until none is left; then records (queued, like
  // any entry) an `audit.trim` entry by `by`, at `nowMs`, that says how many
  // went. What remains still verifies: the chain starts at its oldest
  // remaining entry. Blocking. Returns how many were deleted.
  Result<std::uint64_t> trim(std::int64_t beforeMs, std::size_t batch, const std::string& by,
                             std::int64_t nowMs);

 private:
  ServiceHandle<store::Store> store_;
  std::size_t maxPending_;
  Counter& dropped_;
  struct Queued {
    std::uint64_t ticket = 0;  // order of recording in this process
    AuditEntry entry;
  };
  mutable std::mutex mutex_;  // guards queue_, lastTicket_, committedTicket_
  std::deque<Queued> queue_;
  std::uint64_t lastTicket_ = 0;
  std::uint64_t committedTicket_ = 0;  // every ticket up to it is in the store
  std::condition_variable committed_;
  std::function<void()> trigger_;
  std::mutex flushMutex_;  // one writer per process: batches keep their order
};

// hex BLAKE2b-256(prev || entryJson): the chain's link.
std::string auditLink(std::string_view prev, std::string_view entryJson);

}  // namespace hive::security_manager
