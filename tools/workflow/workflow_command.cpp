#include "workflow_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <variant>

#include <boost/json.hpp>

#include "definition.hpp"
#include "http_client.hpp"

namespace hive::tools {

namespace json = boost::json;
using workflow_engine::locate;

namespace {

std::string environment(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

bool endsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// FILE:LINE:COL: message for each error whose pointer has a place in the file;
// FILE: pointer: message for the others.
void printErrors(const std::string& file, std::vector<http::FieldError> errors,
                 const std::map<std::string, std::string>& locations) {
  std::vector<std::string> before;
  for (const auto& error : errors) before.push_back(error.message);
  locate(errors, locations);
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (errors[i].message != before[i])
      std::fprintf(stderr, "%s:%s (at %s)\n", file.c_str(), errors[i].message.c_str(),
                   errors[i].field.empty() ? "/" : errors[i].field.c_str());
    else
      std::fprintf(stderr, "%s: %s: %s\n", file.c_str(),
                   errors[i].field.empty() ? "/" : errors[i].field.c_str(), errors[i].message.c_str());
  }
}

json::value parseBody(const HttpAnswer& answer) {
  std::error_code ec;
  json::value body = json::parse(answer.body, ec);
  return ec ? json::value(nullptr) : body;
}

// A problem+json answer on stderr; the exit code 1.
int refused(const HttpAnswer& answer, const std::string& file = {},
            const std::map<std::string, std::string>& locations = {}) {
  json::value body = parseBody(answer);
  const json::object* problem = body.is_object() ? &body.get_object() : nullptr;
  std::string detail = problem && problem->contains("detail") && problem->at("detail").is_string()
                           ? std::string(problem->at("detail").get_string())
                           : answer.body;
  std::fprintf(stderr, "hive workflow: HTTP %d: %s\n", answer.status, detail.c_str());
  if (problem != nullptr && problem->contains("errors") && problem->at("errors").is_array()) {
    std::vector<http::FieldError> errors;
    for (const json::value& item : problem->at("errors").get_array()) {
      if (!item.is_object()) continue;
      const json::object& error = item.get_object();
      errors.push_back({error.contains("field") ? std::string(error.at("field").as_string()) : "",
                        error.contains("message") ? std::string(error.at("message").as_string()) : ""});
    }
    printErrors(file.empty() ? "request" : file, std::move(errors), locations);
  }
  return 1;
}

Result<HttpAnswer> call(const std::string& url, const std::string& key, const std::string& method,
                        const std::string& target, const std::string& body = {}) {
  auto answer = httpRequest(url, method, target, body, key);
  if (!answer.ok()) std::fprintf(stderr, "hive workflow: %s\n", answer.status().message().c_str());
  return answer;
}

int applyCommand(const std::string& file, const std::string& url, const std::string& key) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read the file\n", file.c_str());
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, std::string> locations;
  json::value document;
  if (endsWith(file, ".json")) {
    std::error_code ec;
    document = json::parse(text.str(), ec);
    if (ec) {
      std::fprintf(stderr, "%s: not JSON: %s\n", file.c_str(), ec.message().c_str());
      return 1;
    }
  } else {
    auto parsed = workflow_engine::yamlToJson(text.str(), &locations);
    if (!parsed.ok()) {
      // "line L, column C: problem" → FILE:L:C: problem
      std::string message = parsed.status().message();
      unsigned line = 0, column = 0;
      int consumed = 0;
      if (std::sscanf(message.c_str(), "line %u, column %u: %n", &line, &column, &consumed) == 2 &&
          consumed > 0)
        std::fprintf(stderr, "%s:%u:%u: %s\n", file.c_str(), line, column, message.c_str() + consumed);
      else
        std::fprintf(stderr, "%s: %s\n", file.c_str(), message.c_str());
      return 1;
    }
    document = std::move(parsed).value();
  }
  // The server's limits (max_steps, ...) may be raised: they are its to check.
  workflow_engine::Limits unlimited;
  unlimited.maxDefinitionBytes = unlimited.maxSteps = unlimited.maxExpressionBytes = unlimited.maxParams =
      unlimited.maxMapItems = ~std::size_t{0} >> 1;
  std::vector<http::FieldError> errors;
  if (!workflow_engine::parseDefinition(document, unlimited, errors).ok()) {
    printErrors(file, std::move(errors), locations);
    std::fprintf(stderr, "hive workflow: %s was not applied\n", file.c_str());
    return 1;
  }
  auto answer = call(url, key, "POST", "/api/v2/workflows", json::serialize(document));
  if (!answer.ok()) return 2;
  if (answer->status != 200 && answer->status != 201) return refused(*answer, file, locations);
  json::value record = parseBody(*answer);
  std::printf("%s: version %lld %s\n", json::value_to<std::string>(record.at("name")).c_str(),
              static_cast<long long>(record.at("version").to_number<std::int64_t>()),
              answer->status == 201 ? "registered" : "unchanged");
  return 0;
}

std::string text(const json::value& value) {
  if (value.is_string()) return std::string(value.get_string());
  if (value.is_null()) return "-";
  return json::serialize(value);
}

int listCommand(const std::string& url, const std::string& key) {
  auto answer = call(url, key, "GET", "/api/v2/workflows?limit=1000");
  if (!answer.ok()) return 2;
  if (answer->status != 200) return refused(*answer);
  std::printf("%-32s %-8s %s\n", "NAME", "VERSION", "DESCRIPTION");
  const json::value body = parseBody(*answer);
  for (const json::value& item : body.at("items").as_array())
    std::printf(
        "%-32s %-8s %s\n", text(item.at("name")).c_str(), text(item.at("version")).c_str(),
        text(item.as_object().contains("description") ? item.at("description") : json::value("")).c_str());
  return 0;
}

int runsCommand(const std::string& url, const std::string& key, const std::string& workflow,
                const std::string& status) {
  std::string target = "/api/v2/workflows/runs?limit=1000";
  if (!workflow.empty()) target += "&workflow=" + workflow;
  if (!status.empty()) target += "&status=" + status;
  auto answer = call(url, key, "GET", target);
  if (!answer.ok()) return 2;
  if (answer->status != 200) return refused(*answer);
  std::printf("%-24s %-24s %-8s %-10s %s\n", "ID", "WORKFLOW", "VERSION", "STATUS", "STEPS DONE");
  const json::value body = parseBody(*answer);
  for (const json::value& item : body.at("items").as_array()) {
    std::size_t done = 0, total = 0;
    for (const json::value& step : item.at("steps").as_array()) {
      ++total;
      if (step.at("status") == "succeeded" || step.at("status") == "skipped") ++done;
    }
    std::printf("%-24s %-24s %-8s %-10s %zu/%zu\n", text(item.at("id")).c_str(),
                text(item.at("workflow")).c_str(), text(item.at("version")).c_str(),
                text(item.at("status")).c_str(), done, total);
  }
  return 0;
}

// The run's JSON, or an exit code: 2 when Hive cannot be reached, 1 when it refused.
std::variant<json::value, int> startRun(const std::string& url, const std::string& key,
                                        const std::string& workflow, const std::vector<std::string>& params,
                                        long long version) {
  json::object given;
  for (const std::string& param : params) {
    std::size_t equals = param.find('=');
    if (equals == std::string::npos || equals == 0) {
      std::fprintf(stderr, "hive workflow: --param %s: give NAME=VALUE\n", param.c_str());
      return 1;
    }
    // A value that reads as JSON (3, true, ["a"]) is that; anything else a string.
    std::error_code ec;
    json::value value = json::parse(param.substr(equals + 1), ec);
    given[param.substr(0, equals)] = ec ? json::value(json::string(param.substr(equals + 1))) : value;
  }
  json::object body{{"params", std::move(given)}};
  if (version > 0) body["version"] = version;
  auto answer = call(url, key, "POST", "/api/v2/workflows/" + workflow + "/runs", json::serialize(body));
  if (!answer.ok()) return 2;
  if (answer->status != 201 && answer->status != 200) return refused(*answer);
  return parseBody(*answer);
}

int startCommand(const std::string& url, const std::string& key, const std::string& workflow,
                 const std::vector<std::string>& params, long long version) {
  auto started = startRun(url, key, workflow, params, version);
  if (const int* code = std::get_if<int>(&started)) return *code;
  std::printf("%s\n", text(std::get<json::value>(started).at("id")).c_str());
  return 0;
}

// One line of progress: a bar of the steps that ended, the count, the run's
// status and the steps running now.
std::string progressLine(const json::value& run) {
  std::size_t ended = 0, total = 0;
  std::string running;
  for (const json::value& step : run.at("steps").as_array()) {
    ++total;
    const std::string status = text(step.at("status"));
    if (status == "running" || status == "waiting")
      running +=
          (running.empty() ? "" : ", ") + text(step.at("name")) + (status == "waiting" ? " (waiting)" : "");
    else if (status != "pending")
      ++ended;
  }
  constexpr std::size_t kWidth = 24;
  std::size_t filled = total == 0 ? kWidth : ended * kWidth / total;
  std::string line = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] " +
                     std::to_string(ended) + "/" + std::to_string(total) + " steps, " +
                     text(run.at("status"));
  if (!running.empty()) line += "; running: " + running;
  return line;
}

// `hive workflow run`: starts a run; with --follow, shows its progress until it
// ends (a line redrawn in place on a terminal, a line per change otherwise) and
// exits with its outcome: 0 succeeded, 1 failed, 3 cancelled, 2 Hive gone.
int runCommand(const std::string& url, const std::string& key, const std::string& workflow,
               const std::vector<std::string>& params, long long version, bool follow) {
  auto started = startRun(url, key, workflow, params, version);
  if (const int* code = std::get_if<int>(&started)) return *code;
  json::value run = std::move(std::get<json::value>(started));
  const std::string id = text(run.at("id"));
  std::printf("%s\n", id.c_str());
  std::fflush(stdout);
  if (!follow) return 0;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  std::string shown;
  for (int unreachable = 0;;) {
    std::string line = progressLine(run);
    if (line != shown) {
      if (terminal)
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
      else
        std::fprintf(stderr, "%s\n", line.c_str());
      shown = line;
    }
    const std::string status = text(run.at("status"));
    if (status == "succeeded" || status == "failed" || status == "cancelled") {
      if (terminal) std::fprintf(stderr, "\n");
      if (run.as_object().contains("error"))
        std::fprintf(stderr, "hive workflow: run %s %s: %s\n", id.c_str(), status.c_str(),
                     text(run.at("error")).c_str());
      return status == "succeeded" ? 0 : status == "failed" ? 1 : 3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto answer = httpRequest(url, "GET", "/api/v2/workflows/runs/" + id, "", key);
    if (!answer.ok() || answer->status >= 500) {
      // Hive restarting (a reload, an upgrade): the run goes on; so does the wait, a while.
      if (++unreachable > 120) {
        std::fprintf(stderr, "\nhive workflow: lost Hive for 30 s following run %s\n", id.c_str());
        return 2;
      }
      continue;
    }
    unreachable = 0;
    if (answer->status != 200) return refused(*answer);
    json::value read = parseBody(*answer);
    if (!read.is_object() || !read.as_object().contains("steps")) return refused(*answer);
    run = std::move(read);
  }
}

}  // namespace

WorkflowCommands::WorkflowCommands(CLI::App& app) {
  url_ = environment("HIVE_URL", "http://127.0.0.1:8080");
  apiKey_ = environment("HIVE_API_KEY", "");
  auto* workflow = app.add_subcommand("workflow", "Workflows of the workflow_engine plugin, over Hive's API");
  workflow->require_subcommand(1);
  apply_ = workflow->add_subcommand("apply", "Check FILE (YAML or .json) and register it as a new version");
  apply_->add_option("file", file_, "Workflow definition")->required();
  list_ = workflow->add_subcommand("list", "Registered workflows, latest versions");
  runs_ = workflow->add_subcommand("runs", "Runs, newest last");
  runs_->add_option("workflow", workflow_, "Only this workflow's");
  runs_->add_option("--status", status_, "running, succeeded, failed or cancelled");
  start_ = workflow->add_subcommand("start", "Start a run; prints its id");
  run_ = workflow->add_subcommand(
      "run", "Start a run and print its id; with --follow, show its progress and exit with its outcome");
  for (auto* command : {start_, run_}) {
    command->add_option("workflow", workflow_, "Workflow name")->required();
    command->add_option("-p,--param", params_, "NAME=VALUE (VALUE as JSON when it parses: 3, true, [\"a\"])");
    command->add_option("--version", version_, "Version to run (default: the latest)");
  }
  run_->add_flag("-f,--follow", follow_,
                 "Show the run's progress until it ends; exit 0 succeeded, 1 failed, 3 cancelled");
  for (auto* command : {apply_, list_, runs_, start_, run_}) {
    command->add_option("--url", url_, "Hive's API (env HIVE_URL)")->capture_default_str();
    command->add_option("--key", apiKey_, "API key (env HIVE_API_KEY)");
  }
}

std::optional<int> WorkflowCommands::run() const {
  if (apply_->parsed()) return applyCommand(file_, url_, apiKey_);
  if (list_->parsed()) return listCommand(url_, apiKey_);
  if (runs_->parsed()) return runsCommand(url_, apiKey_, workflow_, status_);
  if (start_->parsed()) return startCommand(url_, apiKey_, workflow_, params_, version_);
  if (run_->parsed()) return runCommand(url_, apiKey_, workflow_, params_, version_, follow_);
  return std::nullopt;
}

}  // namespace hive::tools
