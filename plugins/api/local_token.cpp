#include "local_token.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/crypto.h>

#include "plugin_common/hex.hpp"

namespace hive::api {
namespace {

constexpr std::size_t kTokenBytes = 32;  // 64 hex digits

bool wellFormed(std::string_view token) {
  if (token.size() != 2 * kTokenBytes) return false;
  for (char c : token)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string errnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// The token in `path` when the file is safe to trust; empty (and why in
// `reason`) otherwise.
std::string readExisting(const std::string& path, std::string& reason) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) reason = errnoText("cannot read", path);
    return {};
  }
  struct stat info {};
  std::string token;
  if (::fstat(fd, &info) != 0) {
    reason = errnoText("cannot stat", path);
  } else if (!S_ISREG(info.st_mode) || info.st_uid != ::geteuid()) {
    reason = path + " is not a regular file of this user";
  } else if ((info.st_mode & 077) != 0) {
    reason = path + " was readable or writable by others";
  } else {
    char buffer[2 * kTokenBytes + 2];
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    std::string_view text(buffer, got > 0 ? static_cast<std::size_t>(got) : 0);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (wellFormed(text))
      token = std::string(text);
    else
      reason = path + " did not hold a token";
  }
  ::close(fd);
  return token;
}

Result<std::string> newToken() {
  unsigned char bytes[kTokenBytes];
  for (std::size_t got = 0; got < sizeof bytes;) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return internalError(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  return plugin_common::hexOf({reinterpret_cast<const char*>(bytes), sizeof bytes});
}

// Written to a new 0600 file, then renamed over `path`: a reader never sees half a token.
Status writeToken(const std::string& path, const std::string& token) {
  const std::string temporary = path + ".tmp";
  ::unlink(temporary.c_str());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable(errnoText("cannot create", temporary));
  const std::string line = token + "\n";
  bool written =
      ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    Status failed = unavailable(errnoText("cannot write", path));
    ::unlink(temporary.c_str());
    return failed;
  }
  return okStatus();
}

}  // namespace

Result<LocalToken> LocalToken::open(const std::string& path, std::string* replaced) {
  LocalToken local;
  local.path_ = path;
  std::string reason;
  local.token_ = readExisting(path, reason);
  if (!local.token_.empty()) return local;
  if (replaced != nullptr) *replaced = reason;
  local.token_ = HIVE_TRY(newToken());
  HIVE_TRY(writeToken(path, local.token_));
  return local;
}

bool LocalToken::required(LocalTokenScope scope, std::string_view method, std::string_view permission) {
  if (scope == LocalTokenScope::kOff || permission.empty()) return false;
  if (permission.starts_with("admin:")) return true;
  return scope == LocalTokenScope::kWrites &&
         (method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE");
}

bool LocalToken::accepts(const std::string* authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization == nullptr || token_.empty() || authorization->size() != kScheme.size() + token_.size() ||
      !authorization->starts_with(kScheme))
    return false;
  return ::CRYPTO_memcmp(authorization->data() + kScheme.size(), token_.data(), token_.size()) == 0;
}

}  // namespace hive::api
