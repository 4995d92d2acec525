#include "tools/cli/secrets_command.hpp"

#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <iterator>

#include "hive/services/http.hpp"
#include "tools/cli/route_call.hpp"

namespace hive::tools {
namespace {

constexpr const char* kVaultPlugin = "security_engine";

// Overwrites a string holding a value before it is freed.
void wipe(std::string& text) {
  volatile char* bytes = text.data();
  for (std::size_t i = 0; i < text.size(); ++i) bytes[i] = 0;
  text.clear();
}

// The value from stdin: typed at a terminal without echo (one line), or piped
// (everything; one trailing newline dropped, as `echo` adds it).
std::string readValue() {
  std::string value;
  if (::isatty(STDIN_FILENO)) {
    termios saved{};
    bool restore = ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (restore) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::cerr << "value (not echoed): " << std::flush;
    std::getline(std::cin, value);
    if (restore) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
    return value;
  }
  value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

}  // namespace

int secretsCommand(SecretsAction action, const SecretsOptions& options) {
  http::Request request = commandLineRequest();
  std::string routeId;
  std::string path = "/api/v2/secrets/" + options.name;
  switch (action) {
    case SecretsAction::kSet: {
      std::string value = readValue();
      if (value.empty()) {
        std::cerr << "hive secrets: no value on stdin\n";
        return 2;
      }
      routeId = "secrets.put";
      request.method = "PUT";
      request.body = "{\"value\":" + http::jsonQuote(value) + "}";
      wipe(value);
      break;
    }
    case SecretsAction::kList:
      routeId = "secrets.list";
      request.method = "GET";
      path = "/api/v2/secrets";
      break;
    case SecretsAction::kShow:
      routeId = "secrets.get";
      request.method = "GET";
      break;
    case SecretsAction::kDelete:
      routeId = "secrets.delete";
      request.method = "DELETE";
      break;
    case SecretsAction::kRotateKey:
      routeId = "secrets.rotate";
      request.method = "POST";
      path = "/api/v2/secrets/actions/rotate-key";
      break;
  }
  request.path = path;
  request.target = path;
  if (!options.name.empty()) request.params["name"] = options.name;
  auto response = callPluginRoute(options.configFiles, kVaultPlugin, routeId, std::move(request));
  if (int failed = failureExitCode("hive secrets", response)) return failed;
  if (action == SecretsAction::kDelete)
    std::cout << "deleted " << options.name << std::endl;
  else
    std::cout << response->body << std::endl;
  return 0;
}

}  // namespace hive::tools
