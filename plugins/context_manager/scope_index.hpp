// One scope's search index: the lexical (BM25) and semantic (hnswlib) halves,
// the texts to answer with, and hybrid ranking by reciprocal rank fusion.
//
// Hybrid ranking: each half ranks its best `candidates` entries; an entry's
// score is the sum over the halves of 1 / (rrf_k + rank), rank counted from 1,
// and the answer is the k best scores (ties: the newer entry first). RRF needs
// no calibration between BM25 scores and cosines, which live on unrelated
// scales; an entry that both halves rank high wins over one that a single half
// ranks first (docs/context.md).
//
// Thread-safe: one mutex per scope; searches of different scopes run in
// parallel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "lexical_index.hpp"
#include "vector_index.hpp"

namespace hive::context_manager {

struct SearchOptions {
  std::size_t candidates = 50;  // per half, at least k
  double rrfK = 60;
};

struct Hit {
  std::string id;
  std::string text;
  double score = 0;
};

enum class Ranking { kHybrid, kLexical, kSemantic };

class ScopeIndex {
 public:
  // `vectors`: a graph loaded from its file (then checked by the caller with
  // vectorLabels()), or null for an empty one.
  ScopeIndex(VectorParams params, SearchOptions search, std::unique_ptr<VectorIndex> vectors = nullptr);

  // Adds or replaces. The lexical half always; the semantic half only when
  // `vector` is given (a loaded graph already holds it).
  void add(std::uint64_t label, const std::string& id, const std::string& text,
           const std::vector<float>* vector);
  void remove(std::uint64_t label);
  bool contains(std::uint64_t label) const;
  std::vector<Hit> search(const std::string& query, const std::vector<float>& queryVector, std::size_t k,
                          Ranking ranking = Ranking::kHybrid) const;

  std::size_t entries() const;
  std::size_t tokens() const;   // estimated, of the entries' texts
  std::size_t vectors() const;  // live vectors in the graph
  std::vector<std::uint64_t> vectorLabels() const;
  void dropVector(std::uint64_t label);  // a label the graph holds but the store does not
  Status save(const std::filesystem::path& path, const std::string& model);
  bool dirty() const;

 private:
  struct Text {
    std::string id;
    std::string text;
  };
  mutable std::mutex mutex_;
  VectorParams params_;
  SearchOptions search_;
  LexicalIndex lexical_;
  std::unique_ptr<VectorIndex> vectors_;
  std::unordered_map<std::uint64_t, Text> texts_;
  std::size_t tokens_ = 0;
  bool dirty_ = false;
};

}  // namespace hive::context_manager
