#include "hashing_embedder.hpp"

#include <cmath>
#include <cstdint>
#include <string_view>
#include <unordered_map>

#include "text.hpp"

namespace hive::context_manager {

namespace {

// FNV-1a, 64 bits, with a seed byte so that the three feature kinds do not
// share buckets by construction.
std::uint64_t hashOf(std::string_view text, unsigned char seed) {
  std::uint64_t hash = 1469598103934665603ULL ^ seed;
  hash *= 1099511628211ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

// Weights of the feature kinds: whole words carry most of the meaning, the
// letter groups make the vector tolerant to inflections and typos.
constexpr float kWordWeight = 1.0F;
constexpr float kPairWeight = 0.5F;
constexpr float kTrigramWeight = 0.35F;

}  // namespace

std::vector<float> HashingEmbedder::embedOne(const std::string& text) const {
  std::unordered_map<std::uint64_t, float> counts;
  auto add = [&](std::string_view feature, unsigned char seed, float weight) {
    counts[hashOf(feature, seed)] += weight;
  };
  std::vector<std::string> tokens = words(text);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    add(tokens[i], 'w', kWordWeight);
    if (i + 1 < tokens.size()) add(tokens[i] + ' ' + tokens[i + 1], 'p', kPairWeight);
    std::string padded = ' ' + tokens[i] + ' ';
    for (std::size_t j = 0; j + 3 <= padded.size(); ++j)
      add(std::string_view(padded).substr(j, 3), 't', kTrigramWeight);
  }
  std::vector<float> vector(dimension_, 0.0F);
  for (const auto& [hash, count] : counts) {
    // Dampened: a word said ten times is not ten times the topic.
    float value = (1.0F + std::log(1.0F + count)) * (count > 0 ? 1.0F : 0.0F);
    vector[hash % dimension_] += (hash >> 63) != 0 ? -value : value;
  }
  double norm = 0;
  for (float value : vector) norm += static_cast<double>(value) * value;
  if (norm > 0) {
    auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& value : vector) value *= scale;
  }
  return vector;
}

Result<std::vector<std::vector<float>>> HashingEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (const std::string& text : texts) out.push_back(embedOne(text));
  return out;
}

}  // namespace hive::context_manager
