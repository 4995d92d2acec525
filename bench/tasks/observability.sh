#!/usr/bin/env bash
# What observability costs the task path: bench_tasks' e2e and submit runs on
# a plain hive and on an observed one — monitoring_engine loaded, /metrics
# scraped every second, every task's spans exported to a local OTLP/HTTP
# receiver — alternated in one run, with the observed/plain ratio of each
# figure (issue 15 asks for a drop of at most 5 %). Prints figures; asserts
# nothing.
#
# Usage: bench/tasks/observability.sh BUILD_DIR [--reps R] [--tasks N] [--duration D] [--keep]
#
# BUILD_DIR holds bin/hive, bin/bench_tasks and plugins/{api,storage_sqlite,
# communication_engine,task_manager,orchestrator,monitoring_engine}-*.so:
#   cmake --build build/release --target hive api storage_sqlite communication_engine \
#     task_manager orchestrator monitoring_engine bench_tasks
set -euo pipefail

die() {
  echo "observability.sh: $*" >&2
  exit 1
}
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h | --help) usage; exit 0 ;; esac
build=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
shift
reps=3 tasks=20000 duration=10 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=${2:?--reps needs a value}; shift ;;
    --tasks) tasks=${2:?--tasks needs a value}; shift ;;
    --duration) duration=${2:?--duration needs a value}; shift ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (--help lists them)" ;;
  esac
  shift
done
for value in "$reps" "$tasks" "$duration"; do [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "'$value' is not a positive whole number"; done
tool=$build/bin/bench_tasks
[ -x "$build/bin/hive" ] || die "$build/bin/hive is missing"
[ -x "$tool" ] || die "$tool is missing (build the bench_tasks target)"
for plugin in api communication_engine task_manager orchestrator storage_sqlite monitoring_engine; do
  ls "$build"/plugins/"$plugin"-*.so >/dev/null 2>&1 || die "$build/plugins/$plugin-*.so is missing"
done
for cmd in curl python3; do command -v $cmd >/dev/null || die "$cmd is not installed"; done

work=$(mktemp -d /tmp/hive-bench-observability.XXXXXX)
hive_pid='' scraper_pid='' sink_pid=''
# shellcheck source=bench/tasks/processes.sh
. "$(dirname "$0")/processes.sh"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  set +e
  stop_pid "$scraper_pid"
  stop_pid "$hive_pid"
  stop_pid "$sink_pid"
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An OTLP/HTTP receiver that accepts every batch and counts bytes and batches.
cat >"$work/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    batches = 0
    received = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.batches += 1
        Sink.received += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        with open(sys.argv[2], "w") as out:
            out.write("%d %d\n" % (Sink.batches, Sink.received))
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
with open(sys.argv[1], "w") as out:
    out.write(str(server.server_address[1]))
server.serve_forever()
PY
python3 "$work/sink.py" "$work/sink.port" "$work/sink.count" &
sink_pid=$!
for _ in $(seq 50); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
[ -s "$work/sink.port" ] || die "the OTLP receiver did not start"
sink_port=$(cat "$work/sink.port")

start_hive() { # plain | observed
  local variant=$1 dir=$work/$1-$2
  mkdir -p "$dir/plugins" "$dir/data"
  local plugins="api communication_engine task_manager orchestrator storage_sqlite"
  [ "$variant" = observed ] && plugins="$plugins monitoring_engine"
  for plugin in $plugins; do cp "$build"/plugins/"$plugin"-*.so "$dir/plugins/"; done
  local monitoring=''
  [ "$variant" = observed ] && monitoring="  monitoring_engine:
    config:
      tracing:
        endpoint: http://127.0.0.1:$sink_port/v1/traces"
  cat >"$dir/hive.yaml" <<YAML
hive:
  plugin_dirs: [plugins]
  data_dir: data
  control_socket: ""
  log_level: warn
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
      websocket: {route_messages_per_second: 1000000, send_queue: 65536}
  storage_sqlite:
    config: {}
  communication_engine:
    config: {transport: local}
  task_manager:
    config: {}
  orchestrator:
    config: {}
$monitoring
YAML
  (cd "$dir" && exec "$build/bin/hive" run -c hive.yaml) >>"$dir/hive.log" 2>&1 &
  hive_pid=$!
  for _ in $(seq 150); do [ -s "$dir/data/api/port" ] && break; sleep 0.1; done
  [ -s "$dir/data/api/port" ] || { cat "$dir/hive.log" >&2; die "hive ($variant) did not start"; }
  port=$(cat "$dir/data/api/port")
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
    sleep 0.1
  done
  if [ "$variant" = observed ]; then
    (while :; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 1; done) &
    scraper_pid=$!
  fi
}

stop_hive() {
  stop_pid "$scraper_pid"
  scraper_pid=''
  stop_pid "$hive_pid"
  hive_pid=''
}

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }
run_bench() { # label args...: prints the RESULT line
  local label=$1
  shift
  "$tool" --port "$port" --server-pid "$hive_pid" "$@" --label "$label" >"$work/$label.out" 2>&1 || true
  grep '^RESULT' "$work/$label.out" | tail -1
}

echo "observability cost: $reps reps of plain then observed; e2e $tasks tasks (50 connections, 8 agents x 64);" \
  "submit $duration s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-9s %12s %16s %16s %14s\n' rep variant "e2e tasks/s" "e2e result p50" "e2e result p99" "POST req/s"
: >"$work/figures"
for rep in $(seq "$reps"); do
  for variant in plain observed; do
    start_hive "$variant" "$rep"
    e2e=$(run_bench "$variant-$rep-e2e" --mode e2e --tasks "$tasks" --connections 50 --agents 8 --concurrency 64 \
      --timeout 120 --window 2000)
    submit=$(run_bench "$variant-$rep-submit" --mode submit --duration "$duration" --connections 50 \
      --capability "bench-nobody-$$")
    spans=''
    [ "$variant" = observed ] && spans=$(curl -s "http://127.0.0.1:$port/metrics" |
      awk '/^hive_trace_spans_(exported|dropped)_total / { sub("hive_trace_spans_", ""); printf "%s %s ", $1, $2 }')
    stop_hive
    tps=$(field "$e2e" tps) p50=$(field "$e2e" result_p50_ms) p99=$(field "$e2e" result_p99_ms) rps=$(field "$submit" rps)
    printf '%-4s %-9s %12s %16s %16s %14s  %s\n' "$rep" "$variant" "${tps:--}" "${p50:--}" "${p99:--}" "${rps:--}" \
      "${spans:+spans: $spans}"
    echo "$variant ${tps:-0} ${p50:-0} ${p99:-0} ${rps:-0}" >>"$work/figures"
  done
done
read -r batches bytes <"$work/sink.count" 2>/dev/null || { batches=0 bytes=0; }
echo "OTLP receiver: $batches batches, $bytes bytes of spans"
# Median of each figure per variant, then observed / plain.
python3 - "$work/figures" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
names = ["e2e tasks/s", "e2e result p50 ms", "e2e result p99 ms", "POST req/s"]
medians = {v: [statistics.median(float(r[i + 1]) for r in rows if r[0] == v) for i in range(4)]
           for v in ("plain", "observed")}
print("median over reps      plain      observed   observed/plain")
for i, name in enumerate(names):
    p, o = medians["plain"][i], medians["observed"][i]
    print("%-18s %10.1f %12.1f %12s" % (name, p, o, ("%.3f" % (o / p)) if p else "-"))
PY
