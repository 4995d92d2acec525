#include "task_context.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <boost/json.hpp>

#include "plugin_common/json_fields.hpp"
#include "plugin_common/route_call.hpp"

namespace hive::task_execution_engine {

namespace {

std::string tenantOf(std::string_view taskJson) {
  boost::system::error_code error;
  boost::json::value task = boost::json::parse(taskJson, error);
  return error || !task.is_object() ? std::string() : plugin_common::stringField(task.get_object(), "tenant");
}

}  // namespace

std::optional<std::string> fetchTaskContext(ServiceRegistry& services, const std::string& self,
                                            const std::string& taskId, std::string_view taskJson) {
  const std::string scope = "task:" + taskId;
  http::Request request;
  request.path = request.target = "/api/v2/contexts/" + scope + "/entries";
  request.params["scope"] = scope;
  request.query = {{"limit", "1000"}};
  auto answer =
      plugin_common::callRouteAndWait(services, self, "GET", "/api/v2/contexts/{scope}/entries",
                                      std::move(request), std::chrono::seconds(2), tenantOf(taskJson));
  if (!answer.ok() || answer->status != 200) return std::nullopt;
  return std::move(answer->body);
}

bool writeContextFile(int directory, const std::string& body, const std::optional<Identity>& identity) {
  // The directory is the job's: a link left under this name by an earlier
  // attempt of the task is removed, never written through.
  if (::unlinkat(directory, kContextFileName, 0) != 0 && errno != ENOENT) return false;
  int fd = ::openat(directory, kContextFileName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = true;
  for (std::size_t written = 0; ok && written < body.size();) {
    ssize_t n = ::write(fd, body.data() + written, body.size() - written);
    if (n > 0)
      written += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR)
      ok = false;
  }
  if (ok && identity && ::fchown(fd, identity->uid, identity->gid) != 0) ok = false;
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

}  // namespace hive::task_execution_engine
