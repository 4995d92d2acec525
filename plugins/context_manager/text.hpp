// Words of a text, as both indexes see them: the lexical index scores them,
// the hashing embedder hashes them and their letter groups.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hive::context_manager {

// Maximal runs of ASCII letters and digits, lower-cased, and of bytes >= 0x80
// (so UTF-8 words of other scripts stay whole, unnormalised). Words longer
// than 64 bytes are cut: no single token can cost much.
std::vector<std::string> words(std::string_view text);

// What a language model would count, roughly: one token per 4 bytes. Only used
// against the context budget, where an estimate is what the operator sets.
std::size_t estimateTokens(std::string_view text);

}  // namespace hive::context_manager
