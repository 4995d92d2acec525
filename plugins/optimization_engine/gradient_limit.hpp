// An adaptive concurrency limit for one agent, from the time its attempts
// take (the idea of Netflix's concurrency-limits "gradient" and Envoy's
// adaptive concurrency filter, written for tasks rather than RPCs):
//
//   - Attempts are gathered in windows: a window closes after
//     `windowSamples` attempts, or at the first attempt that ends `window`
//     after the window opened (so that an agent finishing few tasks still
//     updates). Its value is the median run time: one slow task does not move
//     the limit.
//   - The baseline is what the agent's attempts take when it is not
//     overloaded: the first window, then any faster window at once, and a
//     slower window only by `baselineDrift` of the gap (a slowdown that lasts
//     becomes the new normal after a few dozen windows, not at once).
//   - A window within `tolerance` × baseline adds 1 to the limit (additive
//     increase). A slower one multiplies it by tolerance × baseline / window,
//     at least 0.5 (the further from normal, the larger the cut). A window in
//     which at least `failureShare` of the attempts failed halves it.
//   - The first window measures the baseline at `minLimit` (as Envoy
//     measures its minimum RTT at a pinned low concurrency: a baseline taken
//     while the agent is already overloaded would hide the overload); then
//     the limit opens to max_concurrency and follows the rules above, within
//     [minLimit, max_concurrency]. An agent that keeps its times is not
//     limited after its first window.
//
// Not thread-safe (AgentLimits locks); time comes in as arguments, so the
// behaviour is a function of the samples and their timestamps.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hive::optimization_engine {

struct GradientOptions {
  std::size_t windowSamples = 8;
  std::chrono::milliseconds window{5000};
  double tolerance = 2.0;
  double baselineDrift = 0.05;
  double failureShare = 0.5;  // 0: failures do not lower the limit
  std::uint32_t minLimit = 1;
};

enum class Attempt { kSucceeded, kFailed };

class GradientLimit {
 public:
  explicit GradientLimit(const GradientOptions& options) : options_(options) {}

  // One attempt of this agent ended after `runMs`, at `nowMs`. True when it
  // closed a window (the limit may have changed).
  bool record(double runMs, Attempt attempt, std::int64_t nowMs);
  // The limit under `ceiling` (the agent's max_concurrency, remembered for
  // the next window's arithmetic).
  std::uint32_t limit(std::uint32_t ceiling);
  // The limit under the last ceiling given (0 when none was: not enforced).
  std::uint32_t current() const;

  double baselineMs() const { return baselineMs_; }
  double lastWindowMs() const { return lastWindowMs_; }
  std::uint64_t windows() const { return windows_; }
  std::uint32_t ceiling() const { return ceiling_; }

 private:
  void closeWindow();

  GradientOptions options_;
  std::uint32_t ceiling_ = 0;  // 0: not asked yet
  double limit_ = -1;          // < 0: the first window is not closed yet
  double baselineMs_ = 0;
  double lastWindowMs_ = 0;
  std::uint64_t windows_ = 0;
  std::vector<double> samples_;
  std::size_t failures_ = 0;
  std::int64_t openedAtMs_ = 0;
};

}  // namespace hive::optimization_engine
