// The vault's master keys: 32 bytes, from a file only its owner can read or
// from an environment variable, as 64 hex digits. Held in memory that is
// wiped when the key goes, never logged; a key is known elsewhere only by its
// id, a digest that does not reveal it.
#pragma once

#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::security_engine {

inline constexpr std::size_t kMasterKeyBytes = 32;

class MasterKey {
 public:
  MasterKey() = default;
  MasterKey(const MasterKey& other) : bytes_(other.bytes_), id_(other.id_) {}
  MasterKey& operator=(const MasterKey& other);
  MasterKey(MasterKey&& other) noexcept;
  MasterKey& operator=(MasterKey&& other) noexcept;
  ~MasterKey() { wipe(); }

  // 64 hex digits (surrounding whitespace ignored) -> the key.
  static Result<MasterKey> fromHex(std::string_view text);
  // A file holding 64 hex digits; refused when group or others may read it.
  static Result<MasterKey> fromFile(const std::string& path);
  // The environment variable `name` holding 64 hex digits.
  static Result<MasterKey> fromEnvironment(const std::string& name);

  bool empty() const { return bytes_.empty(); }
  const unsigned char* data() const { return reinterpret_cast<const unsigned char*>(bytes_.data()); }
  // 16 hex digits of BLAKE2b("hive.secrets key id" || key): names the key in
  // stored values without revealing it.
  const std::string& id() const { return id_; }

 private:
  void wipe();

  std::string bytes_;
  std::string id_;
};

}  // namespace hive::security_engine
