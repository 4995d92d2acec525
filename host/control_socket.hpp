// The kernel's control channel: a Unix stream socket (mode 0600) that works
// whatever plugins are loaded, so an operator can act when the API plugin is
// down. One request per connection: a command line in, a reply out.
//
// Reply format: a first line "ok" or "error: <reason>", then the body.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "hive/log.hpp"
#include "hive/status.hpp"

namespace hive::host {

class PluginHost;
class ReloadController;

class ControlServer {
 public:
  // `handle` runs on the server's thread, one request at a time; it returns the
  // whole reply.
  using Handler = std::function<std::string(const std::string& command)>;

  ControlServer(std::string path, Handler handle, Logger& log);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds (replacing a stale socket file, refusing a live one) and serves.
  Status start();
  void stop();
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The control language: one command line in, the whole reply out.
//   ping
//   plugins status | plugins list   one JSON object a line: each plugin, then
//                                   each replaced generation not yet unmapped
//   plugins reload NAME             swap NAME to the best file of its range
//   plugins rescan                  swap every plugin whose best file changed
//   config reload                   re-read and apply the config file
std::string controlCommand(PluginHost& host, ReloadController& reloads, const std::string& line);

// Sends one command to a running kernel and returns its reply.
Result<std::string> sendControlCommand(const std::string& path, const std::string& command);

}  // namespace hive::host
