// A fixed synthetic corpus for the index tests and bench/context: sentences of
// 6 to 16 words drawn from a 5,000-word vocabulary with Zipf-like frequencies
// (a few words common, most rare, as in notes agents write), from a seeded
// generator, so every run sees the same texts.
#pragma once

#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace hive::context_manager::testing {

class Corpus {
 public:
  explicit Corpus(std::uint32_t seed, std::size_t vocabulary = 5000) : random_(seed) {
    static const char* kSyllables[] = {"ka",  "lo",  "mi",  "ne", "ru",  "ta",  "vo",  "shi", "der", "pan",
                                       "gre", "bol", "fin", "ux", "zel", "qua", "tor", "wen", "ip",  "sa"};
    std::uniform_int_distribution<int> syllables(2, 4);
    std::uniform_int_distribution<int> pick(0, 19);
    for (std::size_t i = 0; i < vocabulary; ++i) {
      std::string word;
      int count = syllables(random_);
      for (int s = 0; s < count; ++s) word += kSyllables[pick(random_)];
      words_.push_back(word + std::to_string(i % 7));
      weights_.push_back(1.0 / std::pow(static_cast<double>(i + 1), 0.9));
    }
    zipf_ = std::discrete_distribution<std::size_t>(weights_.begin(), weights_.end());
  }

  std::string sentence() {
    std::uniform_int_distribution<int> length(6, 16);
    std::string text;
    int count = length(random_);
    for (int i = 0; i < count; ++i) {
      if (i != 0) text += ' ';
      text += words_[zipf_(random_)];
    }
    return text;
  }

 private:
  std::mt19937 random_;
  std::vector<std::string> words_;
  std::vector<double> weights_;
  std::discrete_distribution<std::size_t> zipf_;
};

}  // namespace hive::context_manager::testing
