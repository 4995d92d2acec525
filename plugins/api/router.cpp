#include "router.hpp"

#include <algorithm>
#include <cctype>

namespace hive::api {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `text`; `plusIsSpace` for query strings.
std::optional<std::string> decode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int high = hexValue(text[i + 1]), low = hexValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      char decoded = static_cast<char>(high * 16 + low);
      if (decoded == '\0') return std::nullopt;
      out += decoded;
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Literal segments sort before parameters, so "/tasks/stats" wins over "/tasks/{id}".
bool moreSpecific(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i].parameter != b[i].parameter) return !a[i].parameter;
  return false;
}

bool matches(const std::vector<Segment>& pattern, const std::vector<std::string>& segments,
             std::map<std::string, std::string, std::less<>>* params) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i].parameter) {
      if (segments[i].empty()) return false;
    } else if (pattern[i].text != segments[i]) {
      return false;
    }
  }
  if (params != nullptr)
    for (std::size_t i = 0; i < pattern.size(); ++i)
      if (pattern[i].parameter) (*params)[pattern[i].text] = segments[i];
  return true;
}

bool sameShape(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].parameter != b[i].parameter) return false;
    if (!a[i].parameter && a[i].text != b[i].text) return false;
  }
  return true;
}

bool isMethod(std::string_view method) {
  return method == "GET" || method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace

std::optional<std::vector<Segment>> parseTemplate(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<Segment> segments;
  if (path == "/") return segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view text = path.substr(start, end - start);
    // A trailing slash is a segment of its own ("/app/" matches "/app/", not
    // "/app"), for a directory-like page such as the dashboard's.
    if (text.empty() && end == path.size()) {
      segments.push_back(Segment{});
      break;
    }
    if (text.empty()) return std::nullopt;
    Segment segment;
    if (text.front() == '{') {
      if (text.size() < 3 || text.back() != '}') return std::nullopt;
      segment.parameter = true;
      segment.text = std::string(text.substr(1, text.size() - 2));
      for (char c : segment.text)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
    } else {
      if (text.find_first_of("{}?# ") != std::string_view::npos) return std::nullopt;
      segment.text = std::string(text);
    }
    segments.push_back(std::move(segment));
    start = end + 1;
  }
  return segments;
}

std::optional<std::vector<std::string>> splitPath(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string> segments;
  if (path == "/") return segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto decoded = decode(path.substr(start, end - start), false);
    if (!decoded || decoded->find('/') != std::string::npos) return std::nullopt;
    segments.push_back(std::move(*decoded));
    start = end + 1;
  }
  return segments;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start < query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    if (!pair.empty()) {
      std::size_t equals = pair.find('=');
      auto key = decode(pair.substr(0, equals), true);
      auto value =
          decode(equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1), true);
      if (!key || !value) return std::nullopt;
      out.emplace_back(std::move(*key), std::move(*value));
    }
    start = end + 1;
  }
  return out;
}

std::vector<std::string> Table::add(const std::shared_ptr<const RouteOwner>& owner,
                                    std::vector<http::Route> routes,
                                    std::vector<http::WebSocketRoute> webSocketRoutes, std::string schemas) {
  std::vector<std::string> problems;
  for (auto& route : routes) {
    auto segments = parseTemplate(route.path);
    if (!segments || !isMethod(route.method)) {
      problems.push_back("provider '" + owner->name + "': route '" + route.id + "': bad method or path '" +
                         route.method + " " + route.path + "'");
      continue;
    }
    auto clash = std::find_if(routes_.begin(), routes_.end(), [&](const RouteEntry& e) {
      return e.route.method == route.method && sameShape(e.segments, *segments);
    });
    if (clash != routes_.end()) {
      problems.push_back("provider '" + owner->name + "': route " + route.method + " " + route.path +
                         " already served by '" + clash->owner->name + "'");
      continue;
    }
    routes_.push_back(RouteEntry{std::move(route), std::move(*segments), owner});
  }
  for (auto& route : webSocketRoutes) {
    auto segments = parseTemplate(route.path);
    if (!segments) {
      problems.push_back("provider '" + owner->name + "': WebSocket route '" + route.id + "': bad path '" +
                         route.path + "'");
      continue;
    }
    webSocketRoutes_.push_back(WebSocketEntry{std::move(route), std::move(*segments), owner});
  }
  if (!schemas.empty()) schemas_[owner->name] = std::move(schemas);
  std::stable_sort(routes_.begin(), routes_.end(), [](const RouteEntry& a, const RouteEntry& b) {
    return moreSpecific(a.segments, b.segments);
  });
  return problems;
}

bool sameOrigin(std::string_view origin, std::string_view host) {
  for (std::string_view scheme : {"http://", "https://"})
    if (origin.starts_with(scheme)) return !host.empty() && origin.substr(scheme.size()) == host;
  return false;
}

std::optional<std::string> bearerSubprotocol(std::string_view offered) {
  constexpr std::string_view kPrefix = "hive.bearer.";
  while (!offered.empty()) {
    std::size_t comma = offered.find(',');
    std::string_view item = offered.substr(0, comma);
    offered = comma == std::string_view::npos ? std::string_view() : offered.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.size() > kPrefix.size() && item.starts_with(kPrefix))
      return std::string(item.substr(kPrefix.size()));
  }
  return std::nullopt;
}

Table::Match Table::match(std::string_view method, const std::vector<std::string>& segments) const {
  Match result;
  for (const auto& entry : routes_) {
    if (!matches(entry.segments, segments, nullptr)) continue;
    if (entry.route.method == method) {
      matches(entry.segments, segments, &result.params);
      result.entry = &entry;
      result.allowed.clear();
      return result;
    }
    if (std::find(result.allowed.begin(), result.allowed.end(), entry.route.method) == result.allowed.end())
      result.allowed.push_back(entry.route.method);
  }
  return result;
}

const WebSocketEntry* Table::matchWebSocket(const std::vector<std::string>& segments,
                                            std::map<std::string, std::string, std::less<>>& params) const {
  for (const auto& entry : webSocketRoutes_)
    if (matches(entry.segments, segments, &params)) return &entry;
  return nullptr;
}

}  // namespace hive::api
