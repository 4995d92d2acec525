#!/usr/bin/env bash
# Proves that the SDK works *as installed*, the way a third-party plugin author uses it:
#   1. cmake --install the Hive build into a fresh prefix;
#   2. configure, build and ctest examples/hello_plugin against that prefix only;
#   3. copy hello-1.0.0.so to BUILD_DIR/example_plugins/ and have the kernel load it
#      (check-config, then run until ready and stop);
#   4. write a skeleton with `hive plugin new demo_plugin` and build + test it the same way.
# Out-of-tree projects get the main build's compiler, build type and sanitizers: the
# installed static test library is compiled with them, and the kernel refuses a plugin
# built by another compiler.
#
#   tests/sdk_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build=$(readlink -f "$1")
source=$(readlink -f "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/hive-sdk-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { echo "--- $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1; }

[[ -f "$build/CMakeCache.txt" ]] || fail "$build is not a configured CMake build directory"

args=(-G Ninja "-DCMAKE_PREFIX_PATH=$work/prefix")
compiler=$(cache CMAKE_CXX_COMPILER)
[[ -n "$compiler" ]] && args+=("-DCMAKE_CXX_COMPILER=$compiler")
build_type=$(cache CMAKE_BUILD_TYPE)
args+=("-DCMAKE_BUILD_TYPE=${build_type:-Debug}")
sanitize=$(cache HIVE_SANITIZE)
if [[ -n "$sanitize" && "$sanitize" != "OFF" ]]; then
  args+=("-DCMAKE_CXX_FLAGS=-fsanitize=$sanitize -fno-omit-frame-pointer"
         "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$sanitize"
         "-DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=$sanitize"
         "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=$sanitize")
fi
if command -v ccache >/dev/null; then args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# project-dir build-dir: configure, build and run the tests; the logs only on failure.
build_and_test() {
  local log="$2.log"
  cmake -S "$1" -B "$2" "${args[@]}" >"$log" 2>&1 || { cat "$log"; fail "configuring $1"; }
  cmake --build "$2" --parallel 2 >>"$log" 2>&1 || { cat "$log"; fail "building $1"; }
  ctest --test-dir "$2" --output-on-failure --no-tests=error || fail "tests of $1"
}

step "installing the SDK from $build into $work/prefix"
if ! cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1; then
  cat "$work/install.log"
  fail "cmake --install $build (a target without an install rule, or one not built?)"
fi
for file in lib/cmake/HiveSDK/HiveSDKConfig.cmake lib/cmake/HiveSDK/HivePlugin.cmake include/hive/plugin.hpp \
            include/hive/testing/harness.hpp lib/libhive_sdk_testing.a \
            share/hive/plugin-template/CMakeLists.txt share/hive/plugin-template/src/plugin.cpp; do
  [[ -f "$work/prefix/$file" ]] || fail "the install lacks $file"
done

step "building examples/hello_plugin against the installed SDK"
build_and_test "$source/examples/hello_plugin" "$work/hello"
so="$work/hello/hello-1.0.0.so"
[[ -f "$so" ]] || fail "no $so"
mkdir -p "$build/example_plugins"
# Replaced by rename, never overwritten in place: a kernel may have the old file mapped.
cp "$so" "$build/example_plugins/.hello-1.0.0.so.tmp"
mv -f "$build/example_plugins/.hello-1.0.0.so.tmp" "$build/example_plugins/hello-1.0.0.so"

step "loading the example with the kernel"
hive="$build/bin/hive"
cat >"$work/hive.yaml" <<YAML
hive:
  plugin_dirs: [$build/example_plugins]
  data_dir: $work/data
plugins:
  hello:
    required: true
    config:
      greeting: Hi
YAML
"$hive" check-config -c "$work/hive.yaml"
"$hive" run -c "$work/hive.yaml" 2>"$work/run.log" &
pid=$!
for _ in $(seq 1 400); do
  grep -q "hive ready" "$work/run.log" && break
  sleep 0.05
done
kill -TERM "$pid"
wait "$pid" || fail "hive run exited with status $?: $(cat "$work/run.log")"
grep -q "hive ready: 1 plugins started, 0 failed" "$work/run.log" || fail "not ready: $(cat "$work/run.log")"
grep -q "started; greeting 'Hi'" "$work/run.log" || fail "hello did not start: $(cat "$work/run.log")"

step "scaffolding a plugin with 'hive plugin new' and building it"
# The installed hive finds the installed template (share/hive/plugin-template),
# not the source tree's example: a line added to the installed copy shows up.
echo "<!-- installed template -->" >>"$work/prefix/share/hive/plugin-template/README.md"
"$work/prefix/bin/hive" plugin new demo_plugin --dir "$work/demo"
grep -q "installed template" "$work/demo/README.md" || fail "'hive plugin new' did not use the installed template"
build_and_test "$work/demo" "$work/demo-build"
# The skeleton is examples/hello_plugin renamed: same version, same files.
[[ -f "$work/demo-build/demo_plugin-1.0.0.so" ]] || fail "no demo_plugin-1.0.0.so"
[[ -f "$work/demo/src/demo_plugin_plugin.cpp" && -f "$work/demo/include/demo_plugin/greeter.hpp" ]] ||
  fail "the skeleton is not the example renamed: $(cd "$work/demo" && find . -type f | sort)"
if "$hive" plugin new demo_plugin --dir "$work/demo" >/dev/null 2>&1; then
  fail "'hive plugin new' wrote into a directory that is not empty"
fi

echo "sdk install test: OK"
