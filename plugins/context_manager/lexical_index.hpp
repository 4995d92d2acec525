// The lexical half of a scope's index: an inverted index in memory, ranked
// with BM25 (k1 = 1.2, b = 0.75). Built from the store's entries at start
// (a pass over the texts, no file), kept current by every change after.
//
// Not thread-safe: ScopeIndex holds its lock around every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hive::context_manager {

class LexicalIndex {
 public:
  // `words` as text.hpp's words() cuts them.
  void add(std::uint64_t label, const std::vector<std::string>& words);
  void remove(std::uint64_t label);
  // Up to k labels that contain at least one query word, best first.
  std::vector<std::pair<std::uint64_t, double>> top(const std::vector<std::string>& query,
                                                    std::size_t k) const;
  std::size_t size() const { return live_; }

 private:
  struct Posting {
    std::uint32_t document;
    std::uint32_t count;
  };
  void compact();

  std::unordered_map<std::string, std::vector<Posting>> postings_;
  std::vector<std::uint64_t> labels_;   // by document number
  std::vector<std::uint32_t> lengths_;  // words; 0 once removed
  std::vector<bool> alive_;
  std::unordered_map<std::uint64_t, std::uint32_t> documents_;  // label -> document number
  std::size_t live_ = 0;
  std::size_t dead_ = 0;
  std::uint64_t totalLength_ = 0;
};

}  // namespace hive::context_manager
