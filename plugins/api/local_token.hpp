// The local token: what stands in for credentials while no hive.auth/1
// provider runs. The api writes it at start, 0600, to <data_dir>/api/local_token
// (kept across swaps and restarts, made anew when missing or unsafe), and the
// routes in its scope answer 401 without `Authorization: Bearer <token>`: so
// only the OS user that runs Hive (and root) may use them, not every user of
// the machine who can reach the loopback port. As Jupyter and the Docker
// socket do. `hive dashboard` prints a link that carries it.
#pragma once

#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::api {

enum class LocalTokenScope {
  kOff,     // every route open on loopback, as before
  kAdmin,   // routes whose permission is admin:* (plugins, reloads, config): the default
  kWrites,  // those, and every POST, PUT, PATCH and DELETE
};

class LocalToken {
 public:
  // Reads the token at `path` when it is a regular file of this user, not
  // readable by others, holding a well-formed token; else writes a new one
  // (`replaced` then says why the old one was not used, when there was one).
  static Result<LocalToken> open(const std::string& path, std::string* replaced = nullptr);

  // Whether a request with this method, for a route with this permission, needs it.
  static bool required(LocalTokenScope scope, std::string_view method, std::string_view permission);
  // Whether `authorization` is "Bearer <the token>" (compared in constant time).
  bool accepts(const std::string* authorization) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_, token_;
};

}  // namespace hive::api
