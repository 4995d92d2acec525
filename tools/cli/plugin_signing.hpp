// `hive plugin keygen|sign`: the ed25519 keys and detached signatures that the
// kernel checks before it maps a plugin under hive.require_signed_plugins
// (host/plugin_signature.hpp, which also describes the file formats).
#pragma once

#include <string>
#include <vector>

#include "hive/status.hpp"

namespace hive::tools {

// Writes a new key pair: the secret key to `secretPath` (0600, refused when
// the file exists) and the public key to `secretPath + ".pub"`. Returns the
// public key's text.
Result<std::string> writeSigningKeyPair(const std::string& secretPath);

// Signs the bytes of `pluginPath` with the secret key in `secretKeyPath` and
// writes `pluginPath + ".sig"` (replaced atomically). Returns the signature
// file's path.
Result<std::string> signPluginFile(const std::string& secretKeyPath, const std::string& pluginPath);

// `hive plugin keygen OUT` and `hive plugin sign --key KEY PLUGIN...`: say
// what they wrote on stdout, or the error on stderr; the exit code.
int keygenCommand(const std::string& secretPath);
int signCommand(const std::string& secretPath, const std::vector<std::string>& pluginPaths);

}  // namespace hive::tools
