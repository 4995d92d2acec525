#include "host/semver.hpp"

#include <charconv>
#include <optional>
#include <utility>

namespace hive::host {
namespace {

bool isDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::optional<int> number(std::string_view s) {
  if (!isDigits(s) || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  int value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value;
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == separator) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

// ASCII only: std::isalnum would follow the C locale of whoever runs the kernel.
bool identifierCharacter(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// Dot-separated [0-9A-Za-z-]+ identifiers (semver 2.0 §9 and §10). Numeric
// prerelease identifiers may not have leading zeros; build identifiers may.
bool validIdentifiers(std::string_view s, bool numericWithoutLeadingZero) {
  for (auto part : split(s, '.')) {
    if (part.empty()) return false;
    for (char c : part)
      if (!identifierCharacter(c)) return false;
    if (numericWithoutLeadingZero && isDigits(part) && part.size() > 1 && part[0] == '0') return false;
  }
  return true;
}

bool isWildcard(std::string_view s) { return s == "x" || s == "X" || s == "*"; }

// Semver 2.0 §11: numeric identifiers compare numerically and sort before
// alphanumeric ones; a shorter list of equal leading identifiers sorts first.
int comparePrerelease(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  if (a.empty()) return 1;
  if (b.empty()) return -1;
  auto left = split(a, '.'), right = split(b, '.');
  for (std::size_t i = 0; i < left.size() && i < right.size(); ++i) {
    bool leftNumeric = isDigits(left[i]), rightNumeric = isDigits(right[i]);
    if (leftNumeric && rightNumeric) {
      if (left[i].size() != right[i].size()) return left[i].size() < right[i].size() ? -1 : 1;
      if (left[i] != right[i]) return left[i] < right[i] ? -1 : 1;
    } else if (leftNumeric != rightNumeric) {
      return leftNumeric ? -1 : 1;
    } else if (left[i] != right[i]) {
      return left[i] < right[i] ? -1 : 1;
    }
  }
  if (left.size() == right.size()) return 0;
  return left.size() < right.size() ? -1 : 1;
}

// A possibly partial version: "1", "1.2", "1.2.3", with x/X/* wildcards.
struct Partial {
  int parts = 0;  // how many of major/minor/patch are given
  Version version;
};

std::optional<Partial> parsePartial(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string_view core = text;
  std::string prerelease;
  if (auto plus = core.find('+'); plus != std::string_view::npos) {
    if (!validIdentifiers(core.substr(plus + 1), false)) return std::nullopt;
    core = core.substr(0, plus);
  }
  if (auto dash = core.find('-'); dash != std::string_view::npos) {
    prerelease = std::string(core.substr(dash + 1));
    core = core.substr(0, dash);
    if (!validIdentifiers(prerelease, true)) return std::nullopt;
  }
  auto pieces = split(core, '.');
  if (pieces.size() > 3) return std::nullopt;
  Partial p;
  int* fields[] = {&p.version.major, &p.version.minor, &p.version.patch};
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (isWildcard(pieces[i])) {
      for (std::size_t j = i + 1; j < pieces.size(); ++j)
        if (!isWildcard(pieces[j])) return std::nullopt;
      break;
    }
    auto n = number(pieces[i]);
    if (!n) return std::nullopt;
    *fields[i] = *n;
    ++p.parts;
  }
  if (!prerelease.empty() && p.parts < 3) return std::nullopt;
  p.version.prerelease = prerelease;
  return p;
}

Version bumped(const Version& v, int part) {
  if (part == 0) return {v.major + 1, 0, 0, "0"};
  if (part == 1) return {v.major, v.minor + 1, 0, "0"};
  return {v.major, v.minor, v.patch + 1, "0"};
}

}  // namespace

Result<Version> Version::parse(std::string_view text) {
  // parts == 3 also rules out wildcards: parsing stops counting at the first one.
  auto partial = parsePartial(text);
  if (!partial || partial->parts != 3)
    return invalidArgument("'" + std::string(text) + "' is not a version (MAJOR.MINOR.PATCH)");
  return partial->version;
}

std::string Version::toString() const {
  std::string out = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  if (!prerelease.empty()) out += "-" + prerelease;
  return out;
}

bool operator<(const Version& a, const Version& b) {
  if (a.major != b.major) return a.major < b.major;
  if (a.minor != b.minor) return a.minor < b.minor;
  if (a.patch != b.patch) return a.patch < b.patch;
  return comparePrerelease(a.prerelease, b.prerelease) < 0;
}

Result<VersionRange> VersionRange::parse(std::string_view text) {
  VersionRange range;
  range.text_ = std::string(text);
  auto bad = [&](std::string_view token, const std::string& why) {
    return invalidArgument("bad version range '" + std::string(text) + "': '" + std::string(token) + "' " +
                           why);
  };
  bool any = false;
  for (auto token : split(text, ' ')) {
    if (token.empty()) continue;
    any = true;
    if (token == "*" || token == "x" || token == "X") continue;
    std::string_view op;
    for (std::string_view candidate : {">=", "<=", ">", "<", "=", "^", "~"})
      if (token.substr(0, candidate.size()) == candidate) {
        op = candidate;
        break;
      }
    std::string_view rest = token.substr(op.size());
    auto partial = parsePartial(rest);
    if (!partial) return bad(rest.empty() ? token : rest, "is not a version");
    const Version& v = partial->version;
    // Bounds computed from the text (the "-0" upper bounds) name no prerelease of
    // their own; only versions the author wrote can let prereleases in.
    auto add = [&](Op o, Version w, bool written) {
      bool namesPrerelease = written && !w.prerelease.empty();
      range.comparators_.push_back({o, std::move(w), namesPrerelease});
    };
    if ((op == "^" || op == "~") && partial->parts == 0) continue;  // "^*" and "~*" are "*", as in npm
    if (op == "^") {
      // The left-most non-zero part may not change.
      int fixed = v.major != 0 || partial->parts == 1 ? 0 : (v.minor != 0 || partial->parts == 2 ? 1 : 2);
      add(Op::kGe, v, true);
      add(Op::kLt, bumped(v, fixed), false);
    } else if (op == "~") {
      add(Op::kGe, v, true);
      add(Op::kLt, bumped(v, partial->parts >= 2 ? 1 : 0), false);
    } else if (partial->parts < 3) {
      // A partial version is a wildcard in its missing parts.
      if (op.empty() || op == "=") {
        if (partial->parts == 0) continue;
        add(Op::kGe, v, false);
        add(Op::kLt, bumped(v, partial->parts - 1), false);
      } else if (op == ">=") {
        add(Op::kGe, v, false);
      } else if (op == "<") {
        add(Op::kLt, {v.major, v.minor, v.patch, "0"}, false);
      } else if (op == ">") {
        if (partial->parts == 0) return bad(token, "matches nothing");
        add(Op::kGe, bumped(v, partial->parts - 1), false);
      } else {  // "<="
        if (partial->parts == 0) continue;
        add(Op::kLt, bumped(v, partial->parts - 1), false);
      }
    } else {
      Op o = op == ">="   ? Op::kGe
             : op == ">"  ? Op::kGt
             : op == "<"  ? Op::kLt
             : op == "<=" ? Op::kLe
                          : Op::kEq;
      add(o, v, true);
    }
  }
  if (!any) return invalidArgument("bad version range '" + std::string(text) + "': empty");
  return range;
}

bool VersionRange::contains(const Version& version) const {
  for (const auto& c : comparators_) {
    bool holds = false;
    switch (c.op) {
      case Op::kEq: holds = version == c.version; break;
      case Op::kGt: holds = version > c.version; break;
      case Op::kGe: holds = version >= c.version; break;
      case Op::kLt: holds = version < c.version; break;
      case Op::kLe: holds = version <= c.version; break;
    }
    if (!holds) return false;
  }
  // As npm does: a prerelease only matches a range that names a prerelease
  // of the same MAJOR.MINOR.PATCH.
  if (!version.prerelease.empty()) {
    for (const auto& c : comparators_)
      if (c.namesPrerelease && c.version.major == version.major && c.version.minor == version.minor &&
          c.version.patch == version.patch)
        return true;
    return false;
  }
  return true;
}

}  // namespace hive::host
