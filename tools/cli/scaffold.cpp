#include "tools/cli/scaffold.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>

#include "host/install_layout.hpp"
#include "host/manifest.hpp"

namespace hive::tools {
namespace fs = std::filesystem;
namespace {

// The example's name in its three spellings; each becomes the new plugin's.
constexpr std::string_view kExampleName = "hello";

// Names the skeleton cannot use as its namespace: C++ keywords, and namespaces its
// own code already refers to.
constexpr std::string_view kKeywords[] = {
    "alignas",     "alignof",   "and",        "and_eq",    "asm",      "auto",         "bitand",
    "bitor",       "bool",      "break",      "case",      "catch",    "char",         "char8_t",
    "char16_t",    "char32_t",  "class",      "compl",     "concept",  "const",        "consteval",
    "constexpr",   "constinit", "const_cast", "continue",  "co_await", "co_return",    "co_yield",
    "decltype",    "default",   "delete",     "do",        "double",   "dynamic_cast", "else",
    "enum",        "explicit",  "export",     "extern",    "false",    "float",        "for",
    "friend",      "goto",      "if",         "inline",    "int",      "long",         "mutable",
    "namespace",   "new",       "noexcept",   "not",       "not_eq",   "nullptr",      "operator",
    "or",          "or_eq",     "private",    "protected", "public",   "register",     "reinterpret_cast",
    "requires",    "return",    "short",      "signed",    "sizeof",   "static",       "static_assert",
    "static_cast", "struct",    "switch",     "template",  "this",     "thread_local", "throw",
    "true",        "try",       "typedef",    "typeid",    "typename", "union",        "unsigned",
    "using",       "virtual",   "void",       "volatile",  "wchar_t",  "while",        "xor",
    "xor_eq"};
constexpr std::string_view kNamespacesInUse[] = {"std", "hive", "testing", "posix"};

Status checkName(std::string_view name) {
  auto bad = [&](std::string why) {
    return invalidArgument("plugin name '" + std::string(name) + "' " + why);
  };
  if (name.empty()) return invalidArgument("plugin name is empty");
  if (name.size() > 47) return bad("is longer than 47 characters");
  if (!host::isPluginName(name))
    return bad("must match [a-z][a-z0-9_]* (lower case letters, digits, '_'; a letter first)");
  if (std::ranges::find(kKeywords, name) != std::end(kKeywords) ||
      std::ranges::find(kNamespacesInUse, name) != std::end(kNamespacesInUse))
    return bad("cannot be used: it is the plugin's C++ namespace, and '" + std::string(name) +
               "' is a keyword or a namespace already in use");
  return okStatus();
}

// demo_plugin -> DemoPlugin
std::string pascalCase(std::string_view name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

std::string upperCase(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// Every "hello", "Hello" and "HELLO" of the example becomes the new plugin's
// name (demo_plugin, DemoPlugin, DEMO_PLUGIN): identifiers, file names, prose.
std::string rename(std::string text, std::string_view name) {
  const std::pair<std::string, std::string> substitutions[] = {{std::string(kExampleName), std::string(name)},
                                                               {pascalCase(kExampleName), pascalCase(name)},
                                                               {upperCase(kExampleName), upperCase(name)}};
  for (const auto& [from, to] : substitutions)
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  return text;
}

// The example's files, relative to `root`: what a build or an editor left
// there (build directories, dot files) is not part of it.
Result<std::vector<fs::path>> templateFiles(const fs::path& root) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::recursive_directory_iterator it(root, error), end; !error && it != end; it.increment(error)) {
    std::string first = fs::relative(it->path(), root).begin()->string();
    if (first.starts_with(".") || first.starts_with("build")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(fs::relative(it->path(), root));
  }
  if (error) return unavailable("cannot read the plugin template " + root.string() + ": " + error.message());
  if (files.empty()) return notFound("the plugin template " + root.string() + " is empty");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

fs::path findPluginTemplate() {
  std::error_code error;
  // Installed: <prefix>/bin/hive and <prefix>/share/hive/plugin-template.
  fs::path prefix = host::installPrefix();
  fs::path installed = prefix / "share" / "hive" / "plugin-template";
  if (!prefix.empty() && fs::is_directory(installed / "src", error)) return installed;
  // A hive run from its build tree takes the example from the sources it was built from.
  return fs::path(HIVE_SOURCE_DIR) / "examples" / "hello_plugin";
}

Status writePluginSkeleton(const fs::path& directory, std::string_view name, const fs::path& templateRoot) {
  HIVE_TRY(checkName(name));
  std::error_code error;
  if (fs::exists(directory, error)) {
    if (!fs::is_directory(directory, error))
      return alreadyExists(directory.string() + " exists and is not a directory");
    if (!fs::is_empty(directory, error))
      return alreadyExists(directory.string() + " exists and is not empty");
  }
  auto files = HIVE_TRY(templateFiles(templateRoot));
  for (const auto& file : files) {
    std::ifstream in(templateRoot / file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return unavailable("cannot read " + (templateRoot / file).string());
    fs::path target = directory / rename(file.string(), name);
    fs::create_directories(target.parent_path(), error);
    if (error) return unavailable("cannot create " + target.parent_path().string() + ": " + error.message());
    std::ofstream out(target, std::ios::binary);
    out << rename(text.str(), name);
    out.close();
    if (!out) return unavailable("cannot write " + target.string());
  }
  return okStatus();
}

int newPluginCommand(const std::string& name, const std::string& directory) {
  Status written = writePluginSkeleton(directory, name);
  if (!written.ok()) {
    std::cerr << "hive plugin new: " << written.message() << "\n";
    return 1;
  }
  std::cout << "wrote plugin skeleton '" << name << "' to " << directory << "\n";
  return 0;
}

}  // namespace hive::tools
