// hive.auth/1 — who is calling, and may they? Provided by security_manager; the
// `api` plugin calls it for every route that names a permission.
#pragma once

#include <string>
#include <string_view>

#include "hive/services.hpp"
#include "hive/services/http.hpp"

namespace hive::auth {

struct Decision {
  bool allowed = false;
  std::string principal;  // who the caller is, when known
  // When refused: kUnauthenticated (401: no or bad credentials) or
  // kPermissionDenied (403: known caller, not allowed).
  StatusCode code = StatusCode::kUnauthenticated;
  std::string reason;  // safe to show to the caller
};

class Authenticator : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.auth", 1};

  // Must not block for long: it runs on an I/O thread for every request.
  // `permission` is empty for public routes (the provider may still name the caller).
  virtual Decision authorize(const http::Request& request, std::string_view permission) = 0;
};

}  // namespace hive::auth
