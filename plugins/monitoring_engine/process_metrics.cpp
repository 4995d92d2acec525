#include "process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hive::monitoring_engine {
namespace {

// Fields of /proc/self/stat after the command name (which may hold spaces):
// fields[0] is field 3 (state) of proc(5).
std::vector<std::string> statFields() {
  std::ifstream file("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(std::move(field));
  return fields;
}

double number(const std::string& text) { return std::strtod(text.c_str(), nullptr); }

double bootTimeSeconds() {
  std::ifstream file("/proc/stat");
  for (std::string line; std::getline(file, line);)
    if (line.rfind("btime ", 0) == 0) return number(line.substr(6));
  return 0;
}

}  // namespace

ProcessMetrics::ProcessMetrics(Metrics& metrics)
    : cpuSeconds_(
          metrics.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds")),
      residentBytes_(metrics.gauge("process_resident_memory_bytes", "Resident memory size in bytes")),
      virtualBytes_(metrics.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes")),
      openDescriptors_(metrics.gauge("process_open_fds", "Number of open file descriptors")),
      maxDescriptors_(metrics.gauge("process_max_fds", "Maximum number of open file descriptors")),
      startTime_(metrics.gauge("process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds")),
      threads_(metrics.gauge("process_threads", "Number of OS threads in the process")) {}

void ProcessMetrics::update() {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::vector<std::string> fields = statFields();
  // proc(5): utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24.
  if (fields.size() > 21 && ticks > 0) {
    double cpu = (number(fields[11]) + number(fields[12])) / ticks;
    // Two scrapes may race here: the counter only ever moves forward.
    double delta = cpu - cpuSeconds_.value();
    if (delta > 0) cpuSeconds_.increment(delta);
    threads_.set(number(fields[17]));
    if (startTime_.value() == 0) startTime_.set(bootTimeSeconds() + number(fields[19]) / ticks);
    virtualBytes_.set(number(fields[20]));
    residentBytes_.set(number(fields[21]) * page);
  }
  std::error_code error;
  std::size_t open = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error))
    ++open;
  if (!error) openDescriptors_.set(static_cast<double>(open > 0 ? open - 1 : 0));  // minus the iterator's own
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) maxDescriptors_.set(static_cast<double>(limit.rlim_cur));
}

}  // namespace hive::monitoring_engine
