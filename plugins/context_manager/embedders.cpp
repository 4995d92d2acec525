#include "embedders.hpp"

#include "hashing_embedder.hpp"

namespace hive::context_manager {

std::shared_ptr<embedder::Embedder> makeEmbedder(const EmbedderOptions& options) {
  return std::make_shared<HashingEmbedder>(options.dimension);
}

}  // namespace hive::context_manager
