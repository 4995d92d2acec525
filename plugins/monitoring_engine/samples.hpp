// The samples of a Prometheus text exposition (what MetricsRegistry renders),
// read back for the in-process alert rules.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hive::monitoring_engine {

struct Sample {
  std::string name;  // the sample's own name: foo_total, bar_bucket, baz_count
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Comment lines are skipped; a line that cannot be read is skipped too (the
// registry writes none).
std::vector<Sample> parseSamples(std::string_view exposition);

}  // namespace hive::monitoring_engine
