// Signatures both ways, URLs of targets and the SSRF address check.
#include "signature.hpp"

#include <gtest/gtest.h>

#include "http_post.hpp"

namespace hive::integration_engine {
namespace {

constexpr std::string_view kSecret = "0123456789abcdef-secret";

http::Request signedRequest(std::int64_t timestamp, std::string body, std::string_view secret = kSecret) {
  http::Request request;
  request.body = std::move(body);
  request.headers.push_back({"x-hive-timestamp", std::to_string(timestamp)});
  request.headers.push_back({"x-hive-signature", signGeneric(secret, timestamp, request.body)});
  return request;
}

TEST(Signature, HmacSha256MatchesRfc4231) {
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Signature, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(constantTimeEquals("sha256=ab", "sha256=ab"));
  EXPECT_FALSE(constantTimeEquals("sha256=ab", "sha256=ac"));
  EXPECT_FALSE(constantTimeEquals("sha256=ab", "sha256=a"));
  EXPECT_FALSE(constantTimeEquals("", "x"));
}

TEST(Signature, GenericAcceptsAGoodSignatureWithinTheWindow) {
  EXPECT_TRUE(
      verify(SignatureScheme::kGeneric, kSecret, signedRequest(1000, "{}"), 1000, std::chrono::seconds(300))
          .ok());
  EXPECT_TRUE(
      verify(SignatureScheme::kGeneric, kSecret, signedRequest(1000, "{}"), 1299, std::chrono::seconds(300))
          .ok());
  // A sender's clock a little ahead is tolerated the same way.
  EXPECT_TRUE(
      verify(SignatureScheme::kGeneric, kSecret, signedRequest(1100, "{}"), 1000, std::chrono::seconds(300))
          .ok());
}

TEST(Signature, GenericRefusesOtherSecretsBodiesStaleOrMissingHeaders) {
  auto refused = [](const http::Request& request, std::int64_t now, std::string_view why) {
    Status status = verify(SignatureScheme::kGeneric, kSecret, request, now, std::chrono::seconds(300));
    EXPECT_EQ(status.code(), StatusCode::kUnauthenticated);
    EXPECT_NE(status.message().find(why), std::string::npos) << status.message();
    EXPECT_EQ(status.message().find(kSecret), std::string::npos);
  };
  refused(signedRequest(1000, "{}", "another-secret-of-16"), 1000, "bad signature");
  http::Request tampered = signedRequest(1000, "{\"a\":1}");
  tampered.body = "{\"a\":2}";
  refused(tampered, 1000, "bad signature");
  refused(signedRequest(1000, "{}"), 1301, "tolerance 300 s");  // a replay after the window
  // A replay with a fresh timestamp does not match the signature any more.
  http::Request moved = signedRequest(1000, "{}");
  moved.headers[0].value = "1301";
  refused(moved, 1301, "bad signature");
  http::Request bare;
  bare.body = "{}";
  refused(bare, 1000, "no X-Hive-Signature");
  http::Request garbage = signedRequest(1000, "{}");
  garbage.headers[0].value = "yesterday";
  refused(garbage, 1000, "not Unix seconds");
}

TEST(Signature, GithubSignsTheBodyAlone) {
  http::Request request;
  request.body = R"({"ref":"refs/heads/main"})";
  request.headers.push_back({"x-hub-signature-256", "sha256=" + hmacSha256Hex(kSecret, request.body)});
  EXPECT_TRUE(verify(SignatureScheme::kGithub, kSecret, request, 0, std::chrono::seconds(1)).ok());
  request.body += " ";
  EXPECT_EQ(verify(SignatureScheme::kGithub, kSecret, request, 0, std::chrono::seconds(1)).code(),
            StatusCode::kUnauthenticated);
  request.headers.clear();
  EXPECT_EQ(verify(SignatureScheme::kGithub, kSecret, request, 0, std::chrono::seconds(1)).code(),
            StatusCode::kUnauthenticated);
}

TEST(TargetUrl, ParsesHttpUrlsAndRefusesTheRest) {
  Result<Url> url = parseUrl("http://example.com:8080/hooks/x?y=1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->target, "/hooks/x?y=1");
  url = parseUrl("http://[::1]/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "80");
  EXPECT_FALSE(url->tls);
  url = parseUrl("https://example.com/hooks");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->target, "/hooks");
  for (const char* bad : {"ftp://x/", "http://", "http://x:0/", "http://x:99999/", "http://u:p@x/",
                          "http://x/a b", "http://x/\r\nX: y", "http://x/\ty", "https://[::1/", "HTTPS://x/"})
    EXPECT_FALSE(parseUrl(bad).ok()) << bad;
}

TEST(TargetUrl, PrivateAndLoopbackAddressesAreRefusedUnlessAllowed) {
  for (const char* address :
       {"http://127.0.0.1/", "http://10.1.2.3/", "http://192.168.0.1/", "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/", "http://[::1]/", "http://[fd00::1]/",
        "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/", "http://localhost/"}) {
    Result<Url> url = parseUrl(address);
    ASSERT_TRUE(url.ok()) << address;
    Status status = checkDestination(*url, AddressPolicy::kPublicOnly);
    EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << address << ": " << status.toString();
    EXPECT_TRUE(checkDestination(*url, AddressPolicy::kAny).ok()) << address;
  }
  for (const char* address : {"http://93.184.216.34/", "http://8.8.8.8/", "http://[2001:4860:4860::8888]/"}) {
    Result<Url> url = parseUrl(address);
    ASSERT_TRUE(url.ok()) << address;
    EXPECT_TRUE(checkDestination(*url, AddressPolicy::kPublicOnly).ok()) << address;
  }
}

TEST(TargetUrl, APostToARefusedAddressNeverConnects) {
  Result<Url> url = parseUrl("http://127.0.0.1:9/");
  ASSERT_TRUE(url.ok());
  Result<int> answered = post(*url, AddressPolicy::kPublicOnly, {}, "{}", std::chrono::seconds(1));
  EXPECT_EQ(answered.status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace hive::integration_engine
