// hive: the command line. `hive run` is the kernel (host/kernel_process.hpp);
// every other command is a tool built on it, each in its own file here or in
// tools/<group>/.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/backup/store_backup.hpp"
#include "tools/cli/auth_command.hpp"
#include "tools/cli/kernel_commands.hpp"
#include "tools/cli/plugin_signing.hpp"
#include "tools/cli/scaffold.hpp"
#include "tools/cli/secrets_command.hpp"
#include "tools/config/migrate.hpp"
#include "tools/workflow/workflow_command.hpp"

namespace {

using namespace hive;
using namespace hive::tools;

const ConfigFiles kDefaultConfig{"config/base.yaml"};

// The subcommands of the CLI, each with what runs when it was the one parsed.
using Commands = std::vector<std::pair<CLI::App*, std::function<int()>>>;

// -c FILE, repeatable: later files override earlier ones key by key.
void addConfigOption(CLI::App* command, ConfigFiles& files, const std::string& what) {
  command->add_option("-c,--config", files, what + " (repeat -c to layer files: later ones override)")
      ->allow_extra_args(false)
      ->capture_default_str();
}

// hive run, hive check-config.
void addRunCommands(CLI::App& app, Commands& commands) {
  auto run = std::make_shared<RunOptions>();
  run->configFiles = kDefaultConfig;
  auto* runCmd = app.add_subcommand("run", "Run Hive with a configuration file");
  addConfigOption(runCmd, run->configFiles, "Configuration file");
  runCmd->add_option("--log-format", run->logFormat, "Override the log format")
      ->check(CLI::IsMember({"text", "json"}));
  runCmd->add_option("--log-level", run->logLevel, "Override the default log level");
  commands.emplace_back(runCmd, [run] { return runCommand(*run); });

  auto checkFiles = std::make_shared<ConfigFiles>(kDefaultConfig);
  auto* checkCmd =
      app.add_subcommand("check-config", "Validate a configuration file and every plugin section");
  addConfigOption(checkCmd, *checkFiles, "Configuration file");
  commands.emplace_back(checkCmd, [checkFiles] { return checkConfigCommand(*checkFiles); });
}

// hive plugins list|status|reload|rescan, hive config reload|show|migrate.
void addControlCommands(CLI::App& app, Commands& commands) {
  auto* pluginsCmd = app.add_subcommand("plugins", "Inspect plugins");
  pluginsCmd->require_subcommand(1);
  struct List {
    std::vector<std::string> directories;
    ConfigFiles config = kDefaultConfig;
  };
  auto list = std::make_shared<List>();
  auto* listCmd = pluginsCmd->add_subcommand("list", "List plugin files and their manifests; starts nothing");
  listCmd->add_option("--dir", list->directories,
                      "Plugin directory (repeatable); default: those of the config");
  addConfigOption(listCmd, list->config, "Configuration file");
  commands.emplace_back(listCmd, [list] { return pluginsListCommand(list->directories, list->config); });

  struct Control {
    ConfigFiles config = kDefaultConfig;
    std::string socket, reloadName;
  };
  auto control = std::make_shared<Control>();
  auto addControl = [&](CLI::App* command, std::function<std::string()> request) {
    addConfigOption(command, control->config, "Configuration file naming the control socket");
    command->add_option("--socket", control->socket, "Control socket path (instead of the config's)");
    commands.emplace_back(
        command, [control, request] { return controlCommand(control->config, control->socket, request()); });
  };
  addControl(pluginsCmd->add_subcommand("status", "State of each plugin in the running hive (JSON lines)"),
             [] { return std::string("plugins status"); });
  auto* reloadCmd = pluginsCmd->add_subcommand("reload", "Hot-swap a plugin in the running hive");
  reloadCmd->add_option("name", control->reloadName, "Plugin name")->required();
  addControl(reloadCmd, [control] { return "plugins reload " + control->reloadName; });
  addControl(pluginsCmd->add_subcommand("rescan", "Swap every plugin whose file changed"),
             [] { return std::string("plugins rescan"); });

  auto* configCmd =
      app.add_subcommand("config", "Configuration: reload the running hive's, show or migrate files");
  configCmd->require_subcommand(1);
  addControl(configCmd->add_subcommand("reload", "Re-read, validate and apply the config file"),
             [] { return std::string("config reload"); });
  auto showFiles = std::make_shared<ConfigFiles>(kDefaultConfig);
  auto* configShowCmd = configCmd->add_subcommand(
      "show", "Print the merged configuration, each value with the file:line:col it came from");
  addConfigOption(configShowCmd, *showFiles, "Configuration file");
  commands.emplace_back(configShowCmd, [showFiles] { return configShowCommand(*showFiles); });
  auto dashboardFiles = std::make_shared<ConfigFiles>(kDefaultConfig);
  auto* dashboardCmd = app.add_subcommand(
      "dashboard", "Print the link to the running hive's dashboard, with the api's local token");
  addConfigOption(dashboardCmd, *dashboardFiles, "Configuration file of the running hive");
  commands.emplace_back(dashboardCmd, [dashboardFiles] { return dashboardCommand(*dashboardFiles); });
  auto migrate = std::make_shared<tools::MigrateOptions>();
  auto* configMigrateCmd = configCmd->add_subcommand(
      "migrate", "Rewrite a config file written for an older config version (a backup FILE.v<N>.bak first)");
  configMigrateCmd->add_option("file", migrate->file, "Config file to rewrite")->required();
  configMigrateCmd->add_flag("--rollback", migrate->rollback, "Restore FILE from its newest backup");
  configMigrateCmd->add_flag("--dry-run", migrate->dryRun, "Print the migrated file; write nothing");
  commands.emplace_back(configMigrateCmd, [migrate] { return tools::migrateCommand(*migrate); });
}

// hive plugin new|keygen|sign, hive version.
void addDevelopmentCommands(CLI::App& app, Commands& commands) {
  auto* pluginCmd = app.add_subcommand("plugin", "Plugin development");
  pluginCmd->require_subcommand(1);
  struct Development {
    std::string newName, newDirectory, keygenPath, signKey;
    std::vector<std::string> signPlugins;
  };
  auto d = std::make_shared<Development>();
  auto* newCmd = pluginCmd->add_subcommand("new", "Write an out-of-tree plugin skeleton");
  newCmd->add_option("name", d->newName, "Plugin name ([a-z][a-z0-9_]*)")->required();
  newCmd->add_option("--dir", d->newDirectory, "Directory to create (default: ./NAME)");
  commands.emplace_back(newCmd, [d] {
    return newPluginCommand(d->newName, d->newDirectory.empty() ? d->newName : d->newDirectory);
  });
  auto* keygenCmd = pluginCmd->add_subcommand("keygen", "Write an ed25519 key pair to sign plugins with");
  keygenCmd
      ->add_option("out", d->keygenPath, "Secret key file to create (0600); the public key goes to OUT.pub")
      ->required();
  commands.emplace_back(keygenCmd, [d] { return keygenCommand(d->keygenPath); });
  auto* signCmd = pluginCmd->add_subcommand("sign", "Write PLUGIN.so.sig, a detached ed25519 signature");
  signCmd->add_option("--key", d->signKey, "Secret key file written by `hive plugin keygen`")->required();
  signCmd->add_option("plugins", d->signPlugins, "Plugin files")->required();
  commands.emplace_back(signCmd, [d] { return signCommand(d->signKey, d->signPlugins); });
  commands.emplace_back(app.add_subcommand("version", "Print versions"), [] { return versionCommand(); });
}

// hive backup, hive restore (tools/backup).
void addBackupCommands(CLI::App& app, Commands& commands) {
  auto backup = std::make_shared<tools::BackupOptions>();
  backup->configFiles = kDefaultConfig;
  auto* backupCmd = app.add_subcommand(
      "backup", "Copy the embedded store (storage_sqlite) to FILE, consistent while Hive runs and writes");
  addConfigOption(backupCmd, backup->configFiles, "Configuration file naming the store");
  backupCmd->add_option("file", backup->file, "Backup file to write")->required();
  backupCmd->add_flag("--force", backup->force, "Replace FILE if it exists");
  commands.emplace_back(backupCmd, [backup] { return tools::backupCommand(*backup); });
  auto* restoreCmd = app.add_subcommand(
      "restore", "Replace the embedded store with a backup (Hive must not be running on it)");
  addConfigOption(restoreCmd, backup->configFiles, "Configuration file naming the store");
  restoreCmd->add_option("file", backup->file, "Backup file written by hive backup")->required();
  commands.emplace_back(restoreCmd, [backup] { return tools::restoreCommand(*backup); });
}

// hive auth keys create|list|revoke, hive audit verify (tools/cli/auth_command.hpp;
// they work whether or not a hive runs).
void addAuthCommands(CLI::App& app, Commands& commands) {
  auto authKey = std::make_shared<AuthKeyOptions>();
  authKey->configFiles = kDefaultConfig;
  auto* authCmd = app.add_subcommand("auth", "API keys of the security_manager plugin");
  authCmd->require_subcommand(1);
  auto* keysCmd = authCmd->add_subcommand("keys", "Create, list and revoke API keys");
  keysCmd->require_subcommand(1);
  auto* keyCreateCmd = keysCmd->add_subcommand("create", "Create a key; prints it once, alone on its line");
  keyCreateCmd->add_option("--name", authKey->name, "What the key is for")->required();
  keyCreateCmd
      ->add_option("--role", authKey->role, "admin, operator, submitter, agent, viewer or a custom role")
      ->required();
  keyCreateCmd->add_option("--tenant", authKey->tenant, "Tenant the key acts for");
  keyCreateCmd->add_option("--project", authKey->project, "Project the key is scoped to");
  keyCreateCmd->add_option("--agent", authKey->agent, "Role agent: the agent name (default: --name)");
  keyCreateCmd->add_option("--expires", authKey->expires, "Lifetime: 3600s, 90m, 12h, 30d (default: never)");
  auto* keyListCmd = keysCmd->add_subcommand("list", "List keys (never their secrets)");
  auto* keyRevokeCmd = keysCmd->add_subcommand("revoke", "Revoke a key");
  keyRevokeCmd->add_option("id", authKey->id, "Key id (the hex between hive_ and the second _)")->required();
  auto* auditCmd = app.add_subcommand("audit", "The security_manager audit log");
  auditCmd->require_subcommand(1);
  auto* auditVerifyCmd =
      auditCmd->add_subcommand("verify", "Walk the audit hash chain; exit 1 where it breaks");
  for (auto [command, action] :
       {std::pair{keyCreateCmd, AuthKeyAction::kCreate}, std::pair{keyListCmd, AuthKeyAction::kList},
        std::pair{keyRevokeCmd, AuthKeyAction::kRevoke},
        std::pair{auditVerifyCmd, AuthKeyAction::kAuditVerify}}) {
    addConfigOption(command, authKey->configFiles, "Configuration file");
    commands.emplace_back(command, [authKey, action = action] { return authKeysCommand(action, *authKey); });
  }
}

// hive secrets set|show|delete|list|rotate-key (tools/cli/secrets_command.hpp: the security_engine vault).
void addSecretsCommands(CLI::App& app, Commands& commands) {
  auto secrets = std::make_shared<SecretsOptions>();
  secrets->configFiles = kDefaultConfig;
  auto* secretsCmd = app.add_subcommand("secrets", "Secrets of the security_engine vault");
  secretsCmd->require_subcommand(1);
  auto* secretSetCmd = secretsCmd->add_subcommand("set", "Set a secret to the value read from stdin");
  auto* secretShowCmd = secretsCmd->add_subcommand("show", "A secret's metadata (never its value)");
  auto* secretDeleteCmd = secretsCmd->add_subcommand("delete", "Delete a secret");
  for (auto* command : {secretSetCmd, secretShowCmd, secretDeleteCmd})
    command->add_option("name", secrets->name, "Secret name")->required();
  auto* secretListCmd = secretsCmd->add_subcommand("list", "Every secret's metadata (never a value)");
  auto* secretRotateCmd =
      secretsCmd->add_subcommand("rotate-key", "Re-encrypt every secret under the current master key");
  for (auto [command, action] :
       {std::pair{secretSetCmd, SecretsAction::kSet}, std::pair{secretShowCmd, SecretsAction::kShow},
        std::pair{secretDeleteCmd, SecretsAction::kDelete}, std::pair{secretListCmd, SecretsAction::kList},
        std::pair{secretRotateCmd, SecretsAction::kRotateKey}}) {
    addConfigOption(command, secrets->configFiles, "Configuration file");
    commands.emplace_back(command, [secrets, action = action] { return secretsCommand(action, *secrets); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hive: a multi-agent orchestration platform built as a plugin host"};
  app.require_subcommand(1);
  Commands commands;
  addRunCommands(app, commands);
  addControlCommands(app, commands);
  addDevelopmentCommands(app, commands);
  addBackupCommands(app, commands);
  addAuthCommands(app, commands);
  addSecretsCommands(app, commands);
  tools::WorkflowCommands workflowCommands(app);  // hive workflow ...: tools/workflow

  CLI11_PARSE(app, argc, argv);
  if (auto exitCode = workflowCommands.run()) return *exitCode;
  for (const auto& [command, run] : commands)
    if (command->parsed()) return run();
  return 0;
}
