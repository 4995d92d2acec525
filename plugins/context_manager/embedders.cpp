#include "embedders.hpp"

#include "hashing_embedder.hpp"
#include "openai_embedder.hpp"

namespace hive::context_manager {

std::shared_ptr<embedder::Embedder> makeEmbedder(const EmbedderOptions& options) {
  if (options.kind == EmbedderKind::kOpenAi) return std::make_shared<OpenAiEmbedder>(options);
  return std::make_shared<HashingEmbedder>(options.dimension);
}

}  // namespace hive::context_manager
