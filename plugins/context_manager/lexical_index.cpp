#include "lexical_index.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace hive::context_manager {

namespace {
constexpr double kK1 = 1.2;
constexpr double kB = 0.75;
// Removed documents stay in the postings until there are this many (and more
// than live ones): document frequencies count them until then.
constexpr std::size_t kCompactAfter = 1024;
}  // namespace

void LexicalIndex::add(std::uint64_t label, const std::vector<std::string>& words) {
  remove(label);
  auto document = static_cast<std::uint32_t>(labels_.size());
  labels_.push_back(label);
  lengths_.push_back(static_cast<std::uint32_t>(words.size()));
  alive_.push_back(true);
  documents_[label] = document;
  std::unordered_map<std::string_view, std::uint32_t> counts;
  for (const std::string& word : words) ++counts[word];
  for (const auto& [word, count] : counts) postings_[std::string(word)].push_back({document, count});
  ++live_;
  totalLength_ += words.size();
}

void LexicalIndex::remove(std::uint64_t label) {
  auto found = documents_.find(label);
  if (found == documents_.end()) return;
  std::uint32_t document = found->second;
  documents_.erase(found);
  alive_[document] = false;
  totalLength_ -= lengths_[document];
  lengths_[document] = 0;
  --live_;
  ++dead_;
  if (dead_ > std::max(kCompactAfter, live_)) compact();
}

void LexicalIndex::compact() {
  for (auto it = postings_.begin(); it != postings_.end();) {
    auto& list = it->second;
    list.erase(
        std::remove_if(list.begin(), list.end(), [this](const Posting& p) { return !alive_[p.document]; }),
        list.end());
    it = list.empty() ? postings_.erase(it) : std::next(it);
  }
  dead_ = 0;
}

std::vector<std::pair<std::uint64_t, double>> LexicalIndex::top(const std::vector<std::string>& query,
                                                                std::size_t k) const {
  std::vector<std::pair<std::uint64_t, double>> out;
  if (live_ == 0 || k == 0) return out;
  const double documents = static_cast<double>(live_);
  const double averageLength = std::max(1.0, static_cast<double>(totalLength_) / documents);
  std::vector<float> scores(labels_.size(), 0.0F);
  std::vector<std::uint32_t> touched;
  std::unordered_set<std::string_view> seen;
  for (const std::string& word : query) {
    if (!seen.insert(word).second) continue;
    auto found = postings_.find(word);
    if (found == postings_.end()) continue;
    const double frequency = static_cast<double>(found->second.size());
    const double idf = std::log(1.0 + (documents - frequency + 0.5) / (frequency + 0.5));
    for (const Posting& posting : found->second) {
      if (!alive_[posting.document]) continue;
      const double tf = posting.count;
      const double norm = kK1 * (1.0 - kB + kB * lengths_[posting.document] / averageLength);
      if (scores[posting.document] == 0.0F) touched.push_back(posting.document);
      scores[posting.document] += static_cast<float>(idf * tf * (kK1 + 1.0) / (tf + norm));
    }
  }
  auto better = [&](std::uint32_t a, std::uint32_t b) {
    return scores[a] != scores[b] ? scores[a] > scores[b] : labels_[a] > labels_[b];
  };
  std::size_t keep = std::min(k, touched.size());
  std::partial_sort(touched.begin(), touched.begin() + static_cast<std::ptrdiff_t>(keep), touched.end(),
                    better);
  out.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) out.emplace_back(labels_[touched[i]], scores[touched[i]]);
  return out;
}

}  // namespace hive::context_manager
