// bench/context: hybrid search over one context of N entries (default
// 100,000) of the fixed synthetic corpus (plugins/context_manager/tests/
// corpus.hpp) with the built-in hashing embedder. Prints the index build
// time, the graph's save and load times, the latency of hybrid searches
// (p50/p99, embedding of the query included) and the recall@10 of the graph
// against brute force on a sample of queries.
//
//   build/dev/bin/bench_context [--entries N] [--queries Q] [--ef-search E] [--dimension D]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "corpus.hpp"
#include "hashing_embedder.hpp"
#include "scope_index.hpp"

using namespace hive::context_manager;
using Clock = std::chrono::steady_clock;

namespace {

double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<std::size_t>(p * static_cast<double>(values.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t entries = 100000;
  std::size_t queries = 2000;
  std::size_t dimension = 256;
  VectorParams params;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::size_t value = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--entries") == 0)
      entries = value;
    else if (std::strcmp(argv[i], "--queries") == 0)
      queries = value;
    else if (std::strcmp(argv[i], "--ef-search") == 0)
      params.efSearch = value;
    else if (std::strcmp(argv[i], "--dimension") == 0)
      dimension = value;
    else {
      std::fprintf(stderr, "usage: %s [--entries N] [--queries Q] [--ef-search E] [--dimension D]\n",
                   argv[0]);
      return 2;
    }
  }
  params.dimension = dimension;
  HashingEmbedder embedder(dimension);
  testing::Corpus corpus(20261205);
  std::vector<std::string> texts(entries);
  for (std::string& text : texts) text = corpus.sentence();

  auto start = Clock::now();
  std::vector<std::vector<float>> vectors(entries);
  for (std::size_t i = 0; i < entries; ++i) vectors[i] = embedder.embedOne(texts[i]);
  double embedMs = millisecondsSince(start);
  start = Clock::now();
  ScopeIndex index(params, {});
  for (std::size_t i = 0; i < entries; ++i) index.add(i + 1, std::to_string(i + 1), texts[i], &vectors[i]);
  double buildMs = millisecondsSince(start);
  auto file =
      std::filesystem::temp_directory_path() / ("bench_context-" + std::to_string(::getpid()) + ".hnsw");
  start = Clock::now();
  if (!index.save(file, embedder.model()).ok()) return 1;
  double saveMs = millisecondsSince(start);
  start = Clock::now();
  auto loaded = VectorIndex::load(file, embedder.model(), params);
  double loadMs = millisecondsSince(start);
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + ".meta");
  if (!loaded.ok()) return 1;

  std::vector<std::string> asked(queries);
  for (std::string& query : asked) query = corpus.sentence().substr(0, 40);
  std::vector<double> latencies;
  latencies.reserve(queries);
  for (const std::string& query : asked) {
    auto begin = Clock::now();
    auto hits = index.search(query, embedder.embedOne(query), 10);
    latencies.push_back(millisecondsSince(begin));
    if (hits.empty()) return 1;
  }
  // Recall of the graph alone, on the first 100 queries.
  std::size_t sample = std::min<std::size_t>(100, queries);
  std::size_t found = 0;
  for (std::size_t q = 0; q < sample; ++q) {
    auto vector = embedder.embedOne(asked[q]);
    std::vector<std::pair<float, std::size_t>> exact(entries);
    for (std::size_t i = 0; i < entries; ++i)
      exact[i] = {-std::inner_product(vector.begin(), vector.end(), vectors[i].begin(), 0.0F), i + 1};
    std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
    std::set<std::uint64_t> truth;
    for (std::size_t i = 0; i < 10; ++i) truth.insert(exact[i].second);
    for (const auto& [label, similarity] : (*loaded)->nearest(vector, 10)) found += truth.count(label);
  }
  std::printf("entries %zu, dimension %zu, M %zu, ef_construction %zu, ef_search %zu\n", entries, dimension,
              params.m, params.efConstruction, params.efSearch);
  std::printf("embed all: %.0f ms; build index (BM25 + hnswlib): %.0f ms (%.0f entries/s)\n", embedMs,
              buildMs, static_cast<double>(entries) / (buildMs / 1000.0));
  std::printf("save graph: %.0f ms; load graph: %.0f ms\n", saveMs, loadMs);
  std::printf(
      "hybrid search k=10 (query embedding included), %zu queries: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
      queries, percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(latencies, 1.0));
  std::printf("graph recall@10 vs brute force (%zu queries): %.4f\n", sample,
              static_cast<double>(found) / static_cast<double>(sample * 10));
  return 0;
}
