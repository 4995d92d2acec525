// Submissions committed in groups, without holding a thread while each one
// commits: submissions that arrive while a group is being written go together
// into the next store transaction (one commit, one fsync for the group). When
// one of a group is refused (a bad dependency, a reused key) or the group
// fails, each is tried alone so that it gets its own answer.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "clock.hpp"
#include "dependencies.hpp"
#include "hive/context.hpp"
#include "queue_registry.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

// An earlier submission with the same Idempotency-Key, answered again.
enum class Replay { kNo, kYes };

struct Submitted {
  Task task;
  Replay replay = Replay::kNo;
};

class Submissions {
 public:
  // Runs once, on a blocking thread, after the task is committed (or refused:
  // kInvalidArgument with field errors for a bad submission).
  using Done = std::function<void(Result<Submitted>, std::vector<http::FieldError>)>;

  Submissions(PluginContext& context, UnitOfWork& work, QueueRegistry& queues, Dependencies& dependencies,
              const Clock& clock, std::function<void()> wake)
      : context_(context),
        work_(work),
        queues_(queues),
        dependencies_(dependencies),
        clock_(clock),
        wake_(std::move(wake)) {}

  // `bodyDigest` tells a replayed request body from another one with the same key.
  void submit(Task task, std::string idempotencyKey, std::string bodyDigest, Done done);

 private:
  struct Submission {
    Task task;  // id, queue and key set
    std::string idempotencyKey;
    std::string bodyDigest;
    Done done;
    // Filled by stage():
    Submitted out;
    std::vector<http::FieldError> errors;
    Status status;
    std::vector<std::string> pending;  // its dependencies that had not ended: counted edges (kPendingEdges)
  };

  // Commits the waiting submissions in groups until none is left.
  void drain();
  // Commits `group`, together when it can; each one's outcome in its status.
  void commitGroup(std::vector<Submission>& group);
  // Writes one submission inside `tx` (its checks first: a refused one has
  // written nothing when it returns kInvalidArgument with its errors).
  Status stage(store::Transaction& tx, Outbox& outbox, Submission& s);
  // Its Idempotency-Key, when it has one: Replay::kYes with the earlier task in
  // s.out when it was seen with the same body.
  Result<Replay> checkKey(store::Transaction& tx, Submission& s);
  // Which dependencies `t` waits on; the first one that already failed, if any.
  Result<std::string> checkDependencies(store::Transaction& tx, Task& t, Submission& s);
  Status writeEdges(store::Transaction& tx, const Task& t, const Submission& s);

  PluginContext& context_;
  UnitOfWork& work_;
  QueueRegistry& queues_;
  Dependencies& dependencies_;
  const Clock& clock_;
  std::function<void()> wake_;
  std::mutex mutex_;
  std::vector<Submission> waiting_;  // for the next group
  int drains_ = 0;                   // drains running
};

}  // namespace hive::task_manager
