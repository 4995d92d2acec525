#include "work_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace hive::task_execution_engine {
namespace {

constexpr mode_t kPrivilegeBits = S_ISUID | S_ISGID;

class Descriptor {
 public:
  explicit Descriptor(int fd = -1) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) close(fd_);
  }
  Descriptor(Descriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Descriptor& operator=(Descriptor&&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Descriptor openDirectory(int parent, const char* name) {
  return Descriptor(openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
}

Status systemError(const std::string& what, int error) {
  return unavailable(what + ": " + std::strerror(error));
}

// Names in the directory `fd` (not "." or ".."). Read at once so that the
// visitor may change the directory while we go through them.
Result<std::vector<std::string>> listDirectory(int fd, const std::string& where) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return systemError(where, errno);
  DIR* directory = fdopendir(copy);
  if (directory == nullptr) {
    int error = errno;
    close(copy);
    return systemError(where, error);
  }
  // The copy shares its offset with `fd`, which an earlier listing left at the end.
  rewinddir(directory);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* entry = readdir(directory)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
      names.emplace_back(entry->d_name);
    errno = 0;
  }
  int error = errno;
  closedir(directory);
  if (error != 0) return systemError(where, error);
  return names;
}

bool vanished(int error) { return error == ENOENT || error == ENOTDIR || error == ELOOP; }

// What a walk does with each entry. `directory` and `name` name the entry;
// `info` is its lstat.
struct Visitor {
  // Before descending into a directory; false: do not descend.
  std::function<Status(int directory, const char* name, const struct stat& info)> enter;
  // Every entry that is not a directory.
  std::function<Status(int directory, const char* name, const struct stat& info)> leaf;
  // After a directory's contents were visited.
  std::function<Status(int directory, const char* name, const struct stat& info)> leave;
  // A directory kMaxDepth levels down, which the walk does not enter.
  std::function<Status(int directory, const char* name)> tooDeep;
  const std::atomic<bool>* stop = nullptr;
};

Status walk(int fd, const std::string& where, int depth, const Visitor& visitor) {
  auto names = HIVE_TRY(listDirectory(fd, where));
  for (const std::string& name : names) {
    if (visitor.stop != nullptr && visitor.stop->load()) return aborted("stopped");
    struct stat info {};
    if (fstatat(fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
      if (vanished(errno)) continue;
      return systemError(where + "/" + name, errno);
    }
    if (!S_ISDIR(info.st_mode)) {
      if (visitor.leaf) HIVE_TRY(visitor.leaf(fd, name.c_str(), info));
      continue;
    }
    if (visitor.enter) HIVE_TRY(visitor.enter(fd, name.c_str(), info));
    if (depth >= kMaxDepth) {
      // One descriptor per level: this directory is one level too many.
      if (visitor.tooDeep) HIVE_TRY(visitor.tooDeep(fd, name.c_str()));
      continue;
    }
    Descriptor child = openDirectory(fd, name.c_str());
    if (child.get() < 0) {
      if (vanished(errno)) continue;
      return systemError(where + "/" + name, errno);
    }
    HIVE_TRY(walk(child.get(), where + "/" + name, depth + 1, visitor));
    if (visitor.leave) HIVE_TRY(visitor.leave(fd, name.c_str(), info));
  }
  return okStatus();
}

// Opens `root` itself as a directory, refusing a symlink.
Result<Descriptor> openRoot(const std::string& root) {
  Descriptor fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return systemError(root, errno);
  return fd;
}

// Clears the privilege bits of the entry, opened without following a symlink.
Status clearBits(int directory, const char* name, const std::string& where, SweepReport& report) {
  int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  Descriptor fd(openat(directory, name, flags));
  struct stat info {};
  if (fd.get() >= 0 && fstat(fd.get(), &info) == 0 && (S_ISREG(info.st_mode) || S_ISDIR(info.st_mode)) &&
      (S_ISDIR(info.st_mode) || info.st_nlink == 1)) {
    if (fchmod(fd.get(), info.st_mode & 07777 & ~kPrivilegeBits) != 0) return systemError(where, errno);
    ++report.privilegeBitsCleared;
    return okStatus();
  }
  if (fd.get() < 0 && vanished(errno)) return okStatus();
  // Linked elsewhere too (changing the mode would change the other name's
  // file), unreadable, or not what it was a moment ago: take it away.
  if (unlinkat(directory, name, 0) != 0 && !vanished(errno)) return systemError(where, errno);
  ++report.removed;
  return okStatus();
}

}  // namespace

Result<SweepReport> sweepPrivileges(const std::string& root) {
  Descriptor top = HIVE_TRY(openRoot(root));
  SweepReport report;
  struct stat info {};
  if (fstat(top.get(), &info) != 0) return systemError(root, errno);
  if ((info.st_mode & kPrivilegeBits) != 0) {
    if (fchmod(top.get(), info.st_mode & 07777 & ~kPrivilegeBits) != 0) return systemError(root, errno);
    ++report.privilegeBitsCleared;
  }
  std::uint64_t serial = 0;
  Visitor visitor;
  visitor.leaf = [&](int directory, const char* name, const struct stat& entry) -> Status {
    if (S_ISCHR(entry.st_mode) || S_ISBLK(entry.st_mode)) {
      if (unlinkat(directory, name, 0) != 0 && !vanished(errno))
        return systemError(root + ": " + name, errno);
      ++report.removed;
      return okStatus();
    }
    if (S_ISREG(entry.st_mode) && (entry.st_mode & kPrivilegeBits) != 0)
      return clearBits(directory, name, root + ": " + name, report);
    return okStatus();
  };
  visitor.enter = [&](int directory, const char* name, const struct stat& entry) -> Status {
    if ((entry.st_mode & kPrivilegeBits) != 0) return clearBits(directory, name, root + ": " + name, report);
    return okStatus();
  };
  visitor.tooDeep = [&](int directory, const char* name) -> Status {
    std::string flat;
    do {
      flat = ".hive-deep-" + std::to_string(++serial);
    } while (faccessat(top.get(), flat.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0);
    if (renameat(directory, name, top.get(), flat.c_str()) != 0 && !vanished(errno))
      return systemError(root + ": flattening a deep tree", errno);
    ++report.flattened;
    return okStatus();
  };
  // Flattened directories land at the top and are swept by the next round;
  // each round moves them up by kMaxDepth levels, so this ends.
  std::uint64_t flattened = 0;
  do {
    flattened = report.flattened;
    HIVE_TRY(walk(top.get(), root, 1, visitor));
  } while (report.flattened != flattened);
  return report;
}

DiskUsage measureDiskUsage(const std::string& root) {
  DiskUsage usage;
  auto top = openRoot(root);
  if (!top.ok()) return usage;
  std::set<std::pair<dev_t, ino_t>> linked;
  auto count = [&](const struct stat& info) {
    if (info.st_nlink > 1 && !S_ISDIR(info.st_mode) && !linked.insert({info.st_dev, info.st_ino}).second)
      return;
    usage.bytes += static_cast<std::uint64_t>(info.st_blocks) * 512;
  };
  Visitor visitor;
  visitor.leaf = [&](int, const char*, const struct stat& info) {
    count(info);
    return okStatus();
  };
  visitor.enter = visitor.leaf;
  visitor.tooDeep = [&](int, const char*) {
    usage.tooDeep = true;
    return okStatus();
  };
  (void)walk(top->get(), root, 1, visitor);  // vanishing entries are skipped; a failure leaves a partial sum
  return usage;
}

Status changeOwner(const std::string& root, uid_t uid, gid_t gid) {
  Descriptor top = HIVE_TRY(openRoot(root));
  if (fchown(top.get(), uid, gid) != 0) return systemError(root, errno);
  auto own = [&](int directory, const char* name, const struct stat& info) -> Status {
    if (info.st_uid == uid && info.st_gid == gid) return okStatus();
    if (fchownat(directory, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && !vanished(errno))
      return systemError(root + ": " + name, errno);
    return okStatus();
  };
  Visitor visitor;
  visitor.leaf = own;
  visitor.enter = own;
  visitor.tooDeep = [&](int, const char* name) {
    return failedPrecondition(root + ": deeper than " + std::to_string(kMaxDepth) + " levels at " + name);
  };
  return walk(top.get(), root, 1, visitor);
}

Status removeTree(const std::string& root, const std::atomic<bool>* stop) {
  struct stat info {};
  if (lstat(root.c_str(), &info) != 0) return vanished(errno) ? okStatus() : systemError(root, errno);
  if (!S_ISDIR(info.st_mode)) {
    if (unlink(root.c_str()) != 0 && !vanished(errno)) return systemError(root, errno);
    return okStatus();
  }
  // A tree deeper than the walk can hold is flattened first.
  HIVE_TRY(sweepPrivileges(root));
  Descriptor top = HIVE_TRY(openRoot(root));
  Visitor visitor;
  visitor.stop = stop;
  visitor.leaf = [&](int directory, const char* name, const struct stat&) -> Status {
    if (unlinkat(directory, name, 0) != 0 && !vanished(errno)) return systemError(root + ": " + name, errno);
    return okStatus();
  };
  visitor.enter = [&](int directory, const char* name, const struct stat& entry) -> Status {
    // A directory the job made unwritable to itself is still Hive's to empty.
    // Root needs no mode bits; only a non-root Hive (whose uid the job ran
    // as, so it gains nothing if a symlink is swapped in here) changes them.
    if (geteuid() != 0 && (entry.st_mode & S_IRWXU) != S_IRWXU)
      fchmodat(directory, name, (entry.st_mode & 07777) | S_IRWXU, 0);
    return okStatus();
  };
  visitor.leave = [&](int directory, const char* name, const struct stat&) -> Status {
    if (unlinkat(directory, name, AT_REMOVEDIR) != 0 && !vanished(errno))
      return systemError(root + ": " + name, errno);
    return okStatus();
  };
  visitor.tooDeep = [&](int, const char* name) {
    return failedPrecondition(root + ": deeper than " + std::to_string(kMaxDepth) + " levels at " + name);
  };
  HIVE_TRY(walk(top.get(), root, 1, visitor));
  if (rmdir(root.c_str()) != 0 && !vanished(errno)) return systemError(root, errno);
  return okStatus();
}

}  // namespace hive::task_execution_engine
