// The hive.embedder/1 provider the config names.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config.hpp"
#include "hive/services/embedder.hpp"

namespace hive::context_manager {

// `keySource` gives the OpenAI-compatible provider its key when the options
// name a secret (api_key_secret).
std::shared_ptr<embedder::Embedder> makeEmbedder(const EmbedderOptions& options,
                                                 std::function<Result<std::string>()> keySource = {});

}  // namespace hive::context_manager
