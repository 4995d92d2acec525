// hive::ServiceFollower (sdk/include/hive/follower.hpp) against the kernel's
// service directory: what it holds follows the provider across swaps and is
// dropped before the old generation goes.
#include "hive/follower.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "host/service_registry.hpp"

namespace hive {
namespace {

class Source : public Service {
 public:
  static constexpr ServiceId kServiceId{"test.source", 1};
  explicit Source(int generation) : generation(generation) {}
  int generation;
  std::shared_ptr<std::atomic<int>> handedOut = std::make_shared<std::atomic<int>>(0);
};

// An object a provider hands out: must be gone before its provider is.
class Handed final : public Subscription {
 public:
  explicit Handed(std::shared_ptr<std::atomic<int>> count) : count_(std::move(count)) { ++*count_; }
  ~Handed() override { --*count_; }

 private:
  std::shared_ptr<std::atomic<int>> count_;
};

const host::ServiceKey kKey{"test.source", 1};

host::PluginManifest consumerManifest() {
  host::PluginManifest manifest;
  manifest.name = "consumer";
  manifest.version = "1.0.0";
  return manifest;
}

TEST(ServiceFollower, FollowsTheProviderAcrossFiftySwapsDroppingTheOldObjectsFirst) {
  host::ServiceDirectory directory;
  // The test keeps each generation alive over its swap, as the kernel keeps
  // the old generation's library until after the swap's notices.
  auto previous = std::make_shared<Source>(1);
  ASSERT_TRUE(directory.provide("p", 0, kKey, previous, nullptr).ok());
  auto manifest = consumerManifest();
  host::PluginServiceView view(directory, manifest, 1, nullptr, "consumer#1");
  int attachedTo = 0;
  ServiceFollower<Source> follower(view, [&](Source& source) -> std::unique_ptr<Subscription> {
    attachedTo = source.generation;
    return std::make_unique<Handed>(source.handedOut);
  });
  ASSERT_TRUE(follower.start().ok());
  EXPECT_EQ(attachedTo, 1);
  for (int generation = 2; generation <= 51; ++generation) {
    auto next = std::make_shared<Source>(generation);
    directory.gate("p");
    directory.replace("p", 0, {{kKey, next}});
    ASSERT_EQ(attachedTo, generation);
    EXPECT_EQ(previous->handedOut->load(), 0) << "generation " << generation - 1 << " still has objects out";
    EXPECT_EQ(next->handedOut->load(), 1);
    previous = std::move(next);
  }
  EXPECT_EQ(follower.attachments(), 51u);
  follower.stop();
  EXPECT_FALSE(follower.attached());
}

TEST(ServiceFollower, DropsOnRemovalAndAttachesWhenTheProviderComesBack) {
  host::ServiceDirectory directory;
  auto manifest = consumerManifest();
  host::PluginServiceView view(directory, manifest, 1, nullptr, "consumer#1");
  ServiceFollower<Source> follower(
      view,
      [&](Source& source) -> std::unique_ptr<Subscription> {
        return std::make_unique<Handed>(source.handedOut);
      },
      "p");
  EXPECT_EQ(follower.start().code(), StatusCode::kNotFound);
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Source>(1), nullptr).ok());
  EXPECT_TRUE(follower.attached());
  ASSERT_TRUE(directory.withdraw("p", kKey).ok());
  EXPECT_FALSE(follower.attached());
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Source>(2), nullptr).ok());
  EXPECT_TRUE(follower.attached());
  follower.stop();
}

}  // namespace
}  // namespace hive
