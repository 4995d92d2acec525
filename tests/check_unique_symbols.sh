#!/usr/bin/env bash
# usage: tests/check_unique_symbols.sh [--allow GLOB]... DIR...
#
# Fails if any shared library (*.so, *.so.*) under a DIR (searched recursively)
# has a dynamic symbol with binding UNIQUE (STB_GNU_UNIQUE). glibc never unmaps a
# library that has one, so dlclose becomes a no-op and a hot-swapped plugin stays
# mapped for ever. GCC emits them for function-local statics of inline functions
# (and static members of class templates) unless built with -fno-gnu-unique.
# Each DIR must exist and contain at least one shared library, so that a build
# that silently produced no plugins does not pass.
#
#   --allow GLOB   skip libraries whose file name matches GLOB (a deliberately
#                  broken test plugin, e.g. one that must become a zombie)
set -euo pipefail

allowed=()
dirs=()
while (($# > 0)); do
  case "$1" in
    --allow)
      [[ $# -ge 2 ]] || { echo "check_unique_symbols: --allow needs a pattern" >&2; exit 2; }
      allowed+=("$2")
      shift 2
      ;;
    -h | --help)
      sed -n '2,14s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *)
      dirs+=("$1")
      shift
      ;;
  esac
done
if ((${#dirs[@]} == 0)); then
  echo "usage: check_unique_symbols.sh [--allow GLOB]... DIR..." >&2
  exit 2
fi
command -v readelf >/dev/null || { echo "check_unique_symbols: readelf not found (binutils)" >&2; exit 1; }

is_allowed() {
  local name pattern
  name=$(basename "$1")
  for pattern in "${allowed[@]}"; do
    # shellcheck disable=SC2053  # the pattern is meant to glob
    [[ "$name" == $pattern ]] && return 0
  done
  return 1
}

demangle() {
  if command -v c++filt >/dev/null; then c++filt "$1"; else echo "$1"; fi
}

status=0
checked=0
for dir in "${dirs[@]}"; do
  if [[ ! -d "$dir" ]]; then
    echo "check_unique_symbols: $dir: no such directory (was the build run?)" >&2
    status=1
    continue
  fi
  libraries=()
  while IFS= read -r -d '' library; do libraries+=("$library"); done \
    < <(find -L "$dir" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | LC_ALL=C sort -z)
  if ((${#libraries[@]} == 0)); then
    echo "check_unique_symbols: $dir: contains no shared library (*.so)" >&2
    status=1
    continue
  fi
  for library in "${libraries[@]}"; do
    if is_allowed "$library"; then
      echo "check_unique_symbols: $library: skipped (--allow)"
      continue
    fi
    if ! symbols=$(LC_ALL=C readelf --dyn-syms -W "$library" 2>&1); then
      echo "$library: readelf failed: $symbols" >&2
      status=1
      continue
    fi
    checked=$((checked + 1))
    # Columns: Num: Value Size Type Bind Vis Ndx Name
    while IFS= read -r symbol; do
      echo "$library: UNIQUE symbol $symbol ($(demangle "$symbol")); build with -fno-gnu-unique" >&2
      status=1
    done < <(awk '$5 == "UNIQUE" { print $8 }' <<<"$symbols" | LC_ALL=C sort -u)
  done
done

if ((status == 0)); then
  echo "check_unique_symbols: $checked shared libraries, no UNIQUE symbols"
fi
exit "$status"
