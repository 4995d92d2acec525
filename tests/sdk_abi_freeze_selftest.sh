#!/usr/bin/env bash
# usage: tests/sdk_abi_freeze_selftest.sh [REPO_ROOT]
#
# Tests the SDK ABI freeze tooling (scripts/freeze-sdk, tests/sdk_abi_freeze.sh)
# on a copy of sdk/ in a temporary directory: an unmodified freeze passes; a
# changed, added or removed header and an ABI bump without a freeze each fail with
# the expected line; a released freeze is not overwritten without --force.
set -euo pipefail

root=$(readlink -f "${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/..}")
checker=$root/tests/sdk_abi_freeze.sh
freeze=$root/scripts/freeze-sdk

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$root/sdk" "$work/sdk"
pristine=$work/pristine
cp -a "$work/sdk/include" "$pristine"
restore() { rm -rf "$work/sdk/include" && cp -a "$pristine" "$work/sdk/include"; }

version_h=$work/sdk/include/hive/version.h
major=$(sed -n 's/^#define HIVE_SDK_ABI_MAJOR \([0-9]*\).*/\1/p' "$version_h")
minor=$(sed -n 's/^#define HIVE_SDK_ABI_MINOR \([0-9]*\).*/\1/p' "$version_h")
version=$major.$minor
next=$major.$((minor + 1))
rm -f "$work/sdk/abi/$version.sha256" "$work/sdk/abi/$next.sha256"

failed=0
ok() { echo "ok: $1"; }
not_ok() {
  echo "FAIL: $1" >&2
  failed=1
}

# expect_pass NAME COMMAND...
expect_pass() {
  local name=$1 output
  shift
  if output=$("$@" 2>&1); then ok "$name"; else not_ok "$name: expected success, got:"$'\n'"$output"; fi
}

# expect_fail NAME EXPECTED_OUTPUT COMMAND...  (the whole output must match exactly)
expect_fail() {
  local name=$1 expected=$2 output
  shift 2
  if output=$("$@" 2>&1); then
    not_ok "$name: expected failure, but it passed:"$'\n'"$output"
  elif [[ "$output" != "$expected" ]]; then
    not_ok "$name: unexpected output"$'\n'"expected: $expected"$'\n'"actual:   $output"
  else
    ok "$name"
  fi
}

where="(frozen for $version in sdk/abi/$version.sha256)"
changed_tail="without an SDK ABI version bump $where; bump HIVE_SDK_ABI_MINOR (additive) or MAJOR and run scripts/freeze-sdk"

expect_fail "no frozen file" \
  "SDK ABI $version (sdk/include/hive/version.h) has no frozen header list sdk/abi/$version.sha256; run scripts/freeze-sdk to freeze the SDK ABI $version headers" \
  bash "$checker" "$work"

expect_pass "freeze-sdk writes the frozen file" bash "$freeze" --root "$work"
if [[ -f "$work/sdk/abi/$version.sha256" ]]; then ok "frozen file exists"; else not_ok "frozen file missing"; fi
if (cd "$work/sdk/include" && sha256sum --quiet --strict -c "../abi/$version.sha256" >/dev/null 2>&1); then
  ok "frozen file is valid sha256sum -c input"
else
  not_ok "sha256sum -c rejects the frozen file"
fi
expect_pass "unmodified headers pass" bash "$checker" "$work"

echo "// an innocent-looking edit" >>"$work/sdk/include/hive/plugin.hpp"
expect_fail "changed header" "sdk/include/hive/plugin.hpp changed $changed_tail" bash "$checker" "$work"
restore
expect_pass "restored headers pass" bash "$checker" "$work"

mkdir -p "$work/sdk/include/hive/services"
echo "#pragma once" >"$work/sdk/include/hive/services/selftest_extra.hpp"
expect_fail "added header" "sdk/include/hive/services/selftest_extra.hpp added $changed_tail" \
  bash "$checker" "$work"
restore

rm "$work/sdk/include/hive/status.hpp"
echo "// changed too" >>"$work/sdk/include/hive/plugin.hpp"
expect_fail "removed and changed headers, one line each" \
  "sdk/include/hive/plugin.hpp changed $changed_tail"$'\n'"sdk/include/hive/status.hpp removed without an SDK ABI version bump $where; bump HIVE_SDK_ABI_MAJOR and run scripts/freeze-sdk" \
  bash "$checker" "$work"
restore

sed -i "s/^#define HIVE_SDK_ABI_MINOR .*/#define HIVE_SDK_ABI_MINOR $((minor + 1))/" "$version_h"
expect_fail "ABI bump without a freeze" \
  "SDK ABI $next (sdk/include/hive/version.h) has no frozen header list sdk/abi/$next.sha256; run scripts/freeze-sdk to freeze the SDK ABI $next headers" \
  bash "$checker" "$work"
expect_pass "freeze-sdk freezes the bumped version" bash "$freeze" --root "$work"
expect_pass "bumped and frozen headers pass" bash "$checker" "$work"
rm "$work/sdk/abi/$next.sha256"
restore

# Overwrite protection. Outside a git checkout every existing freeze counts as released.
echo "// changed" >>"$work/sdk/include/hive/plugin.hpp"
if output=$(bash "$freeze" --root "$work" 2>&1); then
  not_ok "freeze-sdk overwrote a freeze outside git without --force"
elif [[ "$output" == *"refusing to overwrite sdk/abi/$version.sha256"* ]]; then
  ok "freeze-sdk refuses outside git"
else
  not_ok "freeze-sdk refused with an unexpected message: $output"
fi
git_in_work() {
  git -C "$work" -c user.name=selftest -c user.email=selftest@localhost -c commit.gpgsign=false "$@"
}
git_in_work init -q
before=$(sha256sum <"$work/sdk/abi/$version.sha256")
if output=$(bash "$freeze" --root "$work" 2>&1) &&
  [[ "$(sha256sum <"$work/sdk/abi/$version.sha256")" != "$before" ]]; then
  ok "an uncommitted freeze may be regenerated"
else
  not_ok "freeze-sdk did not regenerate an uncommitted freeze: $output"
fi
expect_pass "checker passes after regenerating" bash "$checker" "$work"
git_in_work add sdk/abi
git_in_work commit -q -m "freeze"
echo "// changed again" >>"$work/sdk/include/hive/plugin.hpp"
before=$(sha256sum <"$work/sdk/abi/$version.sha256")
if output=$(bash "$freeze" --root "$work" 2>&1); then
  not_ok "freeze-sdk overwrote a committed (released) freeze without --force"
elif [[ "$output" == *"refusing to overwrite"* && "$(sha256sum <"$work/sdk/abi/$version.sha256")" == "$before" ]]; then
  ok "freeze-sdk refuses to overwrite a committed freeze"
else
  not_ok "freeze-sdk refused with an unexpected message or changed the file: $output"
fi
expect_pass "freeze-sdk --force overwrites a committed freeze" bash "$freeze" --root "$work" --force
expect_pass "checker passes after the forced freeze" bash "$checker" "$work"

if ((failed)); then
  echo "sdk_abi_freeze_selftest: FAILED" >&2
  exit 1
fi
echo "sdk_abi_freeze_selftest: all checks passed"
