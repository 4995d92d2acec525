#!/usr/bin/env bash
# The Debian package as `cpack` builds it from BUILD_DIR: control fields and
# dependencies, maintainer scripts and conffiles, the file layout (/usr and
# /etc only), the installed config, and the systemd unit accepted without a
# word by `systemd-analyze verify` (when systemd is installed).
#
#   tests/package_test.sh BUILD_DIR
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(readlink -f "$1")
work=$(mktemp -d "${TMPDIR:-/tmp}/hive-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "--- cpack -G DEB from $build"
if ! (cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1); then
  cat "$work/cpack.log"
  fail "cpack failed"
fi
debs=("$work"/out/hive_*_*.deb)
[[ -f "${debs[0]}" ]] || fail "no hive_<version>_<arch>.deb in $work/out"
deb=${debs[0]}

echo "--- control"
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == hive ]] || fail "Package is '$(field Package)'"
[[ $(field Version) =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "Version is '$(field Version)'"
[[ $(field Architecture) == "$(dpkg --print-architecture)" ]] || fail "Architecture is '$(field Architecture)'"
depends=$(field Depends)
for needed in bubblewrap adduser init-system-helpers libc6 libsqlite3-0 libyaml-cpp0.7 libsodium23 libstdc++6; do
  [[ ",$depends," == *[\ ,]$needed[\ ,\(]* ]] || fail "Depends lacks $needed: $depends"
done
dpkg-deb -e "$deb" "$work/control"
[[ $(cat "$work/control/conffiles") == "/etc/hive/hive.yaml" ]] || fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  [[ -x "$work/control/$script" ]] || fail "$script missing or not executable"
  sh -n "$work/control/$script" || fail "$script is not valid sh"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst creates no system user"
grep -q 'deb-systemd-helper enable hive.service' "$work/control/postinst" || fail "postinst does not enable the unit"
grep -q 'rm -rf /var/lib/hive' "$work/control/postrm" || fail "postrm does not purge the data"
if sed -n '/"\$1" = remove/,/fi/p' "$work/control/postrm" | grep -q '/var/lib/hive'; then
  fail "postrm touches the data on remove (only purge may)"
fi

echo "--- contents"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' >"$work/files"
for file in /usr/bin/hive /etc/hive/hive.yaml /usr/lib/systemd/system/hive.service \
            /usr/share/doc/hive/operators.md /usr/share/hive/plugin-template/CMakeLists.txt; do
  grep -qx "$file" "$work/files" || fail "the package lacks $file"
done
for plugin in api storage_sqlite storage_postgres communication_engine task_manager orchestrator \
              task_execution_engine; do
  grep -Eq "^/usr/lib/hive/plugins/$plugin-[0-9.]+\.so$" "$work/files" || fail "the package lacks the $plugin plugin"
done
if grep -Ev '^/(usr|etc)(/|$)' "$work/files" | grep -q .; then
  fail "files outside /usr and /etc: $(grep -Ev '^/(usr|etc)(/|$)' "$work/files" | head -3)"
fi
grep -q '^/usr/local' "$work/files" && fail "files under /usr/local"

dpkg-deb -x "$deb" "$work/root"
config="$work/root/etc/hive/hive.yaml"
grep -q '^  data_dir: ../../var/lib/hive$' "$config" || fail "the installed config does not keep data in /var/lib/hive"
grep -q '^  plugin_dirs:' "$config" && fail "the installed config names plugin_dirs"

unit="$work/root/usr/lib/systemd/system/hive.service"
grep -qx 'ExecStart=/usr/bin/hive run -c /etc/hive/hive.yaml' "$unit" || fail "unit ExecStart: $(grep ExecStart "$unit")"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
if command -v systemd-analyze >/dev/null; then
  echo "--- systemd-analyze verify"
  # It checks that ExecStart exists: point it at the extracted binary.
  mkdir "$work/unit"
  sed "s#^ExecStart=/usr/bin/hive#ExecStart=$work/root/usr/bin/hive#" "$unit" >"$work/unit/hive.service"
  if ! systemd-analyze verify "$work/unit/hive.service" >"$work/verify.log" 2>&1 || [[ -s "$work/verify.log" ]]; then
    cat "$work/verify.log"
    fail "systemd-analyze verify complained about the unit"
  fi
fi
echo "package ok: $(basename "$deb"), $(wc -l <"$work/files") entries"
