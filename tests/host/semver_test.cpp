#include "host/semver.hpp"

#include <gtest/gtest.h>

namespace hive::host {
namespace {

Version v(const char* text) {
  auto parsed = Version::parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().message();
  return parsed.ok() ? *parsed : Version{};
}

TEST(VersionTest, ParsesStrictSemver) {
  EXPECT_EQ(v("1.2.3").toString(), "1.2.3");
  EXPECT_EQ(v("0.0.0").toString(), "0.0.0");
  EXPECT_EQ(v("1.2.3-rc.1+build.5").toString(), "1.2.3-rc.1");
  for (const char* bad : {"", "1", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.2.x", "1..3", "1.2.3-", "1.2.3-a..b", "a.b.c"})
    EXPECT_FALSE(Version::parse(bad).ok()) << bad;
}

TEST(VersionTest, OrdersBySemverPrecedence) {
  const char* ordered[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                           "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0"};
  for (std::size_t i = 0; i + 1 < std::size(ordered); ++i) {
    EXPECT_LT(v(ordered[i]), v(ordered[i + 1])) << ordered[i] << " < " << ordered[i + 1];
    EXPECT_FALSE(v(ordered[i + 1]) < v(ordered[i]));
  }
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0+b"));
}

struct RangeCase {
  const char* range;
  const char* version;
  bool contained;
};

class VersionRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(VersionRangeTest, Contains) {
  const auto& c = GetParam();
  auto range = VersionRange::parse(c.range);
  ASSERT_TRUE(range.ok()) << c.range << ": " << range.status().message();
  EXPECT_EQ(range->contains(v(c.version)), c.contained) << c.range << " vs " << c.version;
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, VersionRangeTest,
    ::testing::Values(RangeCase{"*", "0.0.1", true}, RangeCase{"*", "9.9.9", true}, RangeCase{"1.2.3", "1.2.3", true},
                      RangeCase{"1.2.3", "1.2.4", false}, RangeCase{"=1.2.3", "1.2.3", true},
                      RangeCase{">=1.2.0", "1.2.0", true}, RangeCase{">=1.2.0", "1.1.9", false},
                      RangeCase{">1.2.0", "1.2.0", false}, RangeCase{">1.2.0", "1.2.1", true},
                      RangeCase{"<2.0.0", "1.9.9", true}, RangeCase{"<2.0.0", "2.0.0", false},
                      RangeCase{"<=2.0.0", "2.0.0", true}, RangeCase{">=1.2.0 <2.0.0", "1.5.0", true},
                      RangeCase{">=1.2.0 <2.0.0", "2.0.0", false}, RangeCase{">=1.2.0 <2.0.0", "1.1.0", false},
                      RangeCase{"^1.2.3", "1.2.3", true}, RangeCase{"^1.2.3", "1.9.0", true},
                      RangeCase{"^1.2.3", "2.0.0", false}, RangeCase{"^1.2.3", "1.2.2", false},
                      RangeCase{"^0.2.3", "0.2.9", true}, RangeCase{"^0.2.3", "0.3.0", false},
                      RangeCase{"^0.0.3", "0.0.3", true}, RangeCase{"^0.0.3", "0.0.4", false},
                      RangeCase{"^1.2", "1.2.0", true}, RangeCase{"^1.2", "1.99.0", true},
                      RangeCase{"^1", "1.0.0", true}, RangeCase{"^1", "2.0.0", false},
                      RangeCase{"~1.2.3", "1.2.9", true}, RangeCase{"~1.2.3", "1.3.0", false},
                      RangeCase{"~1.2", "1.2.0", true}, RangeCase{"~1", "1.9.0", true}, RangeCase{"~1", "2.0.0", false},
                      RangeCase{"1.x", "1.4.0", true}, RangeCase{"1.x", "2.0.0", false},
                      RangeCase{"1.2.x", "1.2.7", true}, RangeCase{"1.2.x", "1.3.0", false},
                      RangeCase{"1", "1.3.0", true}, RangeCase{"1.2", "1.2.5", true}, RangeCase{"1.2", "1.3.0", false},
                      RangeCase{"<1.2", "1.1.9", true}, RangeCase{"<1.2", "1.2.0", false},
                      RangeCase{">1.2", "1.2.9", false}, RangeCase{">1.2", "1.3.0", true},
                      RangeCase{"<=1.2", "1.2.9", true}, RangeCase{"<=1.2", "1.3.0", false},
                      // Prereleases match only ranges that name one of the same version.
                      RangeCase{"^1.0.0", "1.1.0-rc.1", false}, RangeCase{">=1.1.0-rc.1", "1.1.0-rc.2", true},
                      RangeCase{">=1.1.0-rc.1", "1.2.0-rc.1", false}, RangeCase{"^1.0", "2.0.0-rc.1", false}));

TEST(VersionRangeParseTest, NamesTheBadToken) {
  EXPECT_EQ(VersionRange::parse(">=1.2.q").status().message(), "bad version range '>=1.2.q': '1.2.q' is not a version");
  EXPECT_EQ(VersionRange::parse("").status().message(), "bad version range '': empty");
  EXPECT_EQ(VersionRange::parse("^").status().message(), "bad version range '^': '^' is not a version");
  EXPECT_FALSE(VersionRange::parse("1.2.3.4").ok());
  EXPECT_FALSE(VersionRange::parse("latest").ok());
  EXPECT_FALSE(VersionRange::parse(">=1.0 <").ok());
  EXPECT_EQ(VersionRange::parse(" >=1.0.0  <2 ").value().text(), " >=1.0.0  <2 ");
}

}  // namespace
}  // namespace hive::host
