#!/usr/bin/env bash
# usage: tests/sdk_abi_freeze.sh [REPO_ROOT]
#
# Compares every file under sdk/include/hive/ with sdk/abi/<major>.<minor>.sha256,
# the frozen list for the SDK ABI version in sdk/include/hive/version.h (written by
# scripts/freeze-sdk). Prints one line per changed, added or removed header and
# fails if there is any, so that an interface never changes without an ABI bump.
set -euo pipefail

root=$(readlink -f "${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/..}")
version_h=$root/sdk/include/hive/version.h

abi_version() {
  sed -n "s/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}$1[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p" \
    "$version_h" | head -n1
}
if [[ ! -f "$version_h" ]]; then
  echo "sdk_abi_freeze: $version_h not found (pass the repository root)" >&2
  exit 1
fi
major=$(abi_version HIVE_SDK_ABI_MAJOR)
minor=$(abi_version HIVE_SDK_ABI_MINOR)
if [[ -z "$major" || -z "$minor" ]]; then
  echo "sdk_abi_freeze: cannot read HIVE_SDK_ABI_MAJOR / HIVE_SDK_ABI_MINOR from sdk/include/hive/version.h" >&2
  exit 1
fi
version=$major.$minor
frozen_relative=sdk/abi/$version.sha256
frozen=$root/$frozen_relative

if [[ ! -f "$frozen" ]]; then
  echo "SDK ABI $version (sdk/include/hive/version.h) has no frozen header list $frozen_relative;" \
    "run scripts/freeze-sdk to freeze the SDK ABI $version headers" >&2
  exit 1
fi

declare -A expected=() actual=()
line_number=0
while IFS= read -r line || [[ -n "$line" ]]; do
  line_number=$((line_number + 1))
  [[ -z "$line" ]] && continue
  if [[ ! "$line" =~ ^([0-9a-f]{64})\ [\ *](.+)$ ]]; then
    echo "$frozen_relative:$line_number: not a sha256sum line; regenerate it with scripts/freeze-sdk" >&2
    exit 1
  fi
  expected[${BASH_REMATCH[2]}]=${BASH_REMATCH[1]}
done <"$frozen"

while IFS= read -r line; do
  [[ "$line" =~ ^([0-9a-f]{64})\ [\ *](.+)$ ]] || { echo "sdk_abi_freeze: bad sha256sum output: $line" >&2; exit 1; }
  actual[${BASH_REMATCH[2]}]=${BASH_REMATCH[1]}
done < <(cd "$root/sdk/include" && find hive -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)

where="(frozen for $version in $frozen_relative)"
failures=()
for path in "${!expected[@]}"; do
  if [[ -z "${actual[$path]+set}" ]]; then
    failures+=("sdk/include/$path removed without an SDK ABI version bump $where; bump HIVE_SDK_ABI_MAJOR and run scripts/freeze-sdk")
  elif [[ "${actual[$path]}" != "${expected[$path]}" ]]; then
    failures+=("sdk/include/$path changed without an SDK ABI version bump $where; bump HIVE_SDK_ABI_MINOR (additive) or MAJOR and run scripts/freeze-sdk")
  fi
done
for path in "${!actual[@]}"; do
  if [[ -z "${expected[$path]+set}" ]]; then
    failures+=("sdk/include/$path added without an SDK ABI version bump $where; bump HIVE_SDK_ABI_MINOR (additive) or MAJOR and run scripts/freeze-sdk")
  fi
done

if ((${#failures[@]} > 0)); then
  printf '%s\n' "${failures[@]}" | LC_ALL=C sort >&2
  exit 1
fi
echo "sdk_abi_freeze: ${#actual[@]} headers match $frozen_relative (SDK ABI $version)"
