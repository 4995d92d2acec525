#include "host/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace hive::host {

// The protocol is one datagram on a Unix socket named by $NOTIFY_SOCKET (a
// path, or an abstract name written with a leading '@'); written out here
// rather than linking libsystemd for it.
bool notifyServiceManager(std::string_view state) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr || name[0] == '\0') return false;
  std::size_t length = std::strlen(name);
  sockaddr_un address{};
  if ((name[0] != '/' && name[0] != '@') || length >= sizeof(address.sun_path)) return false;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, name, length);
  if (name[0] == '@') address.sun_path[0] = '\0';
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                          reinterpret_cast<const sockaddr*>(&address), size);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

bool notifyReloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
              static_cast<unsigned long long>(now.tv_nsec) / 1000;
  return notifyServiceManager("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

}  // namespace hive::host
