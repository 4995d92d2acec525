// hive.swaps/1 — provided by the kernel to every plugin (SDK 2.5): a notice
// that a provider is about to be swapped, and one when that swap ended.
//
// A swap holds new leases on the provider back and waits until the leases out
// are returned. A consumer that holds a lease for long — the api while one of
// the provider's WebSocket sessions is open, a consumer in the middle of a
// long call — would keep the swap waiting until the drain deadline. On
// kComing it lets those leases go (the api closes the provider's WebSockets
// with 1012 "service restart", and clients reconnect to the new generation)
// and stops taking new ones until kEnded.
//
//   auto notices = context.services().get<hive::SwapNotices>();
//   watch_ = (*notices)->watch([this](const hive::SwapNotice& notice) {
//     if (notice.provider == "orchestrator" && notice.phase == hive::SwapPhase::kComing) closeSessions();
//   });
//
// The callback runs on the thread running the swap: kComing before the
// provider is gated, kEnded after the new generation serves (`replaced`) or
// after a failed swap let the old one go on (`!replaced`). Every kComing is
// followed by one kEnded. It must return quickly and must not wait for a lease
// on the provider being swapped or for a swap. Destroying the subscription
// waits for a running call and may be done from inside it; a plugin's
// subscriptions end when it stops.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hive/services.hpp"

namespace hive {

enum class SwapPhase { kComing, kEnded };

struct SwapNotice {
  std::string provider;          // the plugin being swapped
  std::uint64_t generation = 0;  // its generation serving when the swap began
  SwapPhase phase = SwapPhase::kComing;
  bool replaced = false;  // kEnded: the new generation serves (false: the swap failed)
};

class SwapNotices : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.swaps", 1};

  [[nodiscard]] virtual std::unique_ptr<Subscription> watch(
      std::function<void(const SwapNotice&)> callback) = 0;
};

}  // namespace hive
