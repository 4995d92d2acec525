#!/usr/bin/env bash
# Proves the SDK works as installed, the way a third-party author uses it:
#   1. cmake --install the build into a fresh prefix;
#   2. build and test examples/hello_plugin against it (find_package(HiveSDK));
#   3. have the kernel load the result (check-config, then run until ready);
#   4. scaffold a plugin with `hive plugin new`, build and test it the same way.
#
#   tests/sdk_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(readlink -f "$1")
source=$(readlink -f "$2")
work=$(mktemp -d /tmp/hive-sdk-install.XXXXXX)
trap 'rm -rf "$work"' EXIT

step() { echo "--- $*"; }

# Build out-of-tree projects with the same sanitizers as the kernel that loads them.
flags=()
sanitize=$(sed -n 's/^HIVE_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ -n "$sanitize" && "$sanitize" != "OFF" ]]; then
  flags+=("-DCMAKE_CXX_FLAGS=-fsanitize=$sanitize -fno-omit-frame-pointer"
          "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$sanitize" "-DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=$sanitize")
fi
command -v ccache >/dev/null && flags+=("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")

build_and_test() {  # project-dir build-dir
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH="$work/prefix" "${flags[@]}" >"$2.log" 2>&1 ||
    { cat "$2.log"; return 1; }
  cmake --build "$2" >>"$2.log" 2>&1 || { cat "$2.log"; return 1; }
  ctest --test-dir "$2" --output-on-failure
}

step "installing the SDK into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
test -f "$work/prefix/lib/cmake/HiveSDK/HiveSDKConfig.cmake"

step "building examples/hello_plugin against the installed SDK"
build_and_test "$source/examples/hello_plugin" "$work/hello"
so="$work/hello/hello-1.0.0.so"
test -f "$so"
mkdir -p "$build/example_plugins"
cp "$so" "$build/example_plugins/"

step "loading the example with the kernel"
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
"$build/bin/hive" check-config -c "$work/hive.yaml"
"$build/bin/hive" run -c "$work/hive.yaml" 2>"$work/run.log" &
pid=$!
for _ in $(seq 1 200); do
  grep -q "hive ready" "$work/run.log" && break
  sleep 0.05
done
kill -TERM "$pid"
wait "$pid"
grep -q "hive ready: 1 plugins started, 0 failed" "$work/run.log" || { cat "$work/run.log"; exit 1; }
grep -q "started; greeting 'Hi'" "$work/run.log" || { cat "$work/run.log"; exit 1; }

step "scaffolding a plugin with 'hive plugin new' and building it"
"$build/bin/hive" plugin new demo_plugin --dir "$work/demo"
build_and_test "$work/demo" "$work/demo-build"
test -f "$work/demo-build/demo_plugin-0.1.0.so"
echo "sdk install test: OK"
