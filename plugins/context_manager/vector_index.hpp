// The semantic half of a scope's index: an hnswlib graph over unit vectors
// (inner product), with its file on disk.
//
// The file is an accelerator, never the truth: the store holds every entry and
// its vector. save() writes `<path>` (hnswlib's format) and `<path>.meta` (the
// model, the dimension and a checksum of the graph file) through temporary
// files renamed in place; load() refuses a graph whose meta is missing, names
// another model or dimension, or whose checksum differs — a file torn by a
// crash, or left by another embedder — and the caller rebuilds from the store.
// A loaded graph is then checked label by label against the store (Contexts).
//
// Not thread-safe: ScopeIndex holds its lock around every call. hnswlib's
// searchKnn counts its hops in plain members, so even two searches must not
// overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hive/status.hpp"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
}  // namespace hnswlib

namespace hive::context_manager {

class DotSpace;

struct VectorParams {
  std::size_t dimension = 256;
  std::size_t m = 16;                // links per node
  std::size_t efConstruction = 200;  // candidates while inserting
  std::size_t efSearch = 128;        // candidates while searching (at least k)
  std::size_t seed = 100;            // level generator: a fixed seed builds the same graph
};

class VectorIndex {
 public:
  explicit VectorIndex(VectorParams params, std::size_t capacity = 1024);
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // kNotFound: no file; kDataLoss: a file that does not check (see above).
  static Result<std::unique_ptr<VectorIndex>> load(const std::filesystem::path& path,
                                                   const std::string& model, VectorParams params);
  Status save(const std::filesystem::path& path, const std::string& model) const;

  // `vector` has params.dimension values. Replaces the vector of a label seen before.
  void add(std::uint64_t label, const std::vector<float>& vector);
  void remove(std::uint64_t label);
  bool contains(std::uint64_t label) const;
  std::vector<std::uint64_t> labels() const;  // live ones
  std::size_t size() const { return live_; }

  // Up to k labels, most similar first, with their cosine similarity.
  std::vector<std::pair<std::uint64_t, float>> nearest(const std::vector<float>& query, std::size_t k) const;

 private:
  void grow();
  void compact();

  VectorParams params_;
  std::unique_ptr<DotSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  std::size_t live_ = 0;
  std::size_t deleted_ = 0;
};

}  // namespace hive::context_manager
