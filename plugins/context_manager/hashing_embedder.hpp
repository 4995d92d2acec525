// The built-in hive.embedder/1 provider: feature hashing, no model, no network.
//
// Each word, each pair of neighbouring words and each group of three letters
// of a word (with its boundaries, " ca", "cat", "at ") is hashed to one of
// `dimension` buckets with a sign taken from the same hash; the counts are
// dampened (1 + log) and the vector scaled to unit length. Two texts are close
// when they share words and spellings, so it finds "restart the worker" for
// "worker restarts" and tolerates typos — but it knows no synonyms ("car" is
// not near "automobile") and no meaning beyond the letters: docs/context.md.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hive/services/embedder.hpp"

namespace hive::context_manager {

class HashingEmbedder final : public embedder::Embedder {
 public:
  explicit HashingEmbedder(std::size_t dimension) : dimension_(dimension) {}

  // One text; never fails.
  std::vector<float> embedOne(const std::string& text) const;

  // hive::embedder::Embedder
  std::size_t dimension() const override { return dimension_; }
  std::string model() const override { return "hashing-v1/" + std::to_string(dimension_); }
  Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) override;

 private:
  std::size_t dimension_;
};

}  // namespace hive::context_manager
