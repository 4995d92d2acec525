#!/usr/bin/env bash
# usage: tests/unique_symbols_selftest.sh [REPO_ROOT]
#
# Tests tests/check_unique_symbols.sh on libraries built here with g++: an inline
# function with a function-local static gives an STB_GNU_UNIQUE symbol, which the
# checker must report; the same source built with -fno-gnu-unique must pass; a
# directory without any shared library must fail.
set -euo pipefail

root=$(readlink -f "${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/..}")
checker=$root/tests/check_unique_symbols.sh
cxx=${HIVE_SELFTEST_CXX:-g++}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/unique/nested" "$work/clean" "$work/empty"

cat >"$work/counter.cpp" <<'CPP'
inline int& counter() {
  static int value = 0;  // function-local static of an inline function
  return value;
}
int bumpCounter() { return ++counter(); }
CPP
"$cxx" -std=c++20 -shared -fPIC -o "$work/unique/nested/libcounter.so" "$work/counter.cpp"
"$cxx" -std=c++20 -shared -fPIC -fno-gnu-unique -o "$work/clean/libcounter.so" "$work/counter.cpp"
echo "not a library" >"$work/empty/readme.txt"

failed=0
ok() { echo "ok: $1"; }
not_ok() {
  echo "FAIL: $1" >&2
  failed=1
}

# The premise: without -fno-gnu-unique the compiler really emits a UNIQUE symbol.
if LC_ALL=C readelf --dyn-syms -W "$work/unique/nested/libcounter.so" | awk '$5 == "UNIQUE"' | grep -q .; then
  ok "g++ emits a UNIQUE symbol without -fno-gnu-unique"
else
  not_ok "g++ emitted no UNIQUE symbol; this self-test cannot test the checker"
fi

if output=$(bash "$checker" "$work/unique" 2>&1); then
  not_ok "checker passed a library with a UNIQUE symbol:"$'\n'"$output"
elif [[ "$output" == *"$work/unique/nested/libcounter.so: UNIQUE symbol _ZZ7countervE5value (counter()::value)"* ]]; then
  ok "checker fails on a UNIQUE symbol and names the file and the symbol"
else
  not_ok "checker failed without naming the file and symbol:"$'\n'"$output"
fi

if output=$(bash "$checker" "$work/clean" 2>&1); then
  ok "checker passes a library built with -fno-gnu-unique"
else
  not_ok "checker failed a library built with -fno-gnu-unique:"$'\n'"$output"
fi

if output=$(bash "$checker" "$work/clean" "$work/unique" 2>&1); then
  not_ok "checker passed when one of two directories has a UNIQUE symbol"
else
  ok "checker fails when any directory has a UNIQUE symbol"
fi

if output=$(bash "$checker" --allow 'libcounter.so' "$work/unique" 2>&1); then
  ok "--allow skips a deliberately broken library"
else
  not_ok "--allow did not skip the library:"$'\n'"$output"
fi

if output=$(bash "$checker" "$work/empty" 2>&1); then
  not_ok "checker passed a directory without shared libraries"
elif [[ "$output" == *"contains no shared library"* ]]; then
  ok "checker fails on a directory without shared libraries"
else
  not_ok "unexpected message for an empty directory:"$'\n'"$output"
fi

if output=$(bash "$checker" "$work/does-not-exist" 2>&1); then
  not_ok "checker passed a missing directory"
else
  ok "checker fails on a missing directory"
fi

if ((failed)); then
  echo "unique_symbols_selftest: FAILED" >&2
  exit 1
fi
echo "unique_symbols_selftest: all checks passed"
