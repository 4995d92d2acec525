// Semantic versions (semver 2.0) and the version ranges plugins and the config
// use to name acceptable versions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hive/status.hpp"

namespace hive::host {

struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string prerelease;  // "" for a release; build metadata is dropped

  // MAJOR.MINOR.PATCH[-prerelease][+build], strictly.
  static Result<Version> parse(std::string_view text);
  std::string toString() const;

  // Semver precedence: a prerelease sorts before its release.
  friend bool operator==(const Version& a, const Version& b) = default;
  friend bool operator<(const Version& a, const Version& b);
  friend bool operator<=(const Version& a, const Version& b) { return !(b < a); }
  friend bool operator>(const Version& a, const Version& b) { return b < a; }
  friend bool operator>=(const Version& a, const Version& b) { return !(a < b); }
};

// "*", "1.2.3", "=1.2.3", ">=1.2.0 <2.0.0", "^1.2", "~1.2.3", "1.x", "1.2", ...
class VersionRange {
 public:
  static Result<VersionRange> parse(std::string_view text);
  bool contains(const Version& version) const;
  const std::string& text() const { return text_; }

 private:
  enum class Op { kEq, kGt, kGe, kLt, kLe };
  struct Comparator {
    Op op;
    Version version;
    bool namesPrerelease;  // written with a prerelease: admits prereleases of its MAJOR.MINOR.PATCH
  };
  std::string text_;
  std::vector<Comparator> comparators_;  // all must hold; empty = any version
};

}  // namespace hive::host
