#include "vector_index.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <boost/json.hpp>
// hnswlib 0.6.2's SSE code prefetches one link past the end of a node's link
// list (searchBaseLayer reads datal[j + 1] for the last j): a heap read out of
// bounds that AddressSanitizer reports. The plain loops have no such read.
#define NO_MANUAL_VECTORIZATION
#include <sstream>

#include <hnswlib/hnswlib.h>

namespace hive::context_manager {

namespace json = boost::json;

// Distance 1 - dot product (the vectors are unit length): hnswlib's own
// InnerProductSpace without its SSE code (see above) is a single running sum
// the compiler may not reorder; eight independent sums it vectorises.
class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(std::size_t dimension) : dimension_(dimension) {}
  std::size_t get_data_size() override { return dimension_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return &dimension_; }

 private:
  static float distance(const void* left, const void* right, const void* parameter) {
    const auto* a = static_cast<const float*>(left);
    const auto* b = static_cast<const float*>(right);
    const std::size_t dimension = *static_cast<const std::size_t*>(parameter);
    float sums[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= dimension; i += 8)
      for (std::size_t lane = 0; lane < 8; ++lane) sums[lane] += a[i + lane] * b[i + lane];
    float dot = 0;
    for (; i < dimension; ++i) dot += a[i] * b[i];
    for (float sum : sums) dot += sum;
    return 1.0F - dot;
  }
  std::size_t dimension_;
};

namespace {

// A deleted node still costs a slot and search time: past this many, the graph
// is rebuilt from the live vectors.
constexpr std::size_t kCompactAfter = 1024;

Result<std::uint64_t> checksumOf(const std::filesystem::path& path) {
  std::ifstream input(path, std::ios::binary);
  if (!input) return notFound("cannot read " + path.string());
  std::uint64_t hash = 1469598103934665603ULL;
  char buffer[1 << 16];
  while (input) {
    input.read(buffer, sizeof buffer);
    for (std::streamsize i = 0; i < input.gcount(); ++i) {
      hash ^= static_cast<unsigned char>(buffer[i]);
      hash *= 1099511628211ULL;
    }
  }
  return hash;
}

Status syncFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unavailable("cannot open " + path.string() + " to sync it");
  int synced = ::fsync(fd);
  ::close(fd);
  return synced == 0 ? okStatus() : unavailable("fsync of " + path.string() + " failed");
}

std::filesystem::path metaOf(const std::filesystem::path& path) { return path.string() + ".meta"; }

}  // namespace

VectorIndex::VectorIndex(VectorParams params, std::size_t capacity)
    : params_(params), space_(std::make_unique<DotSpace>(params.dimension)) {
  graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space_.get(), std::max<std::size_t>(capacity, 16), params_.m, params_.efConstruction, params_.seed);
  graph_->setEf(params_.efSearch);
}

VectorIndex::~VectorIndex() = default;

Result<std::unique_ptr<VectorIndex>> VectorIndex::load(const std::filesystem::path& path,
                                                       const std::string& model, VectorParams params) {
  std::ifstream metaFile(metaOf(path));
  if (!metaFile) return notFound("no index file " + path.string());
  std::stringstream text;
  text << metaFile.rdbuf();
  std::error_code ec;
  json::value meta = json::parse(text.str(), ec);
  if (ec || !meta.is_object()) return Status(StatusCode::kDataLoss, metaOf(path).string() + " is not JSON");
  const json::object& fields = meta.get_object();
  const json::value* metaModel = fields.if_contains("model");
  const json::value* dimension = fields.if_contains("dimension");
  const json::value* checksum = fields.if_contains("checksum");
  const json::value* live = fields.if_contains("live");
  if (!metaModel || !metaModel->is_string() || metaModel->get_string() != model || !dimension ||
      !dimension->is_int64() || dimension->get_int64() != static_cast<std::int64_t>(params.dimension) ||
      !checksum || !checksum->is_string() || !live || !live->is_int64())
    return Status(StatusCode::kDataLoss, path.string() + " was written for another model or dimension");
  auto actual = checksumOf(path);
  if (!actual.ok()) return Status(StatusCode::kDataLoss, actual.status().message());
  if (std::to_string(*actual) != checksum->get_string())
    return Status(StatusCode::kDataLoss, path.string() + " does not match its checksum (torn write?)");
  auto index = std::make_unique<VectorIndex>(params, 16);
  try {
    index->graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(index->space_.get(), path.string());
  } catch (const std::exception& error) {
    return Status(StatusCode::kDataLoss, path.string() + ": " + error.what());
  }
  index->graph_->setEf(params.efSearch);
  // hnswlib 0.6.2's loading constructor adds the deleted nodes to a
  // num_deleted_ it never zeroed: counted again here, and set.
  std::size_t deleted = 0;
  for (std::size_t node = 0; node < index->graph_->cur_element_count; ++node)
    deleted += index->graph_->isMarkedDeleted(static_cast<hnswlib::tableint>(node)) ? 1 : 0;
  index->graph_->num_deleted_ = deleted;
  index->deleted_ = deleted;
  index->live_ = index->graph_->cur_element_count - deleted;
  if (index->live_ != static_cast<std::size_t>(live->get_int64()))
    return Status(StatusCode::kDataLoss,
                  path.string() + " holds another number of vectors than its meta says");
  return index;
}

Status VectorIndex::save(const std::filesystem::path& path, const std::string& model) const {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return unavailable("cannot create " + path.parent_path().string() + ": " + ec.message());
  std::filesystem::path temporary = path.string() + ".tmp";
  try {
    graph_->saveIndex(temporary.string());
  } catch (const std::exception& error) {
    return unavailable("writing " + temporary.string() + ": " + error.what());
  }
  auto checksum = checksumOf(temporary);
  if (!checksum.ok()) return checksum.status();
  json::object meta{{"format", 1},
                    {"model", model},
                    {"dimension", params_.dimension},
                    {"checksum", std::to_string(*checksum)},
                    {"live", live_}};
  std::filesystem::path metaTemporary = metaOf(path).string() + ".tmp";
  {
    std::ofstream output(metaTemporary, std::ios::trunc);
    output << json::serialize(meta);
    if (!output.flush()) return unavailable("cannot write " + metaTemporary.string());
  }
  HIVE_TRY(syncFile(temporary));
  HIVE_TRY(syncFile(metaTemporary));
  // Graph first: a crash between the two renames leaves a meta whose checksum
  // does not match, and the graph is rebuilt.
  std::filesystem::rename(temporary, path, ec);
  if (!ec) std::filesystem::rename(metaTemporary, metaOf(path), ec);
  if (ec) return unavailable("cannot rename the index into " + path.string() + ": " + ec.message());
  return okStatus();
}

void VectorIndex::add(std::uint64_t label, const std::vector<float>& vector) {
  bool replacing = contains(label);
  if (!replacing && graph_->cur_element_count >= graph_->max_elements_) grow();
  bool wasDeleted = !replacing && graph_->label_lookup_.count(label) != 0;
  graph_->addPoint(vector.data(), label);
  if (wasDeleted) --deleted_;
  if (!replacing) ++live_;
}

void VectorIndex::remove(std::uint64_t label) {
  if (!contains(label)) return;
  graph_->markDelete(label);
  --live_;
  ++deleted_;
  if (deleted_ > std::max(kCompactAfter, live_)) compact();
}

bool VectorIndex::contains(std::uint64_t label) const {
  auto found = graph_->label_lookup_.find(label);
  return found != graph_->label_lookup_.end() && !graph_->isMarkedDeleted(found->second);
}

std::vector<std::uint64_t> VectorIndex::labels() const {
  std::vector<std::uint64_t> out;
  out.reserve(live_);
  for (const auto& [label, internal] : graph_->label_lookup_)
    if (!graph_->isMarkedDeleted(internal)) out.push_back(label);
  return out;
}

std::vector<std::pair<std::uint64_t, float>> VectorIndex::nearest(const std::vector<float>& query,
                                                                  std::size_t k) const {
  std::vector<std::pair<std::uint64_t, float>> out;
  if (live_ == 0 || k == 0) return out;
  // ef below k would cut the answer short.
  if (k > params_.efSearch) graph_->setEf(k);
  auto found = graph_->searchKnn(query.data(), std::min(k, live_));
  if (k > params_.efSearch) graph_->setEf(params_.efSearch);
  out.resize(found.size());
  // searchKnn hands the farthest first.
  for (std::size_t i = found.size(); i-- > 0;) {
    out[i] = {found.top().second, 1.0F - found.top().first};
    found.pop();
  }
  return out;
}

void VectorIndex::grow() { graph_->resizeIndex(std::max<std::size_t>(graph_->max_elements_ * 2, 16)); }

void VectorIndex::compact() {
  auto fresh = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space_.get(), std::max<std::size_t>(live_ * 2, 16), params_.m, params_.efConstruction, params_.seed);
  fresh->setEf(params_.efSearch);
  for (std::uint64_t label : labels()) {
    std::vector<float> vector = graph_->getDataByLabel<float>(label);
    fresh->addPoint(vector.data(), label);
  }
  graph_ = std::move(fresh);
  deleted_ = 0;
}

}  // namespace hive::context_manager
