#include "config.hpp"

namespace hive::data_processing_engine {

Options readConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Options options;
  Limits& limits = options.limits;
  auto size = [&](const char* key, std::size_t fallback, std::int64_t low, std::int64_t high) {
    return static_cast<std::size_t>(
        reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), low, high));
  };
  limits.maxInputBytes = size("max_input_bytes", limits.maxInputBytes, 1024, std::int64_t{16} << 30);
  limits.maxItems = size("max_items", limits.maxItems, 1, 100000000);
  limits.maxChunks = size("max_chunks", limits.maxChunks, 1, 1000000);
  limits.maxChunkSize = size("max_chunk_size", limits.maxChunkSize, 1, 1000000);
  limits.maxParallelism = size("max_parallelism", limits.maxParallelism, 1, 10000);
  limits.maxRetries = static_cast<std::uint32_t>(size("max_retries", limits.maxRetries, 0, 100));
  limits.maxOutputBytes = size("max_output_bytes", limits.maxOutputBytes, 1024, std::int64_t{16} << 30);
  options.inputDirectory = reader.get<std::string>("input_dir", "");
  options.outputDirectory = reader.get<std::string>("output_dir", "");
  for (const char* key : {"input_dir", "output_dir"}) {
    std::string value = reader.get<std::string>(key, "");
    if (!value.empty() && value.front() != '/') reader.reject(key, "must be an absolute path");
  }
  options.reconcilePeriod = reader.getInRange<std::chrono::milliseconds>(
      "reconcile_period", options.reconcilePeriod, std::chrono::milliseconds(50), std::chrono::minutes(10));
  options.taskCallTimeout = reader.getInRange<std::chrono::milliseconds>(
      "task_call_timeout", options.taskCallTimeout, std::chrono::milliseconds(100), std::chrono::minutes(10));
  reader.finish();
  return options;
}

}  // namespace hive::data_processing_engine
