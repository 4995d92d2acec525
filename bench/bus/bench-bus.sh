#!/usr/bin/env bash
# Runs bench_bus beside redis-benchmark against a throwaway redis-server of its
# own (loopback, free port, no persistence), and prints the ratio of the redis
# transport's append rate to redis-benchmark's pipelined XADD rate.
#
#   bench/bus/bench-bus.sh <build-dir>     e.g. build/release
set -euo pipefail
build=${1:?usage: bench-bus.sh <build-dir> [bench_bus options]}
shift
bench=$build/bin/bench_bus
[[ -x $bench ]] || { echo "no $bench: cmake --build $build --target bench_bus" >&2; exit 1; }

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "== redis-benchmark -P 16 -n 200000 XADD (redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'))"
line=$(redis-benchmark -p "$port" -P 16 -n 200000 -q XADD benchstream '*' p xxxxxxxxxxxxxxxx | tr '\r' '\n' | grep -i 'requests per second' | tail -1)
echo "$line"
baseline=$(echo "$line" | sed 's/.*: *\([0-9.]*\) requests per second.*/\1/')
redis-cli -p "$port" del benchstream >/dev/null
# The same concurrency as bench_bus's appenders: one request in flight per client.
threads=16
for ((i = 1; i <= $#; i++)); do [[ ${!i} == --threads ]] && { j=$((i + 1)); threads=${!j}; }; done
echo "== for reference: redis-benchmark -c $threads -P 1 (one XADD in flight per client, like bench_bus's threads)"
redis-benchmark -p "$port" -c "$threads" -P 1 -n 200000 -q XADD benchstream '*' p xxxxxxxxxxxxxxxx | tr '\r' '\n' | grep -i 'requests per second' | tail -1
redis-cli -p "$port" del benchstream >/dev/null

echo "== bench_bus"
out=$("$bench" --redis "redis://127.0.0.1:$port" "$@")
echo "$out" | grep -v '^RESULT'
ours=$(echo "$out" | sed -n 's/^RESULT redis_append_per_second //p')
python3 -c "b=float('$baseline'); o=float('$ours'); print(f'== redis transport append {o:.0f}/s vs redis-benchmark XADD {b:.0f}/s: ratio {o/b:.2f} (aim >= 0.5)')"
