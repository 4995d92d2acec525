#!/usr/bin/env bash
# The Debian package as `cpack` builds it from BUILD_DIR: control fields and
# dependencies, maintainer scripts and conffiles, the file layout (/usr and
# /etc only), the installed config, and the systemd unit accepted without a
# word by `systemd-analyze verify` (when systemd is installed); then, as root,
# the package installed, run, removed and purged in a throwaway overlay root.
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
            /usr/share/doc/hive/operators.md /usr/share/doc/hive/copyright /usr/share/doc/hive/changelog.gz \
            /usr/share/man/man1/hive.1.gz /usr/share/hive/plugin-template/CMakeLists.txt; do
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

# The manual page names every command `hive --help` lists.
zcat "$work/root/usr/share/man/man1/hive.1.gz" >"$work/hive.1" || fail "no manual page"
"$build/bin/hive" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF {print $1}' | while read -r command; do
  grep -q "^\.B $command\b" "$work/hive.1" || fail "the manual page lacks the command '$command'"
done

unit="$work/root/usr/lib/systemd/system/hive.service"
grep -qx 'ExecStart=/usr/bin/hive run -c /etc/hive/hive.yaml' "$unit" || fail "unit ExecStart: $(grep ExecStart "$unit")"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
if command -v lintian >/dev/null; then
  echo "--- lintian"
  # Allowed: the Asio runtime every plugin links is a public shared library in
  # this one package rather than a libhive-asio0 package of its own.
  lintian --no-tag-display-limit "$deb" 2>&1 | grep -E '^[EW]: ' |
    grep -Ev 'package-name-doesnt-match-sonames libhive-asio0|link-to-shared-library-in-wrong-package usr/lib/libhive_asio' \
    >"$work/lintian.log" || true
  if [[ -s "$work/lintian.log" ]]; then
    cat "$work/lintian.log"
    fail "lintian found errors or warnings"
  fi
fi
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

# Install -> start -> remove -> purge in a throwaway root: an overlay of this
# machine's / in a private mount namespace, so that the package's dependencies
# are the ones installed here and nothing reaches the real system. Needs root
# and overlayfs; said and skipped otherwise (the checks above still ran).
install_test() {
  local root="$work/overlay/merged" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/overlay/upper" "$work/overlay/work" "$root"
  cp "$deb" "$work/overlay/hive.deb"
  HIVE_DEB="$work/overlay/hive.deb" ROOT="$root" PORT="$port" OVERLAY="$work/overlay" \
    unshare --mount --propagation private bash -euo pipefail -c '
    fail() { echo "FAIL: $*" >&2; exit 1; }
    mount -t overlay overlay -o "lowerdir=/,upperdir=$OVERLAY/upper,workdir=$OVERLAY/work" "$ROOT"
    mount -t proc proc "$ROOT/proc"
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs tmpfs "$ROOT/run"  # no systemd here: the scripts must not try to start it
    mount -t tmpfs tmpfs "$ROOT/tmp"
    cp "$HIVE_DEB" "$ROOT/tmp/hive.deb"
    # A fresh machine has no /var/lib/hive (this one may, from a hive run as root).
    rm -rf "$ROOT/var/lib/hive"
    in_root() { chroot "$ROOT" "$@"; }
    echo "--- dpkg -i in a throwaway root"
    in_root dpkg --force-confold -i /tmp/hive.deb >"$OVERLAY/dpkg-install.log" 2>&1 ||
      { cat "$OVERLAY/dpkg-install.log"; fail "dpkg -i failed"; }
    in_root getent passwd hive >/dev/null || fail "no system user hive after install"
    [[ $(in_root stat -c "%U:%G %a" /var/lib/hive) == "hive:hive 750" ]] ||
      fail "/var/lib/hive is $(in_root stat -c "%U:%G %a" /var/lib/hive)"
    [[ $(in_root stat -c "%U:%G %a" /etc/hive/hive.yaml) == "root:hive 640" ]] ||
      fail "/etc/hive/hive.yaml is $(in_root stat -c "%U:%G %a" /etc/hive/hive.yaml)"
    [[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/hive.service" ]] || fail "the unit is not enabled"
    echo "--- hive runs as the hive user on the installed config"
    printf "plugins:\n  api:\n    config:\n      listen: 127.0.0.1:%s\n" "$PORT" >"$ROOT/tmp/port.yaml"
    chmod 0644 "$ROOT/tmp/port.yaml"
    # setpriv execs (runuser would fork and stand between the signal and hive).
    chroot "$ROOT" setpriv --reuid=hive --regid=hive --init-groups /usr/bin/hive run -c /etc/hive/hive.yaml \
      -c /tmp/port.yaml \
      >"$OVERLAY/hive.log" 2>&1 &
    hive=$!
    ok=""
    for _ in $(seq 1 300); do
      if python3 - "$PORT" <<PY 2>/dev/null
import json, sys, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
urllib.request.urlopen(base + "/readyz", timeout=2).read()
PY
      then ok=1; break; fi
      kill -0 $hive 2>/dev/null || break
      sleep 0.1
    done
    [[ -n $ok ]] || { tail -20 "$OVERLAY/hive.log"; fail "the installed hive did not answer /readyz"; }
    kill -TERM $hive
    wait $hive || { tail -20 "$OVERLAY/hive.log"; fail "the installed hive did not stop cleanly on SIGTERM"; }
    [[ -f "$ROOT/var/lib/hive/storage_sqlite/hive.db" || -n $(ls "$ROOT/var/lib/hive/storage_sqlite" 2>/dev/null) ]] ||
      fail "no store under /var/lib/hive after a run"
    echo "--- dpkg -r keeps the data and the config, dpkg -P removes them"
    in_root dpkg -r hive >"$OVERLAY/dpkg-remove.log" 2>&1 || { cat "$OVERLAY/dpkg-remove.log"; fail "dpkg -r failed"; }
    [[ ! -e "$ROOT/usr/bin/hive" ]] || fail "/usr/bin/hive left after remove"
    [[ -d "$ROOT/var/lib/hive/storage_sqlite" ]] || fail "remove deleted the data"
    [[ -f "$ROOT/etc/hive/hive.yaml" ]] || fail "remove deleted the conffile"
    in_root dpkg -P hive >"$OVERLAY/dpkg-purge.log" 2>&1 || { cat "$OVERLAY/dpkg-purge.log"; fail "dpkg -P failed"; }
    [[ ! -e "$ROOT/var/lib/hive" ]] || fail "purge kept /var/lib/hive"
    [[ ! -e "$ROOT/etc/hive" ]] || fail "purge kept /etc/hive"
    umount -l "$ROOT/dev" "$ROOT/proc" "$ROOT/run" "$ROOT/tmp" "$ROOT"
  ' || fail "install, start, remove and purge in a throwaway root"
  echo "install -> start -> remove -> purge ok"
}
if [[ $(id -u) -eq 0 ]] && grep -qw overlay /proc/filesystems && command -v unshare >/dev/null; then
  install_test
else
  echo "--- install in a throwaway root: skipped (needs root, overlayfs and unshare)"
fi

echo "package ok: $(basename "$deb"), $(wc -l <"$work/files") entries"
