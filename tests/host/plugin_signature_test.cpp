// Signed plugins: with hive.require_signed_plugins the kernel maps only files
// whose detached ed25519 signature verifies against a trusted key, on start and
// on every hot swap; real .so files through the real loader, the real CLI.
#include "host/plugin_signature.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../plugins/swap_counter_service.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"
#include "test_support.hpp"
#include "tools/cli/plugin_signing.hpp"

namespace hive::host {
namespace {

namespace fs = std::filesystem;
using hive::test::readText;
using hive::test::SwapCounter;
using hive::test::TempDirectory;
using hive::test::writeText;
using hive::tools::signPluginFile;
using hive::tools::writeSigningKeyPair;
using ::testing::HasSubstr;
using ::testing::Not;

const fs::path kSwapPlugins = fs::path(HIVE_BINARY_DIR) / "swap_plugins";
const std::string kHive = std::string(HIVE_BINARY_DIR) + "/bin/hive";

// Flips one byte of the compiler's note in .comment: the file stays a valid
// plugin with the same manifest, only its signature no longer matches.
void flipOneByte(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t at = bytes.find("GCC: (");
  ASSERT_NE(at, std::string::npos) << "no .comment note in " << path;
  bytes[at] ^= 0x20;
  writeText(path, bytes);
}

struct HiveRun {
  int exitCode = -1;
  std::string out;
};

// Runs the real `hive` with stdout and stderr together.
HiveRun runHive(const std::vector<std::string>& args, const fs::path& dir) {
  fs::path output = dir / "hive.out";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>(kHive.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(kHive.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), readText(output)};
}

class PluginSignatureTest : public ::testing::Test {
 protected:
  PluginSignatureTest() {
    fs::create_directories(pluginDir_);
    logFd_ = ::open((dir_.path() / "hive.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    logs_ = std::make_unique<LogSystem>(LogOutputFormat::kText, LogLevel::kInfo, logFd_);
    trusted_ = key("trusted");
    other_ = key("other");
  }
  ~PluginSignatureTest() override {
    logs_.reset();
    ::close(logFd_);
  }

  // A key pair in the test directory; returns the secret key's path.
  std::string key(const std::string& name) {
    std::string path = dir_ / (name + ".key");
    auto written = writeSigningKeyPair(path);
    EXPECT_TRUE(written.ok()) << written.status().toString();
    return path;
  }

  PublicKey publicKeyOf(const std::string& secretPath) {
    auto key = parsePublicKey(readText(secretPath + ".pub"));
    EXPECT_TRUE(key.ok()) << key.status().toString();
    return key.ok() ? *key : PublicKey{};
  }

  enum class Signing { kUnsigned, kTrusted, kOtherKey, kTamperedAfterSigning, kGarbage };

  // Copies swap plugin `file` into the plugin directory as `as`, signed as asked.
  std::string stage(const std::string& file, const std::string& as, Signing signing) {
    fs::path path = pluginDir_ / as;
    fs::copy_file(kSwapPlugins / file, path, fs::copy_options::overwrite_existing);
    fs::remove(path.string() + ".sig");
    switch (signing) {
      case Signing::kUnsigned: break;
      case Signing::kTrusted: EXPECT_TRUE(signPluginFile(trusted_, path).ok()); break;
      case Signing::kOtherKey: EXPECT_TRUE(signPluginFile(other_, path).ok()); break;
      case Signing::kTamperedAfterSigning:
        EXPECT_TRUE(signPluginFile(trusted_, path).ok());
        flipOneByte(path);
        break;
      case Signing::kGarbage: writeText(path.string() + ".sig", "not a signature\n"); break;
    }
    return path.string();
  }

  KernelConfig config(bool requireSigned) {
    KernelConfig config;
    config.pluginDirectories = {pluginDir_.string()};
    config.dataDirectory = (dir_.path() / "data").string();
    config.ioThreads = 2;
    config.blockingThreads = 2;
    config.pluginTrust.requireSigned = requireSigned;
    config.pluginTrust.trustedKeys = {publicKeyOf(trusted_)};
    PluginEntry entry;
    entry.name = "swap_counter";
    entry.config = ConfigNode::map();
    config.plugins.push_back(entry);
    return config;
  }

  // Loads and starts swap_counter; its status afterwards.
  PluginStatus startWith(bool requireSigned) {
    host_ = std::make_unique<PluginHost>(config(requireSigned), *logs_);
    Diagnostics diagnostics;
    (void)host_->load(diagnostics);
    if (host_->status().front().state == PluginState::kConfigured) (void)host_->start();
    return host_->status().front();
  }

  std::string build() {
    auto slot = host_->services().slot({"test.swap_counter", 1}, "swap_counter");
    if (!slot.ok()) return "none";
    return ServiceHandle<SwapCounter>(*slot).lease()->build();
  }

  std::string log() const { return readText(dir_.path() / "hive.log"); }

  TempDirectory dir_;
  fs::path pluginDir_ = dir_.path() / "plugins";
  int logFd_ = -1;
  std::unique_ptr<LogSystem> logs_;
  std::unique_ptr<PluginHost> host_;
  std::string trusted_, other_;
};

TEST_F(PluginSignatureTest, AFileSignedByATrustedKeyLoads) {
  stage("swap_v1-1.0.0.so", "swap_counter.so", Signing::kTrusted);
  PluginStatus status = startWith(true);
  EXPECT_EQ(status.state, PluginState::kStarted) << status.reason;
  EXPECT_EQ(build(), "v1");
}

TEST_F(PluginSignatureTest, UnsignedTamperedWrongKeyAndGarbageSignaturesAreRefusedAtStart) {
  struct Case {
    Signing signing;
    const char* reason;
  } cases[] = {
      {Signing::kUnsigned, "not signed: no "},
      {Signing::kTamperedAfterSigning, "does not verify with any trusted key"},
      {Signing::kOtherKey, "does not verify with any trusted key"},
      {Signing::kGarbage, "is not a signature"},
  };
  for (const auto& c : cases) {
    std::string path = stage("swap_v1-1.0.0.so", "swap_counter.so", c.signing);
    PluginStatus status = startWith(true);
    EXPECT_EQ(status.state, PluginState::kFailed) << c.reason;
    EXPECT_THAT(status.reason, HasSubstr(path + ": refused (hive.require_signed_plugins): "));
    EXPECT_THAT(status.reason, HasSubstr(c.reason));
    EXPECT_EQ(build(), "none");
    host_->stop();
    host_.reset();
  }
  // One error line per refusal, naming the file and the reason.
  std::string text = log();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n') >= 4, true);
  EXPECT_THAT(text, HasSubstr("swap_counter.so: refused (hive.require_signed_plugins): not signed"));
}

TEST_F(PluginSignatureTest, HotSwapsToBadlySignedFilesAreRefusedAndTheRunningGenerationKeepsServing) {
  stage("swap_v1-1.0.0.so", "swap_counter.so", Signing::kTrusted);
  ASSERT_EQ(startWith(true).state, PluginState::kStarted);
  struct Case {
    Signing signing;
    const char* reason;
  } cases[] = {
      {Signing::kUnsigned, "not signed"},
      {Signing::kTamperedAfterSigning, "does not verify"},
      {Signing::kOtherKey, "does not verify"},
  };
  int serial = 0;
  for (const auto& c : cases) {
    std::string path = stage("swap_v2-1.1.0.so", "next-" + std::to_string(++serial) + ".so", c.signing);
    Status swapped = host_->reload("swap_counter", path);
    EXPECT_FALSE(swapped.ok());
    EXPECT_THAT(swapped.message(), HasSubstr(path + ": refused (hive.require_signed_plugins): "));
    EXPECT_THAT(swapped.message(), HasSubstr(c.reason));
    PluginStatus status = host_->status().front();
    EXPECT_EQ(status.state, PluginState::kStarted);
    EXPECT_EQ(status.generation, 1u);
    EXPECT_EQ(build(), "v1");
  }
  std::string good = stage("swap_v2-1.1.0.so", "next-good.so", Signing::kTrusted);
  Status swapped = host_->reload("swap_counter", good);
  EXPECT_TRUE(swapped.ok()) << swapped.toString();
  EXPECT_EQ(host_->status().front().generation, 2u);
  EXPECT_EQ(build(), "v2");
}

TEST_F(PluginSignatureTest, WithoutTheOptionUnsignedFilesLoadAsBefore) {
  stage("swap_v1-1.0.0.so", "swap_counter.so", Signing::kUnsigned);
  PluginStatus status = startWith(false);
  EXPECT_EQ(status.state, PluginState::kStarted) << status.reason;
  std::string next = stage("swap_v2-1.1.0.so", "next.so", Signing::kOtherKey);
  EXPECT_TRUE(host_->reload("swap_counter", next).ok());
  EXPECT_EQ(build(), "v2");
}

TEST_F(PluginSignatureTest, KeysParseFromBase64AndHexOnly) {
  auto key = publicKeyOf(trusted_);
  std::string hex;
  for (unsigned char b : key) {
    char pair[3];
    std::snprintf(pair, sizeof pair, "%02x", b);
    hex += pair;
  }
  auto fromHex = parsePublicKey(" " + hex + "\n");
  ASSERT_TRUE(fromHex.ok());
  EXPECT_EQ(*fromHex, key);
  EXPECT_FALSE(parsePublicKey(hex.substr(2)).ok());
  EXPECT_FALSE(parsePublicKey("AAAA").ok());
  EXPECT_FALSE(parsePublicKey(readText(trusted_)).ok()) << "a secret key is not a public key";
}

// The operator's path: keygen, sign, check-config with the key file, then a
// tampered file, then a bad key in the config reported with its location.
TEST_F(PluginSignatureTest, TheCliSignsAndCheckConfigVerifies) {
  fs::path work = dir_.path() / "cli";
  fs::create_directories(work / "plugins");
  fs::copy_file(fs::path(HIVE_TEST_PLUGIN_DIR) / "solo-1.0.0.so", work / "plugins" / "solo.so");

  HiveRun keygen = runHive({"plugin", "keygen", (work / "release.key").string()}, work);
  ASSERT_EQ(keygen.exitCode, 0) << keygen.out;
  struct stat info {};
  ASSERT_EQ(::stat((work / "release.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_THAT(keygen.out, HasSubstr(readText(work / "release.key.pub")));
  EXPECT_THAT(keygen.out, Not(HasSubstr(readText(work / "release.key"))));
  HiveRun again = runHive({"plugin", "keygen", (work / "release.key").string()}, work);
  EXPECT_EQ(again.exitCode, 1) << "a second keygen must not replace the key";

  std::string config = (work / "hive.yaml").string();
  writeText(config,
            "hive:\n  plugin_dirs: [plugins]\n  data_dir: data\n  require_signed_plugins: true\n"
            "  trusted_keys: [release.key.pub]\nplugins:\n  solo: {}\n");
  HiveRun unsigned_ = runHive({"check-config", "-c", config}, work);
  EXPECT_EQ(unsigned_.exitCode, 1);
  EXPECT_THAT(unsigned_.out, HasSubstr("solo.so: refused (hive.require_signed_plugins): not signed"));

  HiveRun sign = runHive(
      {"plugin", "sign", "--key", (work / "release.key").string(), (work / "plugins" / "solo.so").string()},
      work);
  ASSERT_EQ(sign.exitCode, 0) << sign.out;
  EXPECT_TRUE(fs::exists(work / "plugins" / "solo.so.sig"));
  HiveRun signed_ = runHive({"check-config", "-c", config}, work);
  EXPECT_EQ(signed_.exitCode, 0) << signed_.out;

  flipOneByte(work / "plugins" / "solo.so");
  HiveRun tampered = runHive({"check-config", "-c", config}, work);
  EXPECT_EQ(tampered.exitCode, 1);
  EXPECT_THAT(tampered.out, HasSubstr("does not verify with any trusted key"));

  writeText(config,
            "hive:\n  plugin_dirs: [plugins]\n  data_dir: data\n  require_signed_plugins: true\n"
            "  trusted_keys:\n    - release.key.pub\n    - not-a-key\nplugins:\n  solo: {}\n");
  HiveRun badKey = runHive({"check-config", "-c", config}, work);
  EXPECT_EQ(badKey.exitCode, 1);
  EXPECT_THAT(badKey.out, HasSubstr(config + ":7:7: error: 'trusted_keys': 'not-a-key' is not an ed25519 "
                                             "public key"));
}

TEST_F(PluginSignatureTest, RequiringSignaturesWithoutAKeyIsAConfigError) {
  std::string config = dir_ / "hive.yaml";
  writeText(config, "hive:\n  require_signed_plugins: true\nplugins: {}\n");
  HiveRun checked = runHive({"check-config", "-c", config}, dir_.path());
  EXPECT_EQ(checked.exitCode, 1);
  EXPECT_THAT(checked.out,
              HasSubstr(config + ":2:27: error: 'require_signed_plugins': needs at least one key in "
                                 "hive.trusted_keys"));
}

}  // namespace
}  // namespace hive::host
