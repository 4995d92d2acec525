// The api plugin's TLS settings through the real loader: which listens are
// refused, and bad certificate files reported as config errors. HTTPS and WSS
// traffic, versions, mTLS and rotation: tests/e2e/api_tls_e2e.py.
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_host.hpp"

namespace hive::api_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A self-signed certificate and its key, made by the openssl CLI.
struct Certificate {
  static inline int serial = 0;
  fs::path directory = fs::temp_directory_path() /
                       ("hive-api-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
  fs::path cert = directory / "server.pem";
  fs::path key = directory / "server.key";

  Certificate() {
    fs::create_directories(directory);
    std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        "-subj /CN=localhost -keyout " +
        key.string() + " -out " + cert.string() + " 2>/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
  ~Certificate() {
    std::error_code ignored;
    fs::remove_all(directory, ignored);
  }

  ConfigNode section() const {
    return mapOf({{"cert_file", scalar(cert.string())}, {"key_file", scalar(key.string())}});
  }
};

HostOptions remote(std::vector<std::pair<std::string, ConfigNode>> extra) {
  HostOptions options;
  options.auth = true;  // the test provider of hive.auth/1: non-loopback listens are allowed at all
  options.api = {{"listen", scalar("0.0.0.0:0")}};
  for (auto& entry : extra) options.api.push_back(std::move(entry));
  return options;
}

TEST(ApiTls, PlainHttpOnANonLoopbackAddressNeedsAllowInsecure) {
  ApiHost refused(remote({}));
  EXPECT_FALSE(refused.start());
  EXPECT_THAT(refused.problem(), HasSubstr("refusing plain HTTP on 0.0.0.0, a non-loopback address"));

  ApiHost allowed(remote({{"allow_insecure", scalar("true")}}));
  EXPECT_TRUE(allowed.start()) << allowed.problem();
}

TEST(ApiTls, TlsOnANonLoopbackAddressNeedsNoException) {
  Certificate certificate;
  ApiHost api(remote({{"tls", certificate.section()}}));
  EXPECT_TRUE(api.start()) << api.problem();
  EXPECT_THAT(api.log(), Not(HasSubstr("refusing")));
}

TEST(ApiTls, LoopbackStaysPlainWithoutSettings) {
  ApiHost api;
  EXPECT_TRUE(api.start()) << api.problem();
}

TEST(ApiTls, BadFilesAndSettingsAreConfigErrors) {
  Certificate certificate;
  struct Case {
    ConfigNode tls;
    const char* problem;
  } cases[] = {
      {mapOf({{"cert_file", scalar((certificate.directory / "missing.pem").string())},
              {"key_file", scalar(certificate.key.string())}}),
       "'cert_file': "},
      {mapOf(
           {{"cert_file", scalar(certificate.key.string())}, {"key_file", scalar(certificate.key.string())}}),
       "'cert_file': "},
      {mapOf({{"cert_file", scalar(certificate.cert.string())}}), "cert_file and key_file go together"},
      {mapOf({{"cert_file", scalar(certificate.cert.string())},
              {"key_file", scalar(certificate.key.string())},
              {"min_version", scalar("1.0")}}),
       "'min_version': expected 1.2 or 1.3"},
      {mapOf({{"cert_file", scalar(certificate.cert.string())},
              {"key_file", scalar(certificate.key.string())},
              {"ciphers", scalar("NOT-A-CIPHER")}}),
       "no usable TLS 1.2 cipher"},
      {mapOf({{"client_ca_file", scalar(certificate.cert.string())}}), "client certificates need a server"},
  };
  for (auto& c : cases) {
    HostOptions options;
    options.withRoutes = false;
    options.api = {{"tls", c.tls}};
    ApiHost api(options);
    EXPECT_FALSE(api.start()) << c.problem;
    EXPECT_THAT(api.problem(), HasSubstr(c.problem));
  }
}

TEST(ApiTls, AKeyThatDoesNotMatchTheCertificateIsAConfigError) {
  Certificate first;
  fs::path otherKey = first.directory / "other.key";
  std::string command = "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out " +
                        otherKey.string() + " 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  HostOptions options;
  options.withRoutes = false;
  options.api = {
      {"tls", mapOf({{"cert_file", scalar(first.cert.string())}, {"key_file", scalar(otherKey.string())}})}};
  ApiHost api(options);
  EXPECT_FALSE(api.start());
  EXPECT_THAT(api.problem(), HasSubstr("'key_file': " + otherKey.string() + ": key values mismatch"));
}

}  // namespace
}  // namespace hive::api_test
