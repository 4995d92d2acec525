// The sd_notify(3) datagrams Hive sends under systemd (Type=notify), received
// on a real Unix datagram socket named by $NOTIFY_SOCKET.
#include "host/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace hive::host {
namespace {

class NotifySocket {
 public:
  // A path socket, or an abstract one (systemd may hand either) when `abstract`.
  explicit NotifySocket(bool abstract) {
    name_ = abstract
                ? "@hive-notify-test-" + std::to_string(::getpid())
                : (std::filesystem::temp_directory_path() / ("hive-notify-" + std::to_string(::getpid())))
                      .string();
    if (!abstract) std::filesystem::remove(name_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name_.data(), name_.size());
    if (abstract) address.sun_path[0] = '\0';
    auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size), 0) << std::strerror(errno);
    timeval second{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
    ::setenv("NOTIFY_SOCKET", name_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    if (name_[0] == '/') std::filesystem::remove(name_);
  }
  std::string receive() {
    char buffer[512];
    ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    return got < 0 ? "" : std::string(buffer, static_cast<std::size_t>(got));
  }

 private:
  std::string name_;
  int fd_ = -1;
};

TEST(SystemdNotifyTest, SendsTheStateToAPathSocket) {
  NotifySocket socket(false);
  EXPECT_TRUE(notifyServiceManager("READY=1\nSTATUS=6 plugins started"));
  EXPECT_EQ(socket.receive(), "READY=1\nSTATUS=6 plugins started");
}

TEST(SystemdNotifyTest, SendsTheStateToAnAbstractSocket) {
  NotifySocket socket(true);
  EXPECT_TRUE(notifyServiceManager("STOPPING=1"));
  EXPECT_EQ(socket.receive(), "STOPPING=1");
}

TEST(SystemdNotifyTest, ReloadingCarriesTheMonotonicTime) {
  NotifySocket socket(false);
  timespec before{};
  ::clock_gettime(CLOCK_MONOTONIC, &before);
  EXPECT_TRUE(notifyReloading());
  std::string got = socket.receive();
  ASSERT_EQ(got.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << got;
  auto usec = std::stoull(got.substr(std::strlen("RELOADING=1\nMONOTONIC_USEC=")));
  EXPECT_GE(usec, static_cast<unsigned long long>(before.tv_sec) * 1000000ULL);
}

TEST(SystemdNotifyTest, DoesNothingOutsideSystemdOrWithABadName) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(notifyServiceManager("READY=1"));
  ::setenv("NOTIFY_SOCKET", "relative/name", 1);
  EXPECT_FALSE(notifyServiceManager("READY=1"));
  ::setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);
  EXPECT_FALSE(notifyServiceManager("READY=1"));
  ::setenv("NOTIFY_SOCKET", "/nonexistent/hive-notify", 1);
  EXPECT_FALSE(notifyServiceManager("READY=1"));
  ::unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace hive::host
