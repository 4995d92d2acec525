#include "scope_index.hpp"

#include <algorithm>

#include "text.hpp"

namespace hive::context_manager {

ScopeIndex::ScopeIndex(VectorParams params, SearchOptions search, std::unique_ptr<VectorIndex> vectors)
    : params_(params), search_(search), vectors_(std::move(vectors)) {
  if (!vectors_) vectors_ = std::make_unique<VectorIndex>(params_);
}

void ScopeIndex::add(std::uint64_t label, const std::string& id, const std::string& text,
                     const std::vector<float>* vector) {
  std::lock_guard lock(mutex_);
  lexical_.add(label, words(text));
  if (vector != nullptr) {
    vectors_->add(label, *vector);
    dirty_ = true;
  }
  auto [slot, inserted] = texts_.try_emplace(label);
  if (!inserted) tokens_ -= estimateTokens(slot->second.text);
  slot->second = {id, text};
  tokens_ += estimateTokens(text);
}

void ScopeIndex::remove(std::uint64_t label) {
  std::lock_guard lock(mutex_);
  lexical_.remove(label);
  if (vectors_->contains(label)) {
    vectors_->remove(label);
    dirty_ = true;
  }
  if (auto found = texts_.find(label); found != texts_.end()) {
    tokens_ -= estimateTokens(found->second.text);
    texts_.erase(found);
  }
}

bool ScopeIndex::contains(std::uint64_t label) const {
  std::lock_guard lock(mutex_);
  return texts_.count(label) != 0;
}

std::vector<Hit> ScopeIndex::search(const std::string& query, const std::vector<float>& queryVector,
                                    std::size_t k, Ranking ranking) const {
  std::lock_guard lock(mutex_);
  const std::size_t depth = std::max(k, search_.candidates);
  std::unordered_map<std::uint64_t, double> fused;
  auto fuse = [&](const auto& ranked) {
    for (std::size_t rank = 0; rank < ranked.size(); ++rank)
      fused[ranked[rank].first] += 1.0 / (search_.rrfK + static_cast<double>(rank + 1));
  };
  std::vector<std::pair<std::uint64_t, double>> single;
  if (ranking == Ranking::kLexical) {
    single = lexical_.top(words(query), k);
  } else if (ranking == Ranking::kSemantic) {
    for (const auto& [label, similarity] : vectors_->nearest(queryVector, k))
      single.emplace_back(label, similarity);
  } else {
    fuse(lexical_.top(words(query), depth));
    fuse(vectors_->nearest(queryVector, depth));
    single.assign(fused.begin(), fused.end());
    std::sort(single.begin(), single.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first > b.first;
    });
    if (single.size() > k) single.resize(k);
  }
  std::vector<Hit> hits;
  hits.reserve(single.size());
  for (const auto& [label, score] : single) {
    auto found = texts_.find(label);
    // A vector without its entry (the graph may hold one the store lost) is
    // never answered.
    if (found == texts_.end()) continue;
    hits.push_back({found->second.id, found->second.text, score});
  }
  return hits;
}

std::size_t ScopeIndex::entries() const {
  std::lock_guard lock(mutex_);
  return texts_.size();
}

std::size_t ScopeIndex::tokens() const {
  std::lock_guard lock(mutex_);
  return tokens_;
}

std::size_t ScopeIndex::vectors() const {
  std::lock_guard lock(mutex_);
  return vectors_->size();
}

std::vector<std::uint64_t> ScopeIndex::vectorLabels() const {
  std::lock_guard lock(mutex_);
  return vectors_->labels();
}

void ScopeIndex::dropVector(std::uint64_t label) {
  std::lock_guard lock(mutex_);
  vectors_->remove(label);
  dirty_ = true;
}

Status ScopeIndex::save(const std::filesystem::path& path, const std::string& model) {
  std::lock_guard lock(mutex_);
  HIVE_TRY(vectors_->save(path, model));
  dirty_ = false;
  return okStatus();
}

bool ScopeIndex::dirty() const {
  std::lock_guard lock(mutex_);
  return dirty_;
}

}  // namespace hive::context_manager
