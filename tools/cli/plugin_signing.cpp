#include "tools/cli/plugin_signing.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "host/plugin_library.hpp"
#include "host/plugin_signature.hpp"

namespace hive::tools {
namespace {

Status ready() {
  if (sodium_init() < 0) return internalError("libsodium failed to initialise");
  return okStatus();
}

std::string toBase64(const unsigned char* bytes, std::size_t size) {
  std::string out(sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, size, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Writes `text` to `path` through a temporary file in the same directory, so
// that a reader sees the old file or the new one, never half of it.
Status writeAtomically(const std::string& path, const std::string& text, mode_t mode) {
  std::string temporary = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return unavailable("cannot create " + temporary + ": " + std::strerror(errno));
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = ::fsync(fd) == 0 && written;
  ::close(fd);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    return unavailable("cannot write " + path + ": " + why);
  }
  return okStatus();
}

}  // namespace

Result<std::string> writeSigningKeyPair(const std::string& secretPath) {
  HIVE_TRY(ready());
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> publicKey{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secretKey{};
  crypto_sign_keypair(publicKey.data(), secretKey.data());
  std::string secretText = toBase64(secretKey.data(), secretKey.size()) + "\n";
  sodium_memzero(secretKey.data(), secretKey.size());
  // O_EXCL: a second keygen must not overwrite the key plugins were signed with.
  int fd = ::open(secretPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(secretText.data(), secretText.size());
    return alreadyExists("cannot create " + secretPath + ": " + std::strerror(errno));
  }
  bool written = ::write(fd, secretText.data(), secretText.size()) == static_cast<ssize_t>(secretText.size());
  written = ::fsync(fd) == 0 && written;
  ::close(fd);
  sodium_memzero(secretText.data(), secretText.size());
  if (!written) {
    ::unlink(secretPath.c_str());
    return unavailable("cannot write " + secretPath);
  }
  std::string publicText = toBase64(publicKey.data(), publicKey.size());
  HIVE_TRY(writeAtomically(secretPath + ".pub", publicText + "\n", 0644));
  return publicText;
}

Result<std::string> signPluginFile(const std::string& secretKeyPath, const std::string& pluginPath) {
  HIVE_TRY(ready());
  auto text = HIVE_TRY(host::readKeyOrSignatureFile(secretKeyPath));
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secretKey{};
  bool parsed = host::decodeBase64(text, secretKey);
  sodium_memzero(text.data(), text.size());
  if (!parsed) return invalidArgument(secretKeyPath + ": not a secret key written by `hive plugin keygen`");
  auto bytes = host::readPluginFile(pluginPath);
  if (!bytes.ok()) {
    sodium_memzero(secretKey.data(), secretKey.size());
    return bytes.status().withContext(pluginPath);
  }
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr, bytes->data(), bytes->size(), secretKey.data());
  sodium_memzero(secretKey.data(), secretKey.size());
  std::string signaturePath = pluginPath + ".sig";
  HIVE_TRY(writeAtomically(signaturePath, toBase64(signature.data(), signature.size()) + "\n", 0644));
  return signaturePath;
}

int keygenCommand(const std::string& secretPath) {
  auto publicKey = writeSigningKeyPair(secretPath);
  if (!publicKey.ok()) {
    std::cerr << "hive plugin keygen: " << publicKey.status().message() << "\n";
    return 1;
  }
  std::cout << "secret key: " << secretPath << " (keep it off the servers)\npublic key: " << secretPath
            << ".pub\n"
            << *publicKey << "\n";
  return 0;
}

int signCommand(const std::string& secretPath, const std::vector<std::string>& pluginPaths) {
  for (const auto& path : pluginPaths) {
    auto signature = signPluginFile(secretPath, path);
    if (!signature.ok()) {
      std::cerr << "hive plugin sign: " << signature.status().message() << "\n";
      return 1;
    }
    std::cout << "wrote " << *signature << "\n";
  }
  return 0;
}

}  // namespace hive::tools
