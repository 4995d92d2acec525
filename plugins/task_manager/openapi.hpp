// OpenAPI 3.1 fragments of task_manager's routes.
#pragma once

namespace hive::task_manager::openapi {

inline constexpr const char* kSchemas = R"({
 "Task": {"type": "object", "required": ["id", "type", "status", "priority", "attempts"],
  "properties": {
   "id": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"},
   "payload": {}, "capabilities": {"type": "array", "items": {"type": "string"}},
   "priority": {"type": "integer", "minimum": 1, "maximum": 10},
   "effective_priority": {"type": "integer"},
   "depends_on": {"type": "array", "items": {"type": "string"}},
   "waiting_on": {"type": "array", "items": {"type": "string"}},
   "timeout_ms": {"type": "integer"}, "max_attempts": {"type": "integer"},
   "not_before_ms": {"type": "integer"},
   "status": {"type": "string", "enum": ["pending", "assigned", "running", "succeeded", "failed", "cancelled", "dead"]},
   "attempts": {"type": "integer"}, "result": {}, "progress": {}, "error": {"type": "string"},
   "agent": {"type": "string"}, "lease_expires_ms": {"type": "integer"}, "stale_reports": {"type": "integer"},
   "created_at_ms": {"type": "integer"}, "updated_at_ms": {"type": "integer"},
   "queued_at_ms": {"type": "integer"}, "started_at_ms": {"type": "integer"}, "finished_at_ms": {"type": "integer"},
   "traceparent": {"type": "string", "description": "W3C trace context: the submitting request's traceparent, or a new trace"},
   "tenant": {"type": "string", "description": "The submitting key's tenant (hive.tenancy/1); absent for the default tenant"},
   "project": {"type": "string", "description": "The task's project of its tenant (hive.projects/1); absent when none"}}},
 "TaskSubmission": {"type": "object", "required": ["type"], "additionalProperties": false,
  "properties": {
   "type": {"type": "string", "pattern": "^[a-z0-9_.:-]{1,64}$"}, "title": {"type": "string", "maxLength": 200},
   "payload": {}, "capabilities": {"type": "array", "items": {"type": "string"}, "maxItems": 16},
   "priority": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 10},
                          {"type": "string", "enum": ["LOW", "MEDIUM", "HIGH", "CRITICAL"]}]},
   "depends_on": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
   "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 604800},
   "max_attempts": {"type": "integer", "minimum": 1}, "not_before_ms": {"type": "integer", "minimum": 0},
   "project": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$",
               "description": "A project of the caller's tenant; a key bound to a project puts its tasks there"}}},
 "TaskList": {"type": "object", "required": ["items"], "properties": {
   "items": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
   "next_cursor": {"type": "string"}}},
 "TaskStats": {"type": "object", "properties": {
   "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
   "queues": {"type": "array", "items": {"type": "object"}}}}
})";

#define HIVE_TM_PROBLEM(code, text) \
  "\"" code "\": {\"description\": \"" text "\", \"content\": {\"application/problem+json\": {}}}"
#define HIVE_TM_ID_PARAM                                                                              \
  "\"parameters\": [{\"name\": \"id\", \"in\": \"path\", \"required\": true, \"schema\": {\"type\": " \
  "\"string\"}}]"
#define HIVE_TM_TASK(code, text)                          \
  "\"" code "\": {\"description\": \"" text               \
  "\", \"content\": {\"application/json\": {\"schema\": " \
  "{\"$ref\": \"#/components/schemas/Task\"}}}}"

inline constexpr const char* kSubmit =
    "{\"summary\": \"Submit a task\", \"operationId\": \"submitTask\", \"tags\": [\"tasks\"],"
    "\"parameters\": [{\"name\": \"Idempotency-Key\", \"in\": \"header\", \"required\": false,"
    "\"schema\": {\"type\": \"string\", \"maxLength\": 128}}],"
    "\"requestBody\": {\"required\": true, \"content\": {\"application/json\": {\"schema\": "
    "{\"$ref\": \"#/components/schemas/TaskSubmission\"}}}},"
    "\"responses\": {" HIVE_TM_TASK("201", "Created") "," HIVE_TM_TASK(
        "200", "The task an earlier request with the same Idempotency-Key created") "," HIVE_TM_PROBLEM("400",
                                                                                                        "Not JSON") "," HIVE_TM_PROBLEM("422", "Invalid task") "}}";

inline constexpr const char* kList =
    "{\"summary\": \"List tasks\", \"operationId\": \"listTasks\", \"tags\": [\"tasks\"],"
    "\"parameters\": ["
    "{\"name\": \"status\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    "{\"name\": \"type\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    "{\"name\": \"agent\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    "{\"name\": \"capability\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}},"
    "{\"name\": \"tenant\", \"in\": \"query\", \"description\": \"Only for a caller that spans tenants\", "
    "\"schema\": {\"type\": \"string\"}},"
    "{\"name\": \"project\", \"in\": \"query\", \"description\": \"One project's tasks (a key bound to a "
    "project always gets its own)\", \"schema\": {\"type\": \"string\"}},"
    "{\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1, "
    "\"maximum\": 1000}},"
    "{\"name\": \"cursor\", \"in\": \"query\", \"schema\": {\"type\": \"string\"}}],"
    "\"responses\": {\"200\": {\"description\": \"A page of tasks\", \"content\": {\"application/json\": "
    "{\"schema\": {\"$ref\": \"#/components/schemas/TaskList\"}}}}," HIVE_TM_PROBLEM("422",
                                                                                     "Bad filter") "}}";

inline constexpr const char* kGet =
    "{\"summary\": \"Get a task\", \"operationId\": \"getTask\", \"tags\": [\"tasks\"]," HIVE_TM_ID_PARAM
    ",\"responses\": {" HIVE_TM_TASK("200", "The task") "," HIVE_TM_PROBLEM("404", "No such task") "}}";

inline constexpr const char* kCancel =
    "{\"summary\": \"Cancel a task\", \"operationId\": \"cancelTask\", \"tags\": "
    "[\"tasks\"]," HIVE_TM_ID_PARAM ",\"responses\": {" HIVE_TM_TASK("200", "Cancelled") "," HIVE_TM_PROBLEM(
        "404", "No such task") "," HIVE_TM_PROBLEM("409", "Already finished") "}}";

inline constexpr const char* kStats =
    "{\"summary\": \"Task counts and queue depth\", \"operationId\": \"taskStats\", \"tags\": [\"tasks\"],"
    "\"responses\": {\"200\": {\"description\": \"Counts\", \"content\": {\"application/json\": {\"schema\": "
    "{\"$ref\": \"#/components/schemas/TaskStats\"}}}}}}";

inline constexpr const char* kEvents =
    "{\"summary\": \"Task state changes, oldest first, resumable\", \"operationId\": \"taskEvents\","
    "\"tags\": [\"tasks\"], \"parameters\": ["
    "{\"name\": \"after\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 0}},"
    "{\"name\": \"limit\", \"in\": \"query\", \"schema\": {\"type\": \"integer\", \"minimum\": 1, "
    "\"maximum\": 10000}}],"
    "\"responses\": {\"200\": {\"description\": \"Events and the last id\", \"content\": "
    "{\"application/json\": {}}}," HIVE_TM_PROBLEM("422", "Bad query") "}}";

#undef HIVE_TM_PROBLEM
#undef HIVE_TM_ID_PARAM
#undef HIVE_TM_TASK

}  // namespace hive::task_manager::openapi
