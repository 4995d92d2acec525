#include "claimable_notifier.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <utility>

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/notification>

#include "plugin_common/thread_name.hpp"

namespace hive::storage_postgres {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& connection, const std::string& channel, std::vector<std::string>& payloads)
      : pqxx::notification_receiver(connection, channel), payloads_(payloads) {}
  void operator()(const std::string& payload, int /*backendPid*/) override {
    if (payloads_.size() < 100'000) payloads_.push_back(payload);
  }

 private:
  std::vector<std::string>& payloads_;
};

}  // namespace

ClaimableNotifier::ClaimableNotifier(NotifierSettings settings, Redactor redact, Logger& log,
                                     Counter* reconnects, Counter* dropped, ServiceRegistry* services)
    : settings_(std::move(settings)),
      redact_(std::move(redact)),
      log_(log),
      reconnects_(reconnects),
      dropped_(dropped),
      subscribers_(services ? std::make_unique<CallbackRegistry<>>(*services, "store.claimable")
                            : std::make_unique<CallbackRegistry<>>()),
      wakeFd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  // Only this notifier's own fires report here (the handler is not shared
  // with the other generations).
  subscribers_->onError([this](const std::string& queue, const std::string& what) {
    log_.error("onClaimable callback for queue '" + queue + "' threw: " + redact_(what));
  });
}

ClaimableNotifier::~ClaimableNotifier() {
  stop();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

void ClaimableNotifier::wakeLoop() {
  std::uint64_t one = 1;
  if (wakeFd_ >= 0) [[maybe_unused]]
    auto written = ::write(wakeFd_, &one, sizeof one);
}

void ClaimableNotifier::publish(const std::set<std::pair<std::string, std::int64_t>>& wakeups) {
  if (wakeups.empty()) return;
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& wakeup : wakeups) {
      if (outgoing_.size() >= kMaxPending && outgoing_.count(wakeup) == 0) {
        ++dropped;
        continue;
      }
      outgoing_.insert(wakeup);
    }
  }
  if (dropped != 0 && dropped_) dropped_->increment(static_cast<double>(dropped));
  wakeLoop();
}

void ClaimableNotifier::sendOutgoing(pqxx::connection& connection) {
  std::set<std::pair<std::string, std::int64_t>> sending;
  {
    std::lock_guard lock(mutex_);
    sending.swap(outgoing_);
  }
  if (sending.empty()) return;
  // Queue names are [a-z0-9_.-] and the rest is digits: nothing to escape.
  std::string payloads = "{";
  for (const auto& [queue, notBefore] : sending) {
    if (payloads.size() > 1) payloads.push_back(',');
    payloads += "\"" + queue + " " + std::to_string(notBefore) + "\"";
  }
  payloads.push_back('}');
  try {
    pqxx::nontransaction tx(connection);
    tx.exec_params("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", settings_.channel, payloads);
  } catch (...) {
    // Keep them for the next connection (bounded by kMaxPending).
    std::lock_guard lock(mutex_);
    for (auto& wakeup : sending)
      if (outgoing_.size() < kMaxPending) outgoing_.insert(wakeup);
    throw;
  }
}

Status ClaimableNotifier::state() const {
  std::lock_guard lock(mutex_);
  if (listening_) return okStatus();
  return unavailable("database unreachable: " + lastError_);
}

void ClaimableNotifier::start(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  attempted_ = false;
  thread_ = std::thread([this] {
    plugin_common::nameThisThread("pg-listen");
    loop();
  });
  changed_.wait_for(lock, wait, [&] { return attempted_; });
}

void ClaimableNotifier::stop() {
  std::thread joining;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    joining = std::move(thread_);
  }
  changed_.notify_all();
  wakeLoop();
  if (!joining.joinable()) return;
  joining.join();
}

std::unique_ptr<Subscription> ClaimableNotifier::subscribe(const std::string& queue,
                                                           std::function<void()> callback) {
  return subscribers_->subscribe(std::move(callback), queue);
}

void ClaimableNotifier::dispatch(const std::string& queue) {
  // A subscriber's exception must not end the wake-ups of the others: the
  // registry catches it and reports it to the handler set above.
  if (queue.empty())
    subscribers_->fire();
  else
    subscribers_->fireWhere([&](const std::string& key) { return key == queue; });
}

void ClaimableNotifier::handlePayload(const std::string& payload) {
  std::size_t space = payload.rfind(' ');
  std::string queue = payload.substr(0, space);
  std::int64_t notBeforeMs = 0;
  if (space != std::string::npos) {
    try {
      notBeforeMs = std::stoll(payload.substr(space + 1));
    } catch (const std::exception&) {
      notBeforeMs = 0;
    }
  }
  // Any peer may write this number: clamped before the conversion to the
  // clock's nanoseconds, which overflows 292 years after 1970 (9.2e12 ms). A
  // later time waits until 2100, which is as good as never for this process.
  constexpr std::int64_t kFurthestMs = 4'102'444'800'000;  // 2100-01-01T00:00:00Z
  notBeforeMs = std::clamp<std::int64_t>(notBeforeMs, 0, kFurthestMs);
  auto notBefore = std::chrono::system_clock::time_point(std::chrono::milliseconds(notBeforeMs));
  if (notBefore > std::chrono::system_clock::now()) {
    if (!subscribers_->contains(queue)) return;  // nobody here waits on it: keep nothing
    std::lock_guard lock(mutex_);
    auto [it, inserted] = delayed_.emplace(queue, notBefore);
    if (!inserted && notBefore < it->second) it->second = notBefore;
    return;
  }
  dispatch(queue);
}

void ClaimableNotifier::fireDueWakeups() {
  std::vector<std::string> due;
  {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::system_clock::now();
    for (auto it = delayed_.begin(); it != delayed_.end();) {
      if (it->second <= now) {
        due.push_back(it->first);
        it = delayed_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& queue : due) dispatch(queue);
}

void ClaimableNotifier::loop() {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_ptr<Receiver> receiver;
  std::vector<std::string> payloads;
  std::chrono::milliseconds backoff{0};
  bool everConnected = false;
  bool reportedDown = false;
  auto markAttempted = [&] {
    std::lock_guard lock(mutex_);
    if (!attempted_) {
      attempted_ = true;
      changed_.notify_all();
    }
  };
  auto drop = [&] {
    receiver.reset();
    connection.reset();
    listening_ = false;
  };
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    if (!connection) {
      try {
        connection = std::make_unique<pqxx::connection>(settings_.connectionString);
        {
          // Its only writes are NOTIFYs, which need no durability.
          pqxx::nontransaction session(*connection);
          session.exec("SET synchronous_commit = off");
        }
        receiver = std::make_unique<Receiver>(*connection, settings_.channel, payloads);
        {
          std::lock_guard lock(mutex_);
          listening_ = true;
          lastError_.clear();
        }
        backoff = std::chrono::milliseconds(0);
        if (everConnected) {
          if (reconnects_) reconnects_->increment();
          log_.info("claimable listener reconnected");
        }
        everConnected = true;
        reportedDown = false;
        // Whatever was notified while away is lost: everyone looks again.
        // Before start() is told the listener is up: a subscription made after
        // it returns gets no such wake-up for nothing.
        dispatch("");
        markAttempted();
      } catch (const std::exception& error) {
        drop();
        {
          std::lock_guard lock(mutex_);
          lastError_ = redact_(error.what());
          while (!lastError_.empty() && (lastError_.back() == '\n' || lastError_.back() == ' '))
            lastError_.pop_back();
        }
        markAttempted();
        if (!reportedDown)
          log_.warn("claimable listener cannot connect (retrying with backoff): " + redact_(error.what()));
        reportedDown = true;
        backoff =
            backoff.count() == 0 ? settings_.backoffInitial : std::min(backoff * 2, settings_.backoffMax);
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, backoff, [&] { return stopping_; });
        continue;
      }
    }
    try {
      sendOutgoing(*connection);
      pollfd descriptors[2] = {{connection->sock(), POLLIN, 0}, {wakeFd_, POLLIN, 0}};
      if (descriptors[0].fd < 0) throw pqxx::broken_connection("connection closed");
      ::poll(descriptors, wakeFd_ >= 0 ? 2 : 1, 100);
      if (descriptors[1].revents != 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto read = ::read(wakeFd_, &count, sizeof count);
      }
      connection->get_notifs();
      if (!connection->is_open()) throw pqxx::broken_connection("connection closed");
    } catch (const std::exception& error) {
      log_.warn("claimable listener lost its connection: " + redact_(error.what()));
      reportedDown = true;
      drop();
      std::lock_guard lock(mutex_);
      lastError_ = "connection lost: " + redact_(error.what());
      continue;
    }
    std::vector<std::string> received;
    received.swap(payloads);
    for (const auto& payload : received) handlePayload(payload);
    fireDueWakeups();
  }
  // Wake-ups of the last commits before stop() still go out, so that other nodes hear of them.
  if (connection) {
    try {
      sendOutgoing(*connection);
    } catch (const std::exception& error) {
      log_.warn("could not send the last onClaimable notifications: " + redact_(error.what()));
    }
  }
  drop();
}

}  // namespace hive::storage_postgres
