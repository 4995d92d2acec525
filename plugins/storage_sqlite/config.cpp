#include "config.hpp"

#include <cstdint>

namespace hive::storage_sqlite {

namespace {

template <typename T>
T inRange(ConfigReader& reader, std::string_view key, T fallback, std::int64_t lowest, std::int64_t highest) {
  return static_cast<T>(
      reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), lowest, highest));
}

}  // namespace

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  Settings settings;
  ConfigReader reader(section, diagnostics);
  settings.path = reader.get<std::string>("path", settings.path);
  if (settings.path.empty()) reader.reject("path", "must not be empty");
  if (settings.path.find('\0') != std::string::npos) reader.reject("path", "must not contain NUL");

  std::string synchronous = reader.get<std::string>("synchronous", "full");
  if (synchronous == "full") {
    settings.synchronous = Synchronous::kFull;
  } else if (synchronous == "normal") {
    settings.synchronous = Synchronous::kNormal;
  } else {
    reader.reject("synchronous", "expected 'full' or 'normal', got '" + synchronous + "'");
  }

  settings.busyTimeout = reader.get<std::chrono::milliseconds>("busy_timeout", settings.busyTimeout);
  if (settings.busyTimeout > std::chrono::minutes(10)) {
    reader.reject("busy_timeout", "must be at most 10m");
    settings.busyTimeout = std::chrono::milliseconds(5000);
  }
  settings.readers = inRange<int>(reader, "readers", settings.readers, 1, 32);
  settings.maxDocumentBytes =
      inRange<std::size_t>(reader, "max_document_bytes", settings.maxDocumentBytes, 1, 64 << 20);
  settings.maxPayloadBytes =
      inRange<std::size_t>(reader, "max_payload_bytes", settings.maxPayloadBytes, 1, 64 << 20);
  settings.maxBatch = inRange<std::size_t>(reader, "max_batch", settings.maxBatch, 1, 10000);
  settings.maxPendingWrites =
      inRange<std::size_t>(reader, "max_pending_writes", settings.maxPendingWrites, 1, 1000000);
  settings.incrementalVacuumPages =
      inRange<std::size_t>(reader, "incremental_vacuum_pages", settings.incrementalVacuumPages, 0, 100000);
  if (const ConfigNode& faults = reader.child("fault_injection"); !faults.isNull()) {
    ConfigReader faultReader(faults, diagnostics);
    settings.faultWriterStall =
        faultReader.get<std::chrono::milliseconds>("writer_stall", settings.faultWriterStall);
    if (settings.faultWriterStall > std::chrono::hours(1))
      faultReader.reject("writer_stall", "must be at most 1h");
    settings.faultWriterStallFile = faultReader.get<std::string>("when_file_exists", "");
    faultReader.finish();
  }
  reader.finish();
  return settings;
}

std::string databasePath(const Settings& settings, const std::string& dataDirectory) {
  if (settings.path.front() == '/') return settings.path;
  return dataDirectory + "/" + settings.path;
}

}  // namespace hive::storage_sqlite
