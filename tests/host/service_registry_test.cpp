// The kernel's service directory: slots, leases, gating and watches.
#include "host/service_registry.hpp"

#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace hive::host {
namespace {

class Named : public Service {
 public:
  static constexpr ServiceId kServiceId{"test.named", 1};
  explicit Named(std::string name) : name(std::move(name)) {}
  std::string name;
};

const ServiceKey kKey{"test.named", 1};

std::string nameOf(const ServiceLease& lease) {
  return lease.service ? std::static_pointer_cast<Named>(lease.service)->name : "<none>";
}

TEST(ServiceDirectoryTest, ProvidersAreListedInStartOrder) {
  ServiceDirectory directory;
  ASSERT_TRUE(directory.provide("late", 5, kKey, std::make_shared<Named>("late"), nullptr).ok());
  ASSERT_TRUE(directory.provide("early", 1, kKey, std::make_shared<Named>("early"), nullptr).ok());
  EXPECT_EQ(directory.provide("early", 1, kKey, std::make_shared<Named>("again"), nullptr).code(),
            StatusCode::kAlreadyExists);
  auto leases = directory.lookup(kKey);
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].provider, "early");
  EXPECT_EQ(leases[1].provider, "late");
}

TEST(ServiceDirectoryTest, APinIsReleasedAfterTheServiceAndItsLastLease) {
  ServiceDirectory directory;
  auto pin = std::make_shared<int>(7);
  std::weak_ptr<int> pinWatch = pin;
  auto service = std::make_shared<Named>("x");
  std::weak_ptr<Named> serviceWatch = service;
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::move(service), std::move(pin)).ok());
  auto lease = directory.lookup(kKey).at(0);
  ASSERT_TRUE(directory.withdraw("p", kKey).ok());
  EXPECT_FALSE(pinWatch.expired()) << "a lease still pins";
  lease = {};
  EXPECT_TRUE(serviceWatch.expired());
  EXPECT_TRUE(pinWatch.expired());
}

TEST(ServiceDirectoryTest, AHandleFollowsReplacementAndComesBackWithItsProvider) {
  ServiceDirectory directory;
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Named>("v1"), nullptr).ok());
  auto slot = directory.slot(kKey, "p");
  ASSERT_TRUE(slot.ok());
  EXPECT_EQ(nameOf((*slot)->acquire()), "v1");

  directory.gate("p");
  directory.replace("p", 0, {{kKey, std::make_shared<Named>("v2")}});
  auto lease = (*slot)->acquire();
  EXPECT_EQ(nameOf(lease), "v2");
  EXPECT_EQ(lease.generation, 2u);

  ASSERT_TRUE(directory.withdraw("p", kKey).ok());
  EXPECT_EQ(nameOf((*slot)->acquire()), "<none>");
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Named>("v3"), nullptr).ok());
  EXPECT_EQ(nameOf((*slot)->acquire()), "v3") << "the held slot revives";
  EXPECT_EQ((*slot)->acquire().generation, 3u);
}

TEST(ServiceDirectoryTest, AGateHoldsNewLeasesBackAndCountsInFlightOnes) {
  ServiceDirectory directory;
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Named>("old"), nullptr).ok());
  auto slot = *directory.slot(kKey, "p");
  auto inFlight = slot->acquire();
  EXPECT_EQ(directory.leasesInFlight("p"), 1u);

  directory.gate("p");
  EXPECT_EQ(nameOf(slot->acquire()), "old") << "the thread that gated passes its own gate";
  auto waiter = std::async(std::launch::async, [&] { return nameOf(slot->acquire()); });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout) << "held back";
  auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  EXPECT_EQ(directory.waitForLeases("p", soon), 1u) << "the in-flight lease is counted";
  inFlight = {};
  EXPECT_EQ(directory.waitForLeases("p", std::chrono::steady_clock::now() + std::chrono::seconds(5)), 0u);
  directory.replace("p", 0, {{kKey, std::make_shared<Named>("new")}});
  EXPECT_EQ(waiter.get(), "new") << "the waiting caller continues on the new generation";
}

TEST(ServiceDirectoryTest, WatchesSeeChangesUntilCancelled) {
  ServiceDirectory directory;
  std::vector<ServiceChange> seen;
  auto subscription =
      directory.watch("consumer#1", kKey, [&](const ServiceEvent& e) { seen.push_back(e.change); });
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Named>("a"), nullptr).ok());
  directory.replace("p", 0, {{kKey, std::make_shared<Named>("b")}});
  ASSERT_TRUE(directory.withdraw("p", kKey).ok());
  EXPECT_EQ(seen, (std::vector<ServiceChange>{ServiceChange::kAdded, ServiceChange::kReplaced,
                                              ServiceChange::kRemoved}));
  directory.cancelWatches("consumer#1");
  ASSERT_TRUE(directory.provide("p", 0, kKey, std::make_shared<Named>("c"), nullptr).ok());
  EXPECT_EQ(seen.size(), 3u);
  subscription.reset();  // after cancelWatches: harmless
}

TEST(ServiceDirectoryTest, ARetiredViewCannotTouchItsSuccessorsSlots) {
  ServiceDirectory directory;
  PluginManifest manifest;
  manifest.name = "p";
  manifest.version = "1.0.0";
  manifest.provides = {kKey};
  auto pin = std::make_shared<int>(0);
  PluginServiceView view(directory, manifest, 0, pin, "p#1");
  ASSERT_TRUE(view.provide(Named::kServiceId, std::make_shared<Named>("one")).ok());
  view.retire();
  EXPECT_TRUE(view.withdraw(Named::kServiceId).ok());
  EXPECT_EQ(directory.lookup(kKey).size(), 1u) << "the withdraw of a replaced generation does nothing";
  EXPECT_EQ(view.provide(Named::kServiceId, std::make_shared<Named>("two")).code(),
            StatusCode::kFailedPrecondition);
  manifest.provides.clear();
  PluginServiceView other(directory, manifest, 0, pin, "q#1");
  EXPECT_EQ(other.provide(Named::kServiceId, std::make_shared<Named>("x")).code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace hive::host
