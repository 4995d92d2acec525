#include "config.hpp"

#include <cctype>
#include <cstdint>
#include <cstdlib>

namespace hive::context_manager {

namespace {

std::size_t count(ConfigReader& reader, const char* key, std::size_t fallback, std::int64_t low,
                  std::int64_t high) {
  return static_cast<std::size_t>(
      reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), low, high));
}

void readEmbedder(const ConfigNode& node, Diagnostics& diagnostics, EmbedderOptions& options) {
  ConfigReader reader(node, diagnostics);
  std::string provider = reader.get<std::string>("provider", "hashing");
  if (provider == "openai") {
    options.kind = EmbedderKind::kOpenAi;
  } else if (provider != "hashing") {
    reader.reject("provider", "must be hashing or openai");
  }
  options.dimension = count(reader, "dimension", options.dimension, 8, 8192);
  options.url = reader.get<std::string>("url", "");
  options.model = reader.get<std::string>("model", "");
  options.apiKey = reader.get<std::string>("api_key", "");
  options.apiKeySecret = reader.get<std::string>("api_key_secret", "");
  if (!options.apiKeySecret.empty()) {
    const std::string& name = options.apiKeySecret;
    bool valid = name.size() <= 128 && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
    for (char c : name)
      valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
    if (!valid) reader.reject("api_key_secret", "a secret name is [A-Za-z_][A-Za-z0-9_.-]{0,127}");
    if (!options.apiKey.empty()) reader.reject("api_key_secret", "give api_key or api_key_secret, not both");
  }
  std::string keyVariable = reader.get<std::string>("api_key_env", "HIVE_EMBEDDER_API_KEY");
  if (options.apiKey.empty() && !keyVariable.empty())
    if (const char* value = std::getenv(keyVariable.c_str())) options.apiKey = value;
  options.timeout = reader.getInRange<std::chrono::milliseconds>(
      "timeout", options.timeout, std::chrono::milliseconds(100), std::chrono::minutes(5));
  options.retries = reader.getInRange<int>("retries", options.retries, 0, 10);
  options.batch = count(reader, "batch", options.batch, 1, 2048);
  if (options.kind == EmbedderKind::kOpenAi) {
    if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0)
      reader.reject("url", "provider openai needs url: http(s)://host[:port]/v1/embeddings");
    if (options.model.empty()) reader.reject("model", "provider openai needs a model name");
    if (!reader.has("dimension")) reader.reject("dimension", "provider openai needs the model's dimension");
  }
  reader.finish();
}

void readIndex(const ConfigNode& node, Diagnostics& diagnostics, IndexOptions& options) {
  ConfigReader reader(node, diagnostics);
  options.vectors.m = count(reader, "m", options.vectors.m, 4, 128);
  options.vectors.efConstruction = count(reader, "ef_construction", options.vectors.efConstruction, 10, 2000);
  options.vectors.efSearch = count(reader, "ef_search", options.vectors.efSearch, 10, 2000);
  options.search.candidates = count(reader, "candidates", options.search.candidates, 1, 1000);
  options.search.rrfK = reader.getInRange<double>("rrf_k", options.search.rrfK, 1, 1000);
  reader.finish();
}

void readBudget(const ConfigNode& node, Diagnostics& diagnostics, BudgetOptions& options) {
  ConfigReader reader(node, diagnostics);
  options.maxEntries = count(reader, "max_entries", options.maxEntries, 0, 100000000);
  options.maxTokens = count(reader, "max_tokens", options.maxTokens, 0, 1000000000);
  options.keepFraction = reader.getInRange<double>("keep_fraction", options.keepFraction, 0.05, 0.95);
  options.capability = reader.get<std::string>("capability", options.capability);
  if (options.capability.empty()) reader.reject("capability", "must not be empty");
  options.priority = reader.getInRange<int>("priority", options.priority, 1, 10);
  options.maxInputBytes = count(reader, "max_input_bytes", options.maxInputBytes, 1024, 16 * 1024 * 1024);
  options.checkPeriod = reader.getInRange<std::chrono::milliseconds>(
      "check_period", options.checkPeriod, std::chrono::milliseconds(100), std::chrono::hours(1));
  reader.finish();
}

}  // namespace

Options readConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Options options;
  options.limits.maxTextBytes =
      count(reader, "max_text_bytes", options.limits.maxTextBytes, 16, 16 * 1024 * 1024);
  options.limits.maxMetadataBytes =
      count(reader, "max_metadata_bytes", options.limits.maxMetadataBytes, 2, 1024 * 1024);
  options.limits.maxK = count(reader, "max_k", options.limits.maxK, 1, 1000);
  options.savePeriod = reader.getInRange<std::chrono::milliseconds>(
      "index_save_period", options.savePeriod, std::chrono::milliseconds(100), std::chrono::hours(24));
  readEmbedder(reader.child("embedder"), diagnostics, options.embedder);
  readIndex(reader.child("index"), diagnostics, options.index);
  readBudget(reader.child("budget"), diagnostics, options.budget);
  reader.finish();
  return options;
}

}  // namespace hive::context_manager
