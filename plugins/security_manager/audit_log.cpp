#include "audit_log.hpp"

#include <sodium.h>

#include <algorithm>
#include <optional>

#include <boost/json.hpp>

namespace hive::security_manager {
namespace {

namespace json = boost::json;

constexpr std::size_t kBatch = 256;
constexpr int kAttempts = 8;
const std::string kGenesis(64, '0');

json::object entryObject(const AuditEntry& e, std::uint64_t sequence) {
  json::object o;
  o["seq"] = sequence;
  o["at_ms"] = e.atMs;
  o["principal"] = e.principal;
  o["action"] = e.action;
  if (!e.target.empty()) o["target"] = e.target;
  if (!e.permission.empty()) o["permission"] = e.permission;
  o["outcome"] = e.outcome;
  if (!e.remote.empty()) o["remote"] = e.remote;
  if (!e.requestId.empty()) o["request_id"] = e.requestId;
  if (!e.tenant.empty()) o["tenant"] = e.tenant;
  if (!e.project.empty()) o["project"] = e.project;
  return o;
}

struct Head {
  std::uint64_t sequence = 0;
  std::string hash;
};

// The head document, or nullopt when it is not what flush() writes.
std::optional<Head> parseHead(const std::string& body) {
  json::error_code error;
  json::value value = json::parse(body, error);
  if (error || !value.is_object()) return std::nullopt;
  const json::value* sequence = value.get_object().if_contains("seq");
  const json::value* hash = value.get_object().if_contains("hash");
  if (sequence == nullptr || !sequence->is_int64() || sequence->get_int64() < 0 || hash == nullptr ||
      !hash->is_string())
    return std::nullopt;
  return Head{static_cast<std::uint64_t>(sequence->get_int64()), std::string(hash->get_string())};
}

}  // namespace

std::string auditLink(std::string_view prev, std::string_view entryJson) {
  unsigned char digest[32];
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof digest);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(prev.data()), prev.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(entryJson.data()),
                            entryJson.size());
  crypto_generichash_final(&state, digest, sizeof digest);
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

AuditLog::AuditLog(ServiceHandle<store::Store> store, std::size_t maxPending, Counter& dropped)
    : store_(std::move(store)), maxPending_(maxPending), dropped_(dropped) {}

Status AuditLog::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->declareCollection({kAuditHeadCollection, {}});
}

void AuditLog::record(AuditEntry entry) {
  std::lock_guard lock(mutex_);
  if (queue_.size() >= maxPending_) {
    dropped_.increment();
    return;
  }
  queue_.push_back({++lastTicket_, std::move(entry)});
}

Status AuditLog::recordDurably(AuditEntry entry, std::chrono::milliseconds timeout) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= maxPending_) {
      dropped_.increment();
      return resourceExhausted("the audit log is behind (audit_max_pending entries wait)");
    }
    ticket = ++lastTicket_;
    queue_.push_back({ticket, std::move(entry)});
  }
  if (trigger_) trigger_();
  std::unique_lock lock(mutex_);
  if (!committed_.wait_for(lock, timeout, [&] { return committedTicket_ >= ticket; }))
    return deadlineExceeded("the audit entry was not written within " + std::to_string(timeout.count()) +
                            " ms");
  return okStatus();
}

bool AuditLog::pending() const {
  std::lock_guard lock(mutex_);
  return !queue_.empty();
}

Status AuditLog::flush() {
  std::lock_guard flushing(flushMutex_);
  for (;;) {
    std::vector<Queued> batch;
    {
      std::lock_guard lock(mutex_);
      while (!queue_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (batch.empty()) return okStatus();
    auto store = store_.lease();
    if (!store) return unavailable("no hive.store/1 provider is running");
    Status written;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      written = store->transact([&](store::Transaction& work) -> Status {
        std::uint64_t sequence = 0;
        std::string prev = kGenesis;
        std::uint64_t expected = store::kMustNotExist;
        auto head = work.get(kAuditHeadCollection, "head");
        if (head.ok()) {
          auto parsed = parseHead(head->body);
          if (!parsed) return internalError("the audit head is damaged; run hive audit verify");
          sequence = parsed->sequence;
          prev = parsed->hash;
          expected = head->version;
        } else if (head.status().code() != StatusCode::kNotFound) {
          return head.status();
        }
        for (const auto& queued : batch) {
          std::string content = json::serialize(entryObject(queued.entry, ++sequence));
          std::string hash = auditLink(prev, content);
          std::string body = "{\"prev\":\"";
          body.append(prev).append("\",\"hash\":\"").append(hash).append("\",\"entry\":").append(content);
          body += '}';
          HIVE_TRY(work.append(kAuditStream, "audit", body));
          prev = hash;
        }
        store::Document next;
        next.id = "head";
        next.body = json::serialize(json::object{{"seq", sequence}, {"hash", prev}});
        auto put = work.put(kAuditHeadCollection, std::move(next), expected);
        return put.ok() ? okStatus() : put.status();
      });
      // Another node moved the head meanwhile: chain onto the new one.
      if (written.code() != StatusCode::kAborted) break;
    }
    if (!written.ok()) {
      std::lock_guard lock(mutex_);
      // Back in front, in their order, for the next flush.
      for (std::size_t i = batch.size(); i-- > 0;) {
        if (queue_.size() < maxPending_)
          queue_.push_front(std::move(batch[i]));
        else
          dropped_.increment();
      }
      return written;
    }
    {
      std::lock_guard lock(mutex_);
      committedTicket_ = std::max(committedTicket_, batch.back().ticket);
    }
    committed_.notify_all();
  }
}

Result<std::vector<store::Event>> AuditLog::read(std::uint64_t afterId, std::size_t limit) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->read(kAuditStream, afterId, limit);
}

Result<std::uint64_t> AuditLog::trim(std::int64_t beforeMs, std::size_t batch, const std::string& by,
                                     std::int64_t nowMs) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  std::uint64_t deleted = 0;
  for (;;) {
    auto trimmed = store->trim(kAuditStream, beforeMs, batch);
    if (!trimmed.ok()) {
      if (deleted == 0) return trimmed.status();
      break;  // what went is recorded; the rest goes at the next pass
    }
    deleted += *trimmed;
    if (*trimmed < batch) break;
  }
  if (deleted > 0)
    record({.atMs = nowMs,
            .principal = by,
            .action = "audit.trim",
            .target = std::to_string(deleted) + " entries before " + std::to_string(beforeMs),
            .outcome = "done"});
  return deleted;
}

Result<AuditVerification> AuditLog::verify() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  AuditVerification result;
  std::string prev;  // empty until the first entry: after a trim the chain starts where it remains
  std::uint64_t lastSequence = 0;
  std::uint64_t after = 0;
  auto broken = [&](std::uint64_t id, std::string why) {
    result.intact = false;
    result.brokenAtEvent = id;
    result.reason = std::move(why);
    return result;
  };
  for (;;) {
    auto events = HIVE_TRY(store->read(kAuditStream, after, 1000));
    if (events.empty()) break;
    for (const auto& event : events) {
      after = event.id;
      json::error_code error;
      json::value value = json::parse(event.body, error);
      if (error || !value.is_object()) return broken(event.id, "not a JSON object");
      const auto& o = value.get_object();
      const json::value* entry = o.if_contains("entry");
      const json::value* storedPrev = o.if_contains("prev");
      const json::value* storedHash = o.if_contains("hash");
      if (entry == nullptr || !entry->is_object() || storedPrev == nullptr || !storedPrev->is_string() ||
          storedHash == nullptr || !storedHash->is_string())
        return broken(event.id, "entry, prev or hash missing");
      if (!prev.empty() && storedPrev->get_string() != prev)
        return broken(event.id, "prev is not the hash of the entry before (an entry removed or reordered)");
      if (auditLink(storedPrev->get_string(), json::serialize(*entry)) != storedHash->get_string())
        return broken(event.id, "hash does not match the entry (the entry was changed)");
      const json::value* sequence = entry->get_object().if_contains("seq");
      std::uint64_t seq =
          sequence != nullptr && sequence->is_number() ? sequence->to_number<std::uint64_t>() : 0;
      if (lastSequence != 0 && seq != lastSequence + 1) return broken(event.id, "sequence gap");
      lastSequence = seq;
      prev = std::string(storedHash->get_string());
      ++result.entries;
    }
  }
  auto head = store->get(kAuditHeadCollection, "head");
  if (head.ok()) {
    auto parsed = parseHead(head->body);
    if (!parsed) return broken(after, "the head document is damaged");
    if (parsed->hash != prev || parsed->sequence != lastSequence)
      return broken(after, "the chain ends before its head (entries removed at the end)");
  } else if (head.status().code() != StatusCode::kNotFound) {
    return head.status();
  } else if (result.entries != 0) {
    return broken(after, "entries without a head");
  }
  return result;
}

}  // namespace hive::security_manager
