#!/usr/bin/env bash
# GET /health req/s, p50 and p99 with `wrk -t1 -c50 -d10s`: hive (api plugin)
# and nginx (one worker, `return 200` with the same body), run interleaved; also
# the CPU time each server spends per request.
# Usage: bench/http/run.sh BUILD_DIR [ROUNDS]   (BUILD_DIR holds bin/hive and plugins/api-*.so)
# Environment: IO_THREADS, hive's io_threads (unset: hive's default, half the usable cores).
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-3}
for tool in wrk nginx; do command -v $tool >/dev/null || { echo "bench_http: $tool is not installed" >&2; exit 1; }; done
work=$(mktemp -d /tmp/hive-bench-http.XXXXXX)
hive_pid='' nginx_pid=''
cleanup() {
  [ -n "$hive_pid" ] && kill "$hive_pid" 2>/dev/null && wait "$hive_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/plugins" "$work/data"
cp "$build"/plugins/api-*.so "$work/plugins/"
cat > "$work/hive.yaml" <<YAML
hive:
  plugin_dirs: [plugins]
  data_dir: data
  control_socket: ""
  log_level: warn
${IO_THREADS:+  io_threads: $IO_THREADS}
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
YAML
"$build/bin/hive" run -c "$work/hive.yaml" > "$work/hive.log" 2>&1 &
hive_pid=$!
for _ in $(seq 100); do [ -s "$work/data/api/port" ] && break; sleep 0.1; done
hive_port=$(cat "$work/data/api/port")
body=$(curl -s "http://127.0.0.1:$hive_port/health")

nginx_port=$(free_port)
mkdir -p "$work/nginx"
printf '%s' "$body" > "$work/nginx/body.json"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /health { default_type application/json; return 200 '$body'; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
sleep 0.5
nginx_worker=$(pgrep -P "$nginx_pid" | head -1)
[ -n "$nginx_worker" ] || { echo "bench_http: nginx did not start (see $work/nginx/error.log)" >&2; exit 1; }

# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# wrk --latency prints "50%  1.23ms" lines; convert to milliseconds. Also the
# server's CPU time per request (microseconds), which depends less than req/s
# on what else the machine is doing.
measure() {
  local before after out
  before=$(cpu_ticks "$2")
  out=$(wrk -t1 -c50 -d10s --latency "$1")
  after=$(cpu_ticks "$2")
  local rps p50 p99 requests cpu_us
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  errors=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out" | tr '\n' ' ')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $cpu_us $errors"
}
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'; }

echo "hive io_threads: ${IO_THREADS:-default}; nginx: 1 worker; wrk -t1 -c50 -d10s"
printf '%-6s %-6s %12s %10s %10s %12s  %s\n' round server req/s p50_ms p99_ms cpu_us/req errors
hive_total=0 nginx_total=0 hive_cpu=0 nginx_cpu=0
for round in $(seq "$rounds"); do
  read -r h_rps h_p50 h_p99 h_cpu h_err <<<"$(measure "http://127.0.0.1:$hive_port/health" "$hive_pid")"
  printf '%-6s %-6s %12s %10s %10s %12s  %s\n' "$round" hive "$h_rps" "$h_p50" "$h_p99" "$h_cpu" "${h_err:-}"
  read -r n_rps n_p50 n_p99 n_cpu n_err <<<"$(measure "http://127.0.0.1:$nginx_port/health" "$nginx_worker")"
  printf '%-6s %-6s %12s %10s %10s %12s  %s\n' "$round" nginx "$n_rps" "$n_p50" "$n_p99" "$n_cpu" "${n_err:-}"
  hive_total=$(awk -v a="$hive_total" -v b="$h_rps" 'BEGIN{print a+b}')
  nginx_total=$(awk -v a="$nginx_total" -v b="$n_rps" 'BEGIN{print a+b}')
  hive_cpu=$(awk -v a="$hive_cpu" -v b="$h_cpu" 'BEGIN{print a+b}')
  nginx_cpu=$(awk -v a="$nginx_cpu" -v b="$n_cpu" 'BEGIN{print a+b}')
done
awk -v h="$hive_total" -v n="$nginx_total" 'BEGIN { printf "ratio hive/nginx req/s: %.2f (aim >= 0.75)\n", h/n }'
awk -v h="$hive_cpu" -v n="$nginx_cpu" 'BEGIN { printf "ratio nginx/hive CPU per request: %.2f (1.00 = as cheap as nginx)\n", n/h }'
