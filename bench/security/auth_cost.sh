#!/usr/bin/env bash
# What authentication costs: GET /api/v2/tasks/{id} req/s, p50 and p99 with
# `wrk -t1 -c50 -d10s`, on a hive without a hive.auth/1 provider (no key) and
# on one with security_manager (Authorization: Bearer <key>, role viewer), run
# interleaved, ROUNDS rounds; prints each round and the ratio of the medians.
# Both hives run the same plugins (api, storage_sqlite, communication_engine,
# task_manager) on their own data directory, each with one task to read.
# With REDIS_URL set (redis://host:port) a third hive runs security_manager with
# its rate limits shared through that Redis (rate_limits.redis, one EVALSHA
# round trip per lease), in the same rounds; LEASE sets its lease (default
# 100ms; 0 = one round trip per request). IO_THREADS sets every hive's
# io_threads (default: the kernel's, half the cores).
# Usage: [REDIS_URL=...] bench/security/auth_cost.sh BUILD_DIR [ROUNDS]   (BUILD_DIR holds bin/hive and plugins/)
set -euo pipefail
build=$(cd "${1:?usage: auth_cost.sh BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-3}
duration=${DURATION:-10s}
command -v wrk >/dev/null || { echo "auth_cost: wrk is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/hive-bench-auth.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# setup NAME WITH_SECURITY [REDIS_URL]: a config and its plugins in $work/NAME.
setup() {
  local dir=$work/$1
  mkdir -p "$dir/plugins" "$dir/data"
  for plugin in api storage_sqlite communication_engine task_manager; do cp "$build"/plugins/$plugin-*.so "$dir/plugins/"; done
  local security=''
  if [ "$2" = yes ]; then
    cp "$build"/plugins/security_manager-*.so "$dir/plugins/"
    # Limits far above what wrk reaches: the limiter's cost is measured, not its refusals.
    security='  security_manager:
    config:
      rate_limits:
        roles:
          admin: {read: {rate: 1000000/s, burst: 1000000}}'
    if [ -n "${3:-}" ]; then
      security+="
        redis: {url: \"$3\", key_prefix: \"hive-bench:$$:\", lease: ${LEASE:-100ms}}"
    fi
  fi
  cat > "$dir/hive.yaml" <<YAML
hive:
  plugin_dirs: [plugins]
  data_dir: data
  control_socket: ""
  log_level: warn${IO_THREADS:+
  io_threads: $IO_THREADS}
plugins:
  storage_sqlite:
    config: {}
  communication_engine:
    config: {}
$security
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
  task_manager:
    config: {}
YAML
}

# start NAME: runs the hive (in this shell, so that cleanup stops it).
start() {
  local dir=$work/$1
  "$build/bin/hive" run -c "$dir/hive.yaml" > "$dir/hive.log" 2>&1 &
  pids+=($!)
}
# port NAME: the hive's port, once it listens.
port() {
  local dir=$work/$1
  for _ in $(seq 300); do [ -s "$dir/data/api/port" ] && break; sleep 0.1; done
  cat "$dir/data/api/port"
}

setup plain no
setup keyed yes
key=$("$build/bin/hive" auth keys create -c "$work/keyed/hive.yaml" --name bench --role admin 2>/dev/null)
start plain
start keyed
plain_port=$(port plain)
keyed_port=$(port keyed)
shared=${REDIS_URL:-}
if [ -n "$shared" ]; then
  setup shared yes "$shared"
  shared_key=$("$build/bin/hive" auth keys create -c "$work/shared/hive.yaml" --name bench --role admin 2>/dev/null)
  start shared
  shared_port=$(port shared)
fi
submit='{"type":"bench","payload":{"n":1}}'
plain_task=$(curl -sf -X POST -H 'Content-Type: application/json' -d "$submit" "http://127.0.0.1:$plain_port/api/v2/tasks" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
keyed_task=$(curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $key" -d "$submit" \
  "http://127.0.0.1:$keyed_port/api/v2/tasks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# The key is in wrk's arguments only; nothing here prints it.
curl -sf -o /dev/null "http://127.0.0.1:$plain_port/api/v2/tasks/$plain_task"
curl -sf -o /dev/null -H "Authorization: Bearer $key" "http://127.0.0.1:$keyed_port/api/v2/tasks/$keyed_task"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$keyed_port/api/v2/tasks/$keyed_task")" = 401 ] ||
  { echo "auth_cost: the keyed hive answers without a key" >&2; exit 1; }
if [ -n "$shared" ]; then
  shared_task=$(curl -sf -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $shared_key" -d "$submit" \
    "http://127.0.0.1:$shared_port/api/v2/tasks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  # The bench's buckets are full again within 1 ms (and expire): count the script's runs instead.
  scripts_run() { redis-cli -u "$shared" info commandstats | awk -F'[=,]' '/^cmdstat_eval(sha)?:/ {n += $2} END {print n + 0}'; }
  before=$(scripts_run)
  curl -sf -o /dev/null -H "Authorization: Bearer $shared_key" "http://127.0.0.1:$shared_port/api/v2/tasks/$shared_task"
  [ "$(scripts_run)" -gt "$before" ] ||
    { echo "auth_cost: the shared hive did not ask Redis" >&2; cat "$work/shared/hive.log" >&2; exit 1; }
fi

# run LABEL URL [HEADER]: one wrk run; prints "LABEL req/s p50 p99".
run() {
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t1 -c50 -d"$duration" --latency -H "$3" "$2"); else out=$(wrk -t1 -c50 -d"$duration" --latency "$2"); fi
  if grep -q "Non-2xx" <<<"$out"; then echo "auth_cost: $1: non-2xx answers" >&2; grep "Non-2xx" <<<"$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$1 $rps $p50 $p99"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)  (nproc $(nproc))"
plain_rates=() keyed_rates=() shared_rates=()
for round in $(seq "$rounds"); do
  line=$(run no-auth "http://127.0.0.1:$plain_port/api/v2/tasks/$plain_task"); echo "round $round $line"
  plain_rates+=($(cut -d' ' -f2 <<<"$line"))
  line=$(run api-key "http://127.0.0.1:$keyed_port/api/v2/tasks/$keyed_task" "Authorization: Bearer $key"); echo "round $round $line"
  keyed_rates+=($(cut -d' ' -f2 <<<"$line"))
  if [ -n "$shared" ]; then
    line=$(run api-key+redis "http://127.0.0.1:$shared_port/api/v2/tasks/$shared_task" "Authorization: Bearer $shared_key")
    echo "round $round $line"
    shared_rates+=($(cut -d' ' -f2 <<<"$line"))
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
plain=$(median "${plain_rates[@]}")
keyed=$(median "${keyed_rates[@]}")
awk -v p="$plain" -v k="$keyed" 'BEGIN {printf "median req/s: no auth %.0f, API key %.0f, ratio %.3f\n", p, k, k / p}'
if [ -n "$shared" ]; then
  grep -q "shared rate limits: Redis" "$work/shared/hive.log" &&
    { echo "auth_cost: Redis failed during the run:" >&2; grep "shared rate limits" "$work/shared/hive.log" >&2; }
  awk -v k="$keyed" -v s="$(median "${shared_rates[@]}")" \
    'BEGIN {printf "median req/s: API key, limits shared through Redis %.0f, ratio to local limits %.3f\n", s, s / k}'
fi
