#!/usr/bin/env bash
# WebSocket fan-out of the api plugin: CONNECTIONS (10,000) clients of
# /api/v2/ws (subprotocol hive.v1) subscribed to `tasks`; EVENTS (20) tasks
# submitted one at a time with POST /api/v2/tasks, each published by
# task_manager on `tasks` after its SQLite commit; per event, the time from the
# POST to the event's arrival on every connection (first/p50/p99/max), and the
# hive process's VmRSS/VmHWM before connecting, with every client connected,
# after the events and after the clients left. Not run by ctest.
#
# Usage: bench/ws/run.sh BUILD_DIR [ws_fanout options...]
#   BUILD_DIR holds bin/hive, bin/ws_fanout and plugins/{api,storage_sqlite,
#   communication_engine,task_manager}-*.so, e.g.
#     cmake --build build/release --target hive api storage_sqlite communication_engine task_manager ws_fanout
#     bench/ws/run.sh build/release
#   or: cmake --build build/release --target bench_ws
#   Environment: CONNECTIONS (10000), EVENTS (20), IO_THREADS (hive's io_threads, 2).
#   Extra options go to ws_fanout (see `BUILD_DIR/bin/ws_fanout --help`), e.g. --threads 2.
#
# Client and server run on this machine: each process holds one descriptor per
# connection (2 x CONNECTIONS in all). The script raises `ulimit -n` to
# CONNECTIONS + 4096 for both (the hard limit too when it may: CAP_SYS_RESOURCE)
# and fails early when it cannot. Loopback connections use ephemeral ports
# (net.ipv4.ip_local_port_range), checked against CONNECTIONS.
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR [ws_fanout options...]}" && pwd)
shift
connections=${CONNECTIONS:-10000}
events=${EVENTS:-20}
io_threads=${IO_THREADS:-2}
tool="$build/bin/ws_fanout"
for file in "$build/bin/hive" "$tool"; do
  [ -x "$file" ] || { echo "bench_ws: $file is missing (build hive and ws_fanout)" >&2; exit 1; }
done

# Descriptors: each process holds one per connection, plus the kernel's own.
need=$((connections + 4096))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
  ulimit -Hn "$need" 2>/dev/null || {
    echo "bench_ws: need $need descriptors per process; the hard limit is $(ulimit -Hn) and raising it needs CAP_SYS_RESOURCE" >&2
    exit 1
  }
fi
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need" ] && ulimit -Sn "$need"
read -r port_low port_high < /proc/sys/net/ipv4/ip_local_port_range
if [ $((port_high - port_low + 1)) -lt "$connections" ]; then
  echo "bench_ws: only $((port_high - port_low + 1)) ephemeral ports ($port_low-$port_high) for $connections connections" >&2
  exit 1
fi

work=$(mktemp -d /tmp/hive-bench-ws.XXXXXX)
hive_pid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$hive_pid" ] && kill -0 "$hive_pid" 2>/dev/null; then
    kill "$hive_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$hive_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$hive_pid" 2>/dev/null || true
    wait "$hive_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/plugins" "$work/data"
for plugin in api storage_sqlite communication_engine task_manager; do
  ls "$build"/plugins/$plugin-*.so >/dev/null 2>&1 || { echo "bench_ws: $build/plugins/$plugin-*.so is missing" >&2; exit 1; }
  cp "$build"/plugins/$plugin-*.so "$work/plugins/"
done
# No agent has the capability of the submitted tasks: each stays pending and
# publishes exactly one event (`submitted`) on `tasks` and on `tasks.<id>`.
cat > "$work/hive.yaml" <<YAML
hive:
  plugin_dirs: [plugins]
  data_dir: data
  control_socket: ""
  log_level: warn
  io_threads: $io_threads
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
      limits: {max_connections: $((connections + 1000)), idle_timeout: 10m}
      websocket: {max_connections: $((connections + 1000)), messages_per_second: 1000, idle_timeout: 30m}
  storage_sqlite:
    config: {}
  communication_engine:
    config: {transport: local}
  task_manager:
    config: {}
YAML
"$build/bin/hive" run -c "$work/hive.yaml" > "$work/hive.log" 2>&1 &
hive_pid=$!
for _ in $(seq 150); do
  [ -s "$work/data/api/port" ] && break
  kill -0 "$hive_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$work/data/api/port" ]; then
  echo "bench_ws: hive did not write data/api/port within 15 s; its log:" >&2
  cat "$work/hive.log" >&2
  exit 1
fi
port=$(cat "$work/data/api/port")
ready=
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && { ready=1; break; }
  sleep 0.1
done
[ -n "$ready" ] || { echo "bench_ws: /readyz is not 200 after 10 s; hive log:" >&2; cat "$work/hive.log" >&2; exit 1; }
sleep 1

memory() { awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "%s %s", r, h}' "/proc/$hive_pid/status"; }
read -r rss_start hwm_start <<<"$(memory)"
echo "hive pid $hive_pid on 127.0.0.1:$port, io_threads $io_threads; ulimit -n $(ulimit -Sn); $(nproc) cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on this machine skew the figures)"
echo "hive plugins: api storage_sqlite communication_engine(local) task_manager; build $build"

status=0
"$tool" --port "$port" --connections "$connections" --events "$events" \
  --server-pid "$hive_pid" "$@" | tee "$work/tool.out" || status=$?
sleep 2
read -r rss_end hwm_end <<<"$(memory)"

# The tool's "memory <phase> server VmRSS=N kB VmHWM=N kB | client ..." lines.
from_tool() { awk -v phase="$1" '$0 ~ "^memory " phase " +server" {
  for (i = 1; i <= NF; i++) { if ($i ~ /^VmRSS=/ && r == "") r = substr($i, 7); if ($i ~ /^VmHWM=/ && h == "") h = substr($i, 7) }
  print r, h; exit }' "$work/tool.out"; }
mb() { awk -v k="$1" 'BEGIN { if (k == "" || k == "?") print "-"; else printf "%.1f", k / 1024 }'; }
row() { printf '%-34s %12s %12s\n' "$1" "$(mb "$2")" "$(mb "$3")"; }

echo
echo "summary: hive RSS (MiB), $connections connections requested"
printf '%-34s %12s %12s\n' phase VmRSS VmHWM
row "started, before connecting" "$rss_start" "$hwm_start"
read -r r h <<<"$(from_tool settled)" || true; row "all clients connected (+1 s)" "${r:-}" "${h:-}"
read -r r h <<<"$(from_tool after-events)" || true; row "after the events" "${r:-}" "${h:-}"
row "clients gone (+2 s)" "$rss_end" "$hwm_end"
conn_rss=$(from_tool settled | awk '{print $1}')
if [ -n "$conn_rss" ] && [ "$conn_rss" != "?" ]; then
  awk -v a="$rss_start" -v b="$conn_rss" -v n="$connections" \
    'BEGIN { printf "RSS added by the connected clients: %.1f MiB (%.1f KiB per connection)\n", (b - a) / 1024, (b - a) / n }'
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
grep '^RESULT' "$work/tool.out" | sed 's/^RESULT/latency (ms, POST sent -> event frame received by the client socket):/' || echo "no latency result"
warnings=$(grep -c -iE 'warn|error' "$work/hive.log" || true)
echo "hive log: $warnings warning/error lines"
[ "$warnings" -gt 0 ] && grep -iE 'warn|error' "$work/hive.log" | sort | uniq -c | sort -rn | head -5
exit "$status"
