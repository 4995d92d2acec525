#!/usr/bin/env bash
# Retakes the screenshots of docs/dashboard.md (docs/dashboard/*.png): the
# browser test's scenarios against a real hive, with a screenshot at each view.
#   plugins/dashboard/tests/update_screenshots.sh build/dev
set -euo pipefail
build=${1:?usage: update_screenshots.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
/usr/bin/python3 "$here/dashboard_browser_e2e.py" --hive "$build/bin/hive" --plugins "$build/plugins" \
  --modules "$build/plugins/dashboard/web" --screenshots "$root/docs/dashboard"
rm -f "$root/docs/dashboard/failure.png"
ls -l "$root/docs/dashboard"
