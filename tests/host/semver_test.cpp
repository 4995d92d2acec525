// Semantic versions and version ranges: parsing, precedence, npm-style ranges.
#include "host/semver.hpp"

#include <gtest/gtest.h>

namespace hive::host {
namespace {

Version v(const char* text) {
  auto parsed = Version::parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().message();
  return parsed.ok() ? *parsed : Version{};
}

struct ParseCase {
  const char* text;
  int major;
  int minor;
  int patch;
  const char* prerelease;
  const char* canonical;  // toString()
};

// NOLINTNEXTLINE(readability-identifier-naming): gtest finds printers by this name.
void PrintTo(const ParseCase& c, std::ostream* out) { *out << "'" << c.text << "'"; }

class VersionParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(VersionParseTest, ParsesStrictSemver) {
  const auto& c = GetParam();
  auto parsed = Version::parse(c.text);
  ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status().message();
  EXPECT_EQ(parsed->major, c.major);
  EXPECT_EQ(parsed->minor, c.minor);
  EXPECT_EQ(parsed->patch, c.patch);
  EXPECT_EQ(parsed->prerelease, c.prerelease);
  EXPECT_EQ(parsed->toString(), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Valid, VersionParseTest,
    ::testing::Values(ParseCase{"1.2.3", 1, 2, 3, "", "1.2.3"}, ParseCase{"0.0.0", 0, 0, 0, "", "0.0.0"},
                      ParseCase{"10.20.30", 10, 20, 30, "", "10.20.30"},
                      ParseCase{"999999999.0.1", 999999999, 0, 1, "", "999999999.0.1"},
                      ParseCase{"1.2.3-rc.1", 1, 2, 3, "rc.1", "1.2.3-rc.1"},
                      ParseCase{"1.2.3-0", 1, 2, 3, "0", "1.2.3-0"},
                      ParseCase{"1.2.3-alpha-1", 1, 2, 3, "alpha-1", "1.2.3-alpha-1"},
                      ParseCase{"1.2.3--", 1, 2, 3, "-", "1.2.3--"},
                      // Wildcard letters are ordinary characters outside MAJOR.MINOR.PATCH.
                      ParseCase{"1.2.3-x.X", 1, 2, 3, "x.X", "1.2.3-x.X"},
                      // Build metadata is accepted and dropped.
                      ParseCase{"1.2.3+build.5", 1, 2, 3, "", "1.2.3"},
                      ParseCase{"1.2.3+001", 1, 2, 3, "", "1.2.3"},
                      ParseCase{"1.2.3-rc.1+build-x.7", 1, 2, 3, "rc.1", "1.2.3-rc.1"}));

class VersionRejectTest : public ::testing::TestWithParam<const char*> {};

TEST_P(VersionRejectTest, RejectsWithTheTextInTheMessage) {
  auto parsed = Version::parse(GetParam());
  ASSERT_FALSE(parsed.ok()) << GetParam();
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(),
            "'" + std::string(GetParam()) + "' is not a version (MAJOR.MINOR.PATCH)");
}

INSTANTIATE_TEST_SUITE_P(Invalid, VersionRejectTest,
                         ::testing::Values("", "1", "1.2", "v1.2.3", "V1.2.3", "=1.2.3", "1.2.3.4", "01.2.3",
                                           "1.02.3", "1.2.03", "1.2.x", "1.x.3", "*", "1..3", ".1.2", "1.2.",
                                           "-1.2.3", "1.-2.3", "1.2.3-", "1.2.3-a..b", "1.2.3-.a", "1.2.3-01",
                                           "1.2.3-rc.007", "1.2.3+", "1.2.3+a..b", "1.2.3-rc_1", "1.2.3-rc 1",
                                           " 1.2.3", "1.2.3 ", "a.b.c", "1.2.3-ä", "1000000000.0.0"));

TEST(VersionTest, OrdersBySemverPrecedence) {
  // The example chain of semver 2.0 §11, plus numeric parts that differ in width.
  const char* ordered[] = {"0.0.0",      "0.0.1",        "0.1.0",         "1.0.0-0",       "1.0.0-1",
                           "1.0.0-2",    "1.0.0-10",     "1.0.0-alpha",   "1.0.0-alpha.1", "1.0.0-alpha.beta",
                           "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",    "1.0.0",
                           "1.0.1",      "1.1.0",        "1.2.0",         "1.10.0",        "2.0.0-rc.1",
                           "2.0.0",      "10.0.0"};
  for (std::size_t i = 0; i < std::size(ordered); ++i) {
    for (std::size_t j = 0; j < std::size(ordered); ++j) {
      Version a = v(ordered[i]), b = v(ordered[j]);
      EXPECT_EQ(a < b, i < j) << ordered[i] << " < " << ordered[j];
      EXPECT_EQ(a == b, i == j) << ordered[i] << " == " << ordered[j];
      EXPECT_EQ(a <= b, i <= j) << ordered[i] << " <= " << ordered[j];
      EXPECT_EQ(a > b, i > j) << ordered[i] << " > " << ordered[j];
      EXPECT_EQ(a >= b, i >= j) << ordered[i] << " >= " << ordered[j];
    }
  }
}

TEST(VersionTest, BuildMetadataDoesNotTakePartInPrecedence) {
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0+b"));
  EXPECT_EQ(v("1.0.0-rc.1+a"), v("1.0.0-rc.1"));
  EXPECT_FALSE(v("1.0.0+b") < v("1.0.0+a"));
}

struct RangeCase {
  const char* range;
  const char* version;
  bool contained;
};

// NOLINTNEXTLINE(readability-identifier-naming): gtest finds printers by this name.
void PrintTo(const RangeCase& c, std::ostream* out) {
  *out << "'" << c.range << "' " << (c.contained ? "contains " : "excludes ") << c.version;
}

class VersionRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(VersionRangeTest, Contains) {
  const auto& c = GetParam();
  auto range = VersionRange::parse(c.range);
  ASSERT_TRUE(range.ok()) << c.range << ": " << range.status().message();
  EXPECT_EQ(range->contains(v(c.version)), c.contained) << c.range << " vs " << c.version;
  EXPECT_EQ(range->text(), c.range);
}

INSTANTIATE_TEST_SUITE_P(Any, VersionRangeTest,
                         ::testing::Values(RangeCase{"*", "0.0.0", true}, RangeCase{"*", "9.9.9", true},
                                           RangeCase{"x", "1.0.0", true}, RangeCase{"X", "1.0.0", true},
                                           RangeCase{"x.x.x", "3.4.5", true}, RangeCase{"^*", "7.0.0", true},
                                           RangeCase{"~*", "7.0.0", true}, RangeCase{">=*", "7.0.0", true},
                                           RangeCase{"<=*", "7.0.0", true}, RangeCase{"<*", "0.0.0", false}));

INSTANTIATE_TEST_SUITE_P(
    Comparisons, VersionRangeTest,
    ::testing::Values(RangeCase{"1.2.3", "1.2.3", true}, RangeCase{"1.2.3", "1.2.4", false},
                      RangeCase{"1.2.3", "1.2.2", false}, RangeCase{"=1.2.3", "1.2.3", true},
                      RangeCase{"=1.2.3", "1.2.4", false}, RangeCase{"1.2.3+build", "1.2.3", true},
                      RangeCase{">=1.2.0", "1.2.0", true}, RangeCase{">=1.2.0", "1.1.9", false},
                      RangeCase{">=1.2.0", "99.0.0", true}, RangeCase{">1.2.0", "1.2.0", false},
                      RangeCase{">1.2.0", "1.2.1", true}, RangeCase{"<2.0.0", "1.9.9", true},
                      RangeCase{"<2.0.0", "2.0.0", false}, RangeCase{"<=2.0.0", "2.0.0", true},
                      RangeCase{"<=2.0.0", "2.0.1", false}, RangeCase{">=1.2.0 <2.0.0", "1.5.0", true},
                      RangeCase{">=1.2.0 <2.0.0", "1.2.0", true}, RangeCase{">=1.2.0 <2.0.0", "2.0.0", false},
                      RangeCase{">=1.2.0 <2.0.0", "1.1.0", false},
                      RangeCase{"  >=1.2.0    <2.0.0 ", "1.5.0", true},
                      RangeCase{">1.0.0 <1.0.1", "1.0.0", false}, RangeCase{">=2.0.0 <1.0.0", "1.5.0", false},
                      RangeCase{">=1.0.0 ^1.5.0", "1.4.0", false},
                      RangeCase{">=1.0.0 ^1.5.0", "1.6.0", true}));

INSTANTIATE_TEST_SUITE_P(
    Caret, VersionRangeTest,
    ::testing::Values(RangeCase{"^1.2.3", "1.2.3", true}, RangeCase{"^1.2.3", "1.9.0", true},
                      RangeCase{"^1.2.3", "1.99.99", true}, RangeCase{"^1.2.3", "2.0.0", false},
                      RangeCase{"^1.2.3", "1.2.2", false}, RangeCase{"^0.2.3", "0.2.3", true},
                      RangeCase{"^0.2.3", "0.2.9", true}, RangeCase{"^0.2.3", "0.3.0", false},
                      RangeCase{"^0.2.3", "0.2.2", false}, RangeCase{"^0.0.3", "0.0.3", true},
                      RangeCase{"^0.0.3", "0.0.4", false}, RangeCase{"^1.2", "1.2.0", true},
                      RangeCase{"^1.2", "1.99.0", true}, RangeCase{"^1.2", "1.1.9", false},
                      RangeCase{"^1.2", "2.0.0", false}, RangeCase{"^1", "1.0.0", true},
                      RangeCase{"^1", "1.99.0", true}, RangeCase{"^1", "2.0.0", false},
                      RangeCase{"^1.x", "1.5.0", true}, RangeCase{"^1.2.x", "1.1.0", false},
                      RangeCase{"^0", "0.9.0", true}, RangeCase{"^0", "1.0.0", false},
                      RangeCase{"^0.x", "0.9.9", true}, RangeCase{"^0.0", "0.0.9", true},
                      RangeCase{"^0.0", "0.1.0", false}, RangeCase{"^0.0.x", "0.0.5", true},
                      RangeCase{"^0.0.x", "0.1.0", false}, RangeCase{"^0.0.0", "0.0.0", true},
                      RangeCase{"^0.0.0", "0.0.1", false}));

INSTANTIATE_TEST_SUITE_P(
    Tilde, VersionRangeTest,
    ::testing::Values(RangeCase{"~1.2.3", "1.2.3", true}, RangeCase{"~1.2.3", "1.2.9", true},
                      RangeCase{"~1.2.3", "1.2.2", false}, RangeCase{"~1.2.3", "1.3.0", false},
                      RangeCase{"~1.2", "1.2.0", true}, RangeCase{"~1.2", "1.2.99", true},
                      RangeCase{"~1.2", "1.3.0", false}, RangeCase{"~1", "1.9.0", true},
                      RangeCase{"~1", "2.0.0", false}, RangeCase{"~0.2.3", "0.2.9", true},
                      RangeCase{"~0.2.3", "0.3.0", false}, RangeCase{"~1.x", "1.7.0", true}));

INSTANTIATE_TEST_SUITE_P(
    Partial, VersionRangeTest,
    ::testing::Values(
        RangeCase{"1.x", "1.0.0", true}, RangeCase{"1.x", "1.4.0", true}, RangeCase{"1.x", "2.0.0", false},
        RangeCase{"1.x", "0.9.0", false}, RangeCase{"1.*", "1.4.0", true}, RangeCase{"1.X.x", "1.4.0", true},
        RangeCase{"1.2.x", "1.2.7", true}, RangeCase{"1.2.x", "1.3.0", false},
        RangeCase{"1.2.*", "1.2.0", true}, RangeCase{"1", "1.3.0", true}, RangeCase{"1", "2.0.0", false},
        RangeCase{"=1", "1.3.0", true}, RangeCase{"1.2", "1.2.5", true}, RangeCase{"1.2", "1.3.0", false},
        RangeCase{"1.2", "1.1.9", false}, RangeCase{">=1.2", "1.2.0", true},
        RangeCase{">=1.2", "1.1.9", false}, RangeCase{"<1.2", "1.1.9", true},
        RangeCase{"<1.2", "1.2.0", false}, RangeCase{">1.2", "1.2.9", false},
        RangeCase{">1.2", "1.3.0", true}, RangeCase{">1", "1.9.9", false}, RangeCase{">1", "2.0.0", true},
        RangeCase{"<=1.2", "1.2.9", true}, RangeCase{"<=1.2", "1.3.0", false},
        RangeCase{"<=1", "1.99.0", true}, RangeCase{"<=1", "2.0.0", false}));

// A prerelease matches only a range in which a comparator names a prerelease of
// the same MAJOR.MINOR.PATCH (npm's rule): "^1.0.0" must not pull in a 1.1.0-rc.
INSTANTIATE_TEST_SUITE_P(
    Prerelease, VersionRangeTest,
    ::testing::Values(
        RangeCase{"*", "1.0.0-rc.1", false}, RangeCase{"^1.0.0", "1.1.0-rc.1", false},
        RangeCase{"^1.0", "2.0.0-rc.1", false}, RangeCase{"<2.0.0", "2.0.0-rc.1", false},
        RangeCase{"<2.0.0", "1.5.0-rc.1", false}, RangeCase{"1.x", "1.5.0-rc.1", false},
        RangeCase{">=1.1.0-rc.1", "1.1.0-rc.1", true}, RangeCase{">=1.1.0-rc.1", "1.1.0-rc.2", true},
        RangeCase{">=1.1.0-rc.1", "1.1.0-beta", false}, RangeCase{">=1.1.0-rc.1", "1.1.0", true},
        RangeCase{">=1.1.0-rc.1", "1.2.0-rc.1", false}, RangeCase{">=1.1.0-rc.1", "1.2.0", true},
        RangeCase{"^1.2.3-beta.2", "1.2.3-beta.4", true}, RangeCase{"^1.2.3-beta.2", "1.2.3-beta.1", false},
        RangeCase{"^1.2.3-beta.2", "1.2.4-beta.1", false}, RangeCase{"^1.2.3-beta.2", "1.9.0", true},
        RangeCase{"~1.2.3-rc.0", "1.2.3-rc.5", true}, RangeCase{"=1.2.3-rc.1", "1.2.3-rc.1", true},
        RangeCase{"1.2.3-rc.1", "1.2.3-rc.2", false}, RangeCase{"1.2.3-rc.1", "1.2.3", false},
        // "-0" written by the author admits every prerelease of that version...
        RangeCase{">=1.3.0-0", "1.3.0-alpha", true},
        // ...while the "-0" bound of "^1.2.3" (<2.0.0-0) is computed and admits none.
        RangeCase{"^1.2.3", "2.0.0-0", false}, RangeCase{"^1.2.3", "1.9.9-0", false}));

struct BadRangeCase {
  const char* range;
  const char* message;
};

// NOLINTNEXTLINE(readability-identifier-naming): gtest finds printers by this name.
void PrintTo(const BadRangeCase& c, std::ostream* out) { *out << "'" << c.range << "'"; }

class VersionRangeRejectTest : public ::testing::TestWithParam<BadRangeCase> {};

TEST_P(VersionRangeRejectTest, NamesTheBadToken) {
  auto range = VersionRange::parse(GetParam().range);
  ASSERT_FALSE(range.ok()) << GetParam().range;
  EXPECT_EQ(range.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(range.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, VersionRangeRejectTest,
    ::testing::Values(
        BadRangeCase{">=1.2.q", "bad version range '>=1.2.q': '1.2.q' is not a version"},
        BadRangeCase{"", "bad version range '': empty"},
        BadRangeCase{"   ", "bad version range '   ': empty"},
        BadRangeCase{"^", "bad version range '^': '^' is not a version"},
        BadRangeCase{">=", "bad version range '>=': '>=' is not a version"},
        BadRangeCase{">= 1.2.0", "bad version range '>= 1.2.0': '>=' is not a version"},
        BadRangeCase{"v1.2.3", "bad version range 'v1.2.3': 'v1.2.3' is not a version"},
        BadRangeCase{"^v1.2", "bad version range '^v1.2': 'v1.2' is not a version"},
        BadRangeCase{"1.2.3.4", "bad version range '1.2.3.4': '1.2.3.4' is not a version"},
        BadRangeCase{"latest", "bad version range 'latest': 'latest' is not a version"},
        BadRangeCase{">=1.0 <", "bad version range '>=1.0 <': '<' is not a version"},
        BadRangeCase{"01.2.3", "bad version range '01.2.3': '01.2.3' is not a version"},
        BadRangeCase{"1.x.3", "bad version range '1.x.3': '1.x.3' is not a version"},
        BadRangeCase{"1.2-rc.1", "bad version range '1.2-rc.1': '1.2-rc.1' is not a version"},
        BadRangeCase{"=>1.0.0", "bad version range '=>1.0.0': '>1.0.0' is not a version"},
        BadRangeCase{">*", "bad version range '>*': '>*' matches nothing"},
        // No "||" and no hyphen ranges.
        BadRangeCase{"1.0.0 || 2.0.0", "bad version range '1.0.0 || 2.0.0': '||' is not a version"},
        BadRangeCase{"1.0.0 - 2.0.0", "bad version range '1.0.0 - 2.0.0': '-' is not a version"}));

TEST(VersionRangeTest, KeepsTheTextAsWritten) {
  auto range = VersionRange::parse(" >=1.0.0  <2 ");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->text(), " >=1.0.0  <2 ");
}

}  // namespace
}  // namespace hive::host
