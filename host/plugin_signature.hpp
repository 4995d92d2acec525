// Detached ed25519 signatures of plugin files (libsodium): the check the
// kernel makes before it maps one. Keys and signatures are made by `hive
// plugin keygen|sign` (tools/cli/plugin_signing.hpp).
//
// The check runs on PluginFile::bytes, the copy the kernel read once and is
// about to seal into its memfd and dlopen: reading the path again to verify it
// would let a file replaced between the check and the load run unsigned code.
// The signature file (`<plugin>.sig`) may be read separately: it is only
// evidence, verified against those bytes and the trusted keys.
//
// Formats (text, one line each, so that they can be pasted into a config):
//   secret key file  base64 of libsodium's 64-byte ed25519 secret key, mode 0600
//   public key       base64 of the 32-byte key, or 64 hex digits
//   signature file   base64 of the 64-byte detached signature of the whole file
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hive/status.hpp"

namespace hive::host {

struct PluginFile;

using PublicKey = std::array<unsigned char, 32>;

// hive.require_signed_plugins and hive.trusted_keys.
struct PluginTrust {
  bool requireSigned = false;
  std::vector<PublicKey> trustedKeys;
  bool operator==(const PluginTrust&) const = default;
};

// A key as written in hive.trusted_keys or a .pub file: base64 or hex, with
// surrounding whitespace ignored.
Result<PublicKey> parsePublicKey(std::string_view text);

// With trust.requireSigned: OK only when `<file.path>.sig` holds a signature of
// file.bytes by one of the trusted keys. Otherwise OK. The error is one line
// naming the file and the reason.
Status verifyPluginSignature(const PluginFile& file, const PluginTrust& trust);

// The formats above, read: the text of a key or signature file (at most 4
// KiB), and the base64 in such a text decoded to exactly out.size() bytes
// (surrounding whitespace ignored; false for anything else). The verifier
// here and `hive plugin sign` (tools/cli/plugin_signing.hpp) share them.
Result<std::string> readKeyOrSignatureFile(const std::string& path);
bool decodeBase64(std::string_view text, std::span<unsigned char> out);

}  // namespace hive::host
