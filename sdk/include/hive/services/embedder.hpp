// hive.embedder/1 — text to vectors, for semantic search.
//
// A provider turns texts into dense vectors of one fixed dimension, such that
// the cosine similarity of two vectors says how close the texts are in
// meaning (how well depends on the provider: context_manager's built-in
// `hashing` provider only sees shared words and letter groups; an
// OpenAI-compatible endpoint sees meaning). Vectors are unit length (L2 norm 1,
// or all zeros for a text with nothing to embed), so a dot product is the
// cosine.
//
// embed() blocks (a provider may call a server): call it from the blocking
// executor (PluginContext::blocking()), never from an I/O thread. Thread-safe.
// No exception crosses it; errors are values: kInvalidArgument (a text the
// provider will never accept: too long, too many texts), kUnavailable (the
// server is down or timed out after the provider's retries: try later),
// kPermissionDenied (the provider's credentials were refused).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::embedder {

class Embedder : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.embedder", 1};

  // Length of every vector embed() returns; fixed for the provider's lifetime.
  virtual std::size_t dimension() const = 0;
  // Names the provider and model ("hashing-v1/256", "openai/text-embedding-3-small"):
  // vectors from two different models must not be compared, so a caller that
  // keeps vectors keeps this name with them and embeds again when it changes.
  virtual std::string model() const = 0;
  // One vector per text, in order. All or nothing.
  virtual Result<std::vector<std::vector<float>>> embed(const std::vector<std::string>& texts) = 0;
};

}  // namespace hive::embedder
