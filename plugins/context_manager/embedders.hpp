// The hive.embedder/1 provider the config names.
#pragma once

#include <memory>

#include "config.hpp"
#include "hive/services/embedder.hpp"

namespace hive::context_manager {

std::shared_ptr<embedder::Embedder> makeEmbedder(const EmbedderOptions& options);

}  // namespace hive::context_manager
