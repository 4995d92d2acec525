// The kernel's configuration file as `hive check-config` and `hive run` read
// it: the bytes are written to a file and loaded by loadKernelConfig (YAML
// parse with locations, ${VAR} expansion, validation of `hive:` and
// `plugins:`). The environment is a fixed fake, so that a run is repeatable.
//
// Properties checked, beyond "no sanitizer report" and "no exception escapes":
// - a refused file comes with at least one error diagnostic (what
//   check-config prints), and an accepted one with none;
// - every diagnostic names the file it is about.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "host/config/kernel_config.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "config_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

std::optional<std::string> environment(const std::string& name) {
  if (name == "HIVE_PORT") return "8080";
  if (name == "HIVE_DATA") return "/var/lib/hive";
  if (name == "EMPTY") return "";
  return std::nullopt;
}

const std::string& configPath() {
  static const std::string path = [] {
    char directory[] = "/tmp/hive-config-fuzz-XXXXXX";
    if (::mkdtemp(directory) == nullptr) broken("mkdtemp failed");
    return std::string(directory) + "/hive.yaml";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = configPath();
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) broken("cannot write", path);
  if (size > 0 && std::fwrite(data, 1, size, file) != size) broken("short write", path);
  std::fclose(file);

  hive::Diagnostics diagnostics;
  auto config = hive::host::loadKernelConfig(path, diagnostics, environment);
  if (config.ok() && diagnostics.errorCount() > 0) broken("accepted with errors", diagnostics.toString());
  if (!config.ok() && diagnostics.errorCount() == 0)
    broken("refused without an error diagnostic", config.status().toString());
  for (const auto& item : diagnostics.items())
    if (item.toString().rfind(path, 0) != 0) broken("a diagnostic without its file", item.toString());
  return 0;
}
