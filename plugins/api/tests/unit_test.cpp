// Unit tests of the api plugin's pure parts: settings and the router.
#include <gtest/gtest.h>

#include "config.hpp"
#include "router.hpp"

namespace hive::api {
namespace {

TEST(ApiSettings, DefaultsAndLimits) {
  Diagnostics diagnostics;
  Settings settings = readSettings(ConfigNode::map(), diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors());
  EXPECT_EQ(settings.address, "127.0.0.1");
  EXPECT_EQ(settings.port, 8080);

  ConfigNode section = ConfigNode::map();
  section.set("listen", ConfigNode::scalar("[::1]:0"));
  settings = readSettings(section, diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors());
  EXPECT_EQ(settings.address, "::1");
  EXPECT_EQ(settings.port, 0);
  EXPECT_TRUE(isLoopback(settings.address));
  EXPECT_FALSE(isLoopback("0.0.0.0"));
  EXPECT_FALSE(isLoopback("10.0.0.1"));
}

// Every client of a loopback listen is 127.0.0.1: there the per-address limit
// defaults to no limit of its own; elsewhere to 256; a configured one is kept.
TEST(ApiSettings, ThePerAddressLimitDependsOnTheListenAddress) {
  Diagnostics diagnostics;
  Settings loopback = readSettings(ConfigNode::map(), diagnostics);
  EXPECT_EQ(loopback.maxConnectionsPerAddress, loopback.maxConnections + loopback.webSocket.maxConnections);
  EXPECT_EQ(loopback.webSocket.messagesPerSecond, 50u);
  EXPECT_EQ(loopback.webSocket.routeMessagesPerSecond, 20000u);
  EXPECT_EQ(loopback.webSocket.routeSendQueue, 4096u);
  EXPECT_EQ(loopback.webSocket.routeMessageBytes, 1024u * 1024u);

  ConfigNode section = ConfigNode::map();
  section.set("listen", ConfigNode::scalar("0.0.0.0:8080"));
  EXPECT_EQ(readSettings(section, diagnostics).maxConnectionsPerAddress, 256u);
  ConfigNode limits = ConfigNode::map();
  limits.set("max_connections_per_address", ConfigNode::scalar("8"));
  section.set("limits", limits);
  EXPECT_EQ(readSettings(section, diagnostics).maxConnectionsPerAddress, 8u);
  EXPECT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();

  limits.set("max_connections_per_address", ConfigNode::scalar("0"));
  section.set("limits", limits);
  readSettings(section, diagnostics);
  EXPECT_NE(diagnostics.toString().find("max_connections_per_address"), std::string::npos);
}

TEST(ApiSettings, ErrorsCarryTheirLocation) {
  Diagnostics diagnostics;
  ConfigNode section = ConfigNode::map({"hive.yaml", 3, 5});
  section.set("listen", ConfigNode::scalar("127.0.0.1:99999", {"hive.yaml", 4, 15}));
  ConfigNode cors = ConfigNode::map({"hive.yaml", 5, 7});
  ConfigNode origins = ConfigNode::sequence({"hive.yaml", 6, 9});
  origins.push(ConfigNode::scalar("not an origin", {"hive.yaml", 6, 11}));
  cors.set("allow_origins", origins);
  section.set("cors", cors);
  readSettings(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:4:15: error: 'listen': port must be a number from 0 to 65535"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hive.yaml:6:11: error: 'allow_origins': 'not an origin' is not an origin"),
            std::string::npos)
      << text;
}

TEST(ApiRouter, TemplatesPathsAndQueries) {
  EXPECT_TRUE(parseTemplate("/a/{b}/c"));
  EXPECT_FALSE(parseTemplate("a/b"));
  EXPECT_FALSE(parseTemplate("/a//b"));
  EXPECT_FALSE(parseTemplate("/a/{b"));
  EXPECT_FALSE(parseTemplate("/a/{}"));
  EXPECT_EQ(*splitPath("/a/b%2Dc"), (std::vector<std::string>{"a", "b-c"}));
  EXPECT_FALSE(splitPath("/a/b%2Fc")) << "an encoded slash would change the route";
  EXPECT_FALSE(splitPath("/a/%00"));
  EXPECT_FALSE(splitPath("/a/%4"));
  auto query = parseQuery("a=1&b=x+y&c&d=%41");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->size(), 4u);
  EXPECT_EQ((*query)[1].second, "x y");
  EXPECT_EQ((*query)[3].second, "A");
  EXPECT_FALSE(parseQuery("a=%zz"));
}

TEST(ApiRouter, MatchesLiteralsFirstAndListsAllowedMethods) {
  Table table;
  auto owner = std::make_shared<RouteOwner>();
  owner->name = "p";
  auto problems = table.add(owner,
                            {{.id = "get", .method = "GET", .path = "/t/{id}"},
                             {.id = "stats", .method = "GET", .path = "/t/stats"},
                             {.id = "del", .method = "DELETE", .path = "/t/{id}"},
                             {.id = "clash", .method = "GET", .path = "/t/{other}"},
                             {.id = "bad", .method = "BREW", .path = "/t"}},
                            {}, "");
  EXPECT_EQ(problems.size(), 2u);
  auto stats = table.match("GET", {"t", "stats"});
  ASSERT_NE(stats.entry, nullptr);
  EXPECT_EQ(stats.entry->route.id, "stats");
  auto item = table.match("GET", {"t", "9"});
  ASSERT_NE(item.entry, nullptr);
  EXPECT_EQ(item.entry->route.id, "get");
  EXPECT_EQ(item.params.at("id"), "9");
  auto wrong = table.match("POST", {"t", "9"});
  EXPECT_EQ(wrong.entry, nullptr);
  EXPECT_EQ(wrong.allowed, (std::vector<std::string>{"GET", "DELETE"}));
  EXPECT_TRUE(table.match("GET", {"u"}).allowed.empty());
}

TEST(ApiRouter, ATrailingSlashIsASegmentOfItsOwn) {
  Table table;
  auto owner = std::make_shared<RouteOwner>();
  owner->name = "p";
  EXPECT_TRUE(
      table
          .add(owner,
               {{.id = "dir", .method = "GET", .path = "/app/", .permission = "", .openapi = ""},
                {.id = "bare", .method = "GET", .path = "/app", .permission = "", .openapi = ""},
                {.id = "file", .method = "GET", .path = "/app/{file}", .permission = "", .openapi = ""}},
               {}, "")
          .empty());
  EXPECT_FALSE(parseTemplate("/app//"));
  auto dir = table.match("GET", *splitPath("/app/"));
  ASSERT_NE(dir.entry, nullptr);
  EXPECT_EQ(dir.entry->route.id, "dir");
  auto bare = table.match("GET", *splitPath("/app"));
  ASSERT_NE(bare.entry, nullptr);
  EXPECT_EQ(bare.entry->route.id, "bare");
  auto file = table.match("GET", *splitPath("/app/x.js"));
  ASSERT_NE(file.entry, nullptr);
  EXPECT_EQ(file.entry->route.id, "file");
}

TEST(ApiRouter, SameOriginComparesSchemeLessOriginWithHost) {
  EXPECT_TRUE(sameOrigin("http://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_TRUE(sameOrigin("https://hive.example.com", "hive.example.com"));
  EXPECT_FALSE(sameOrigin("http://evil.example:8080", "127.0.0.1:8080"));
  EXPECT_FALSE(sameOrigin("http://127.0.0.1:8081", "127.0.0.1:8080"));
  EXPECT_FALSE(sameOrigin("null", "null"));
  EXPECT_FALSE(sameOrigin("http://", ""));
}

TEST(ApiRouter, ABrowserOffersItsKeyAsABearerSubprotocol) {
  EXPECT_EQ(bearerSubprotocol("hive.v1, hive.bearer.hive_3f_8e1d"), "hive_3f_8e1d");
  EXPECT_EQ(bearerSubprotocol("hive.bearer.a.b-c,hive.v1"), "a.b-c");
  EXPECT_FALSE(bearerSubprotocol("hive.v1"));
  EXPECT_FALSE(bearerSubprotocol("hive.bearer."));
  EXPECT_FALSE(bearerSubprotocol(""));
}

}  // namespace
}  // namespace hive::api
