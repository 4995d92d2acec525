// `hive workflow apply|list|runs|start|run`: the workflow_engine's API from the
// command line (docs/workflows.md#the-cli). `apply` checks a YAML or JSON file
// before sending it and prints every problem as FILE:LINE:COL: message.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace hive::tools {

class WorkflowCommands {
 public:
  // Adds the `workflow` subcommand and its own to `app`.
  explicit WorkflowCommands(CLI::App& app);
  // After parsing: the exit code of the workflow command given, if one was.
  std::optional<int> run() const;

 private:
  CLI::App* apply_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* runs_ = nullptr;
  CLI::App* start_ = nullptr;
  CLI::App* run_ = nullptr;
  std::string url_;
  std::string apiKey_;
  std::string file_;
  std::string workflow_;
  std::string status_;
  std::vector<std::string> params_;
  long long version_ = 0;
  bool follow_ = false;
};

}  // namespace hive::tools
