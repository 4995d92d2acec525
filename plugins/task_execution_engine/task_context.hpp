// A process agent's view of its task's context: before the job starts, the
// entries of scope task:<id> (from whichever plugin serves GET
// /api/v2/contexts/{scope}/entries: context_manager) are written to
// .hive-context.json in the job's work directory, and HIVE_CONTEXT_FILE names
// it (docs/process-agents.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "hive/services.hpp"
#include "process_tree.hpp"

namespace hive::task_execution_engine {

inline constexpr const char* kContextFileName = ".hive-context.json";

// The answer of the context route for the task (its JSON body), read for the
// task's tenant (the top-level "tenant" of `taskJson`, the task as the API
// shows it), or nullopt when no plugin serves it or it did not answer 200 in
// time. Blocking.
std::optional<std::string> fetchTaskContext(ServiceRegistry& services, const std::string& self,
                                            const std::string& taskId, std::string_view taskJson);

// Writes `body` to kContextFileName in the directory open as `directory`
// (whatever a job left under that name is removed first, never followed),
// owned by `identity` when there is one. False with errno on failure.
bool writeContextFile(int directory, const std::string& body, const std::optional<Identity>& identity);

}  // namespace hive::task_execution_engine
