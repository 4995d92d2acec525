#include "routes.hpp"

#include <boost/json.hpp>

#include "host_usage.hpp"
#include "job_usage.hpp"

namespace hive::resource_manager {
namespace {

namespace json = boost::json;

constexpr const char* kOverviewOpenApi =
    R"json({"summary":"What the host and the running jobs of process agents use, the recent finished jobs' summaries, each agent's quota, and admission control","tags":["observability"],)json"
    R"json("responses":{"200":{"description":"OK","content":{"application/json":{"schema":{"type":"object","properties":{)json"
    R"json("host":{"type":"object"},"admission":{"$ref":"#/components/schemas/Admission"},"agents":{"type":"array","items":{"type":"object"}},)json"
    R"json("jobs":{"type":"array","items":{"$ref":"#/components/schemas/JobUsage"}},"finished":{"type":"array","items":{"$ref":"#/components/schemas/JobUsage"}}},)json"
    R"json("required":["host","admission","agents","jobs","finished"]}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

constexpr const char* kTaskOpenApi =
    R"json({"summary":"What the process-agent job of one task uses now, or used (a finished job's summary, while it is kept)","tags":["observability"],)json"
    R"json("parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}}],)json"
    R"json("responses":{"200":{"description":"OK","content":{"application/json":{"schema":{"$ref":"#/components/schemas/JobUsage"}}}},)json"
    R"json("404":{"description":"No job of that task is running or kept","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

http::Response jsonResponse(const json::value& body) {
  http::Response response;
  response.body = json::serialize(body);
  return response;
}

}  // namespace

ResourceRoutes::ResourceRoutes(std::shared_ptr<JobTracker> jobs, std::shared_ptr<AdmissionGate> admission)
    : jobs_(std::move(jobs)), admission_(std::move(admission)) {
  table_.add({.id = "resources",
              .method = "GET",
              .path = "/api/v2/resources",
              .permission = "observability:read",
              .openapi = kOverviewOpenApi},
             [this](http::Request, http::Responder respond) { respond(overview()); });
  table_.add({.id = "resources.task",
              .method = "GET",
              .path = "/api/v2/resources/tasks/{id}",
              .permission = "observability:read",
              .openapi = kTaskOpenApi},
             [this](http::Request request, http::Responder respond) { respond(task(request.param("id"))); });
}

std::string ResourceRoutes::openapiSchemas() {
  return R"json({"JobUsage":{"type":"object","properties":{"agent":{"type":"string"},"task_id":{"type":"string"},"pid":{"type":"integer"},"started_at_ms":{"type":"integer"},"sampled_at_ms":{"type":"integer"},"ended_at_ms":{"type":"integer"},"processes":{"type":"integer"},"cpu_seconds":{"type":"number"},"resident_bytes":{"type":"integer"},"peak_resident_bytes":{"type":"integer"},"open_files":{"type":"integer"},"peak_open_files":{"type":"integer"},"read_bytes":{"type":"integer"},"write_bytes":{"type":"integer"},"unreadable_processes":{"type":"integer"},"cgroup":{"type":"string"},"cgroup_memory_bytes":{"type":"integer"},"cgroup_peak_memory_bytes":{"type":"integer"},"quota":{"type":"object"},"stopped_for":{"type":"string"}},"required":["agent","task_id","cpu_seconds","resident_bytes"]},)json"
         R"json("Admission":{"type":"object","description":"Admission control: while open is false, POST /api/v2/tasks answers 503 with Retry-After","properties":{"open":{"type":"boolean"},"limit":{"type":"string"},"reason":{"type":"string"},"closed_since_ms":{"type":"integer"},"limits":{"type":"object"},"signals":{"type":"object"},"sampled_at_ms":{"type":"integer"},"retry_after_seconds":{"type":"integer"},"unreadable":{"type":"string"}},"required":["open","limits","signals"]}})json";
}

http::Response ResourceRoutes::overview() const {
  HostUsage host = readHostUsage();
  json::object hostJson{{"cpus", host.cpus},
                        {"load", json::array{host.load[0], host.load[1], host.load[2]}},
                        {"memory_total_bytes", host.memoryTotalBytes},
                        {"memory_available_bytes", host.memoryAvailableBytes}};
  std::vector<JobRecord> running = jobs_->running();
  json::array jobs;
  std::map<std::string, json::object> agents;
  for (const auto& r : running) {
    jobs.push_back(jobJson(r));
    json::object& agent = agents[r.job.agent];
    agent["running"] = (agent.contains("running") ? agent["running"].as_int64() : 0) + 1;
    agent["cpu_seconds"] =
        (agent.contains("cpu_seconds") ? agent["cpu_seconds"].as_double() : 0.0) + r.usage.cpuSeconds;
    agent["resident_bytes"] = (agent.contains("resident_bytes") ? agent["resident_bytes"].as_int64() : 0) +
                              static_cast<std::int64_t>(r.usage.residentBytes);
  }
  const Settings& settings = jobs_->settings();
  for (const auto& [name, quota] : settings.agents) agents[name];
  json::array agentList;
  for (auto& [name, agent] : agents) {
    agent["name"] = name;
    if (!agent.contains("running")) agent["running"] = 0;
    agent["quota"] = quotaJson(quotaFor(settings, name));
    agentList.push_back(std::move(agent));
  }
  json::array finished;
  for (const auto& r : jobs_->finished()) finished.push_back(jobJson(r));
  return jsonResponse(json::object{{"host", std::move(hostJson)},
                                   {"agents", std::move(agentList)},
                                   {"default_quota", quotaJson(settings.defaults)},
                                   {"admission", admission_->status()},
                                   {"jobs", std::move(jobs)},
                                   {"finished", std::move(finished)}});
}

http::Response ResourceRoutes::task(const std::string& taskId) const {
  auto found = jobs_->find(taskId);
  if (!found)
    return http::problem(404, "Not Found", "no process-agent job of task " + taskId + " is running or kept");
  return jsonResponse(jobJson(*found));
}

}  // namespace hive::resource_manager
