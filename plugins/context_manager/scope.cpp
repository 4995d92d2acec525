#include "scope.hpp"

#include <array>
#include <string_view>

namespace hive::context_manager {

Status checkScope(const std::string& scope) {
  static constexpr std::array<std::string_view, 4> kKinds{"project", "run", "agent", "task"};
  auto colon = scope.find(':');
  std::string_view kind =
      colon == std::string::npos ? std::string_view() : std::string_view(scope).substr(0, colon);
  bool known = false;
  for (std::string_view candidate : kKinds) known = known || kind == candidate;
  if (!known)
    return invalidArgument("scope '" + scope +
                           "' must be project:<name>, run:<id>, agent:<name> or task:<id>");
  std::string_view name = std::string_view(scope).substr(colon + 1);
  if (name.empty() || name.size() > 100)
    return invalidArgument("the name of scope '" + scope + "' must have 1 to 100 characters");
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return invalidArgument("the name of scope '" + scope +
                             "' may only hold letters, digits, '.', '_' and '-'");
  return okStatus();
}

}  // namespace hive::context_manager
