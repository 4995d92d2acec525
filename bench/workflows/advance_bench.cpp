// bench_workflow_advance: the workflow engine's own CPU cost per step, with
// no store, bus or agent: what Engine::advanceJob does for each transition of
// a run (read the stored JSON, advance, write the JSON, build the ready
// steps' task bodies), on a fan-out of W steps between a start and an end,
// and a chain of N. Prints microseconds per step. Not run by ctest.
//
//   bench_workflow_advance [--fanout 10000] [--chain 1000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <boost/json.hpp>

#include "definition.hpp"
#include "run.hpp"

namespace json = boost::json;
using namespace hive::workflow_engine;

namespace {

Definition define(const json::value& document) {
  std::vector<hive::http::FieldError> errors;
  Limits limits;
  limits.maxSteps = 1'000'000;
  auto parsed = parseDefinition(document, limits, errors);
  if (!parsed.ok()) {
    std::fprintf(stderr, "definition refused: %s %s\n", errors.at(0).field.c_str(),
                 errors.at(0).message.c_str());
    std::exit(1);
  }
  return std::move(parsed).value();
}

json::object step(const std::string& name, const std::vector<std::string>& after, const std::string& from) {
  json::object out{
      {"name", name},
      {"task", json::object{{"type", "bench"},
                            {"capabilities", json::array{"shell"}},
                            {"payload", json::object{{"from", "${steps." + from + ".result}"}}}}}};
  if (!after.empty()) {
    json::array names;
    for (const auto& each : after) names.push_back(json::string(each));
    out["depends_on"] = std::move(names);
  }
  if (from.empty()) out["task"].as_object()["payload"] = json::object{{"n", 1}};
  return out;
}

struct Totals {
  std::size_t advances = 0;
  std::size_t bodies = 0;
};

// One engine transition: the stored run is read, advanced with `learnt`,
// written back; the ready steps' task bodies are built.
Progress transition(std::string& stored, const Definition& definition, const Learnt& learnt, Totals& totals) {
  Run run = Run::fromJson(stored).value();
  Progress progress = advance(run, definition, learnt, 1, Limits{});
  json::object scope;
  for (std::size_t index : progress.ready) {
    if (scope.empty()) scope = scopeOf(run);
    std::string body = taskBody(run, definition, index, scope, Limits{});
    totals.bodies += body.size() > 0;
  }
  stored = json::serialize(run.toJson());
  ++totals.advances;
  return progress;
}

// Drives a run to its end: every ready step is submitted (one transition for
// all of them, as a batch of answers would be), then each task finishes in
// its own transition (as task events arrive one by one).
double drive(const Definition& definition, Totals& totals) {
  auto start = std::chrono::steady_clock::now();
  std::string stored = json::serialize(Run::start("w1", definition, 1, {}, 0).toJson());
  Progress progress = transition(stored, definition, {}, totals);
  std::size_t task = 0;
  while (!progress.ready.empty()) {
    Learnt submitted;
    std::vector<std::string> tasks;
    for (std::size_t index : progress.ready) {
      tasks.push_back("t" + std::to_string(task++));
      submitted.submitted[unitKey(definition.steps[index].name)] = tasks.back();
    }
    transition(stored, definition, submitted, totals);
    progress = {};
    for (const std::string& id : tasks) {
      Learnt finished;
      finished.reports[id] = {id, "succeeded", json::object{{"ok", true}}, ""};
      Progress next = transition(stored, definition, finished, totals);
      progress.ready.insert(progress.ready.end(), next.ready.begin(), next.ready.end());
    }
  }
  if (Run::fromJson(stored).value().status != RunStatus::kSucceeded) {
    std::fprintf(stderr, "the run did not succeed\n");
    std::exit(1);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t fanout = 10000, chain = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--fanout") == 0) fanout = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--chain") == 0) chain = std::strtoull(argv[i + 1], nullptr, 10);
  }
  if (fanout > 0) {
    json::array steps{step("start", {}, "")};
    std::vector<std::string> middle;
    for (std::size_t i = 0; i < fanout; ++i) {
      middle.push_back("m" + std::to_string(i));
      steps.push_back(step(middle.back(), {"start"}, "start"));
    }
    steps.push_back(step("end", middle, "start"));
    Definition definition = define(json::object{{"name", "fan"}, {"steps", std::move(steps)}});
    Totals totals;
    double seconds = drive(definition, totals);
    std::printf("fan-out of %zu: %.2f s, %.1f us/step, %zu transitions, %.0f steps/s (engine CPU only)\n",
                fanout, seconds, seconds * 1e6 / (fanout + 2), totals.advances, (fanout + 2) / seconds);
  }
  if (chain > 0) {
    json::array steps{step("s0", {}, "")};
    for (std::size_t i = 1; i < chain; ++i)
      steps.push_back(
          step("s" + std::to_string(i), {"s" + std::to_string(i - 1)}, "s" + std::to_string(i - 1)));
    Definition definition = define(json::object{{"name", "chain"}, {"steps", std::move(steps)}});
    Totals totals;
    double seconds = drive(definition, totals);
    std::printf("chain of %zu: %.2f s, %.1f us/step, %zu transitions (engine CPU only)\n", chain, seconds,
                seconds * 1e6 / chain, totals.advances);
  }
  return 0;
}
