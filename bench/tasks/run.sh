#!/usr/bin/env bash
# Hive's task path, end to end, on this machine: submit throughput, tasks/s
# through remote agents, submit -> assigned / result latency (one task at a
# time, and at half the peak), on the embedded SQLite store and on PostgreSQL +
# Redis; the same with Python agents (examples/agents/hive_agent.py); bytes on
# disk per finished task; and, when the Python peer (../shared/peers/python-stack)
# is installed, its FastAPI and Celery figures from the same invocation and the
# ratios Hive/peer. Not run by ctest.
#
# Usage: bench/tasks/run.sh BUILD_DIR [options]      (bench/tasks/run.sh --help)
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/tasks/run.sh BUILD_DIR [options]

BUILD_DIR holds bin/hive, bin/bench_tasks and plugins/{api,storage_sqlite,
storage_postgres,communication_engine,task_manager,orchestrator}-*.so, e.g.
  cmake --build build/release --target hive api storage_sqlite storage_postgres \
    communication_engine task_manager orchestrator bench_tasks
  bench/tasks/run.sh build/release

Per store, in this order, on one hive process with a fresh store:
  e2e      N no-op tasks submitted on C connections as fast as they go, run by A
           built-in agents (bench_tasks, max_concurrency K): tasks/s, latencies
  rate     the same at half the e2e tasks/s, for RATE_SECONDS: latency under load
  one      one task at a time, R rounds: submit -> task.succeeded event
  python   N_PY tasks run by P processes of examples/agents/hive_agent.py
  disk     (SQLite) bytes of the data directory / tasks stored so far
  submit   POST /api/v2/tasks alone for D seconds on C connections (tasks no
           agent can run: they stay pending, so it runs last)
Then the peer: FastAPI + asyncpg POST (same bench_tasks submit, same C and D)
and celery_bench.sh (Celery + Redis: end to end, apply_async().get()).

Options:
  --quick              about a minute: small counts, short runs, no peer
  --stores LIST        sqlite,postgres (default both)
  --tasks N            e2e tasks (20000; quick 2000)
  --e2e-timeout S      seconds an e2e run may take; a slower run reports what
                       finished (60; quick 15)
  --window W           at most W tasks submitted and not done in e2e runs, so a
                       slow server gets a bounded backlog and a timed-out run
                       leaves at most W tasks behind (2000; 0 = no bound)
  --connections C      HTTP connections submitting (50, like the peer's wrk -c50)
  --agents A           built-in agents (8)
  --concurrency K      their max_concurrency (64)
  --rate-seconds S     length of the half-peak run (10; quick 4)
  --rounds R           one-at-a-time rounds (300; quick 100)
  --duration D         seconds of the submit run (10; quick 3)
  --python-agents P    Python agent processes (2; 0 skips them)
  --python-concurrency K   their --concurrency (128)
  --python-tasks N     tasks for them (5000; quick 1000)
  --fill N             after the first e2e run, run N more tasks through (they
                       stay stored, finished), then the e2e run again: tasks/s
                       with a full store against the empty one (0: off; the
                       issue's figure is 1000000, about 6 minutes on SQLite)
  --no-peers           skip the Python peer (it takes 2-3 minutes)
  --no-fastapi         skip the FastAPI peer only
  --no-celery          skip the Celery peer only
  --peers              run the peer even with --quick
  --celery-pools LIST  Celery pools, comma-separated ("prefork,solo"; quick "solo")
  --keep               keep the work directory (configs, logs, data)
  -h, --help           this text

Environment:
  HIVE_BENCH_POSTGRES_URL, HIVE_BENCH_REDIS_URL  use these servers instead of
      starting throwaway ones with scripts/test-servers (tables go to a new
      schema hive_bench_<time>, Redis keys under hive:bench<pid>:; both stay)
  PEER_DIR   the Python peer (default: ../shared/peers/python-stack next to the repo)
  IO_THREADS hive's io_threads (default: hive's own default)
EOF
}

die() {
  echo "bench_tasks: $*" >&2
  exit 1
}

[ $# -ge 1 ] || {
  usage >&2
  exit 2
}
case "$1" in -h | --help)
  usage
  exit 0
  ;;
esac
build=$(cd "$1" 2>/dev/null && pwd) || die "no build directory '$1'"
shift
repo=$(cd "$(dirname "$0")/../.." && pwd)

quick=0 stores=sqlite,postgres tasks='' e2e_timeout='' window=2000 connections=50 agents=8 concurrency=64
rate_seconds='' rounds='' duration='' py_agents=2 py_concurrency=128 py_tasks='' peers='' fastapi=1 celery=1
celery_pools='' keep=0 fill=0
while [ $# -gt 0 ]; do
  opt=$1
  need() { [ $# -ge 2 ] || die "$opt needs a value"; }
  case "$opt" in
    --quick) quick=1 ;;
    --stores) need "$@"; stores=$2; shift ;;
    --tasks) need "$@"; tasks=$2; shift ;;
    --e2e-timeout) need "$@"; e2e_timeout=$2; shift ;;
    --window) need "$@"; window=$2; shift ;;
    --connections) need "$@"; connections=$2; shift ;;
    --agents) need "$@"; agents=$2; shift ;;
    --concurrency) need "$@"; concurrency=$2; shift ;;
    --rate-seconds) need "$@"; rate_seconds=$2; shift ;;
    --rounds) need "$@"; rounds=$2; shift ;;
    --duration) need "$@"; duration=$2; shift ;;
    --python-agents) need "$@"; py_agents=$2; shift ;;
    --python-concurrency) need "$@"; py_concurrency=$2; shift ;;
    --python-tasks) need "$@"; py_tasks=$2; shift ;;
    --fill) need "$@"; fill=$2; shift ;;
    --no-peers) peers=0 ;;
    --peers) peers=1 ;;
    --no-fastapi) fastapi=0 ;;
    --no-celery) celery=0 ;;
    --celery-pools) need "$@"; celery_pools=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$opt' (--help lists them)" ;;
  esac
  shift
done
for value in "$window" "$connections" "$agents" "$concurrency" "$py_agents" "$py_concurrency" ${tasks:+"$tasks"} \
  ${e2e_timeout:+"$e2e_timeout"} ${rate_seconds:+"$rate_seconds"} ${rounds:+"$rounds"} ${duration:+"$duration"} \
  ${py_tasks:+"$py_tasks"} "$fill"; do
  [[ "$value" =~ ^[0-9]+$ ]] || die "'$value' is not a whole number"
done
for store in ${stores//,/ }; do
  case "$store" in sqlite | postgres) ;; *) die "--stores: unknown store '$store' (sqlite, postgres)" ;; esac
done
if [ "$quick" = 1 ]; then
  : "${tasks:=2000}" "${e2e_timeout:=15}" "${rate_seconds:=4}" "${rounds:=100}" "${duration:=3}"
  : "${py_tasks:=1000}" "${peers:=0}" "${celery_pools:=solo}"
else
  : "${tasks:=20000}" "${e2e_timeout:=60}" "${rate_seconds:=10}" "${rounds:=300}" "${duration:=10}"
  : "${py_tasks:=5000}" "${peers:=1}" "${celery_pools:=prefork,solo}"
fi

# ---- tools ----
tool=$build/bin/bench_tasks
[ -x "$build/bin/hive" ] || die "$build/bin/hive is missing (build the hive target)"
[ -x "$tool" ] || die "$tool is missing (build the bench_tasks target)"
plugins="api communication_engine task_manager orchestrator"
for store in ${stores//,/ }; do plugins="$plugins storage_$store"; done
for plugin in $plugins; do
  ls "$build"/plugins/"$plugin"-*.so >/dev/null 2>&1 || die "$build/plugins/$plugin-*.so is missing (build the $plugin target)"
done
for cmd in curl python3 du; do command -v $cmd >/dev/null || die "$cmd is not installed"; done
# The example agent and the peer need Debian's python (a pyenv shim on PATH lacks their packages).
py=/usr/bin/python3
if [ "$py_agents" -gt 0 ]; then
  if ! { [ -x "$py" ] && "$py" -c 'import websockets' 2>/dev/null; }; then
    die "the Python agents need $py with websockets (apt-get install python3-websockets), or --python-agents 0"
  fi
fi
if [[ ",$stores," == *,postgres,* ]] && [ -z "${HIVE_BENCH_POSTGRES_URL:-}" ]; then
  ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || die "PostgreSQL is not installed (scripts/deps), or set HIVE_BENCH_POSTGRES_URL"
  command -v redis-server >/dev/null || die "redis-server is not installed (scripts/deps), or set HIVE_BENCH_REDIS_URL"
fi
[ -n "${HIVE_BENCH_POSTGRES_URL:-}" ] && [ -z "${HIVE_BENCH_REDIS_URL:-}" ] && die "HIVE_BENCH_POSTGRES_URL needs HIVE_BENCH_REDIS_URL too"
peer_dir=${PEER_DIR:-$(cd "$repo/.." && pwd)/shared/peers/python-stack}
peer_state=off
if [ "$peers" = 1 ] && [ $((fastapi + celery)) -gt 0 ]; then
  if [ ! -f "$peer_dir/app.py" ]; then
    peer_state="absent ($peer_dir not found)"
  elif ! "$py" -c 'import fastapi, uvicorn, asyncpg, celery, redis' 2>/dev/null; then
    peer_state="not installed ($peer_dir/install.sh installs it)"
  else
    for cmd in redis-server ss; do command -v $cmd >/dev/null || die "the peer needs $cmd"; done
    peer_state=on
  fi
fi

# ---- work directory and cleanup ----
work=$(mktemp -d /tmp/hive-bench-tasks.XXXXXX)
chmod 0755 "$work" # the PostgreSQL clusters run as the postgres user below it
hive_pid='' uvicorn_pid='' servers_started=0 peer_pg_started=0
py_pids=()
# shellcheck source=bench/tasks/processes.sh
. "$(dirname "$0")/processes.sh"
stop_python_agents() {
  for pid in "${py_pids[@]}"; do stop_pid "$pid"; done
  py_pids=()
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  set +e
  stop_python_agents
  stop_pid "$hive_pid"
  stop_pid "$uvicorn_pid"
  [ "$peer_pg_started" = 1 ] && PEER_PG_DIR=$work/peer-pg PEER_PG_PORT=$peer_pg_port "$peer_dir/pg.sh" stop >/dev/null 2>&1
  [ "$servers_started" = 1 ] && HIVE_TEST_SERVERS_DIR=$work/servers "$repo/scripts/test-servers" stop 2>/dev/null
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
results=$work/results.txt
: >"$results"
# key=value of a RESULT line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }
count() { local v; v=$(field "$1" "$2"); echo "${v:-0}"; }
# store|figure|value; decimals shortened (3 digits for small values, none from 100 up).
record() {
  local shown
  shown=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) $i = sprintf($i + 0 >= 100 ? "%.0f" : ($i + 0 >= 10 ? "%.1f" : "%.2f"), $i) } 1' <<<"$3")
  echo "$1|$2|$shown" >>"$results"
}
lookup() { awk -F'|' -v s="$1" -v f="$2" '$1 == s && $2 == f { v = $3 } END { print v }' "$results"; }

# ---- hive ----
# Starts hive on a fresh data directory with STORE (sqlite | postgres).
start_hive() {
  local store=$1 dir=$work/hive-$1
  mkdir -p "$dir/plugins" "$dir/data"
  rm -f "$dir/data/api/port" # a restart on the same data must not read the last one
  for plugin in api communication_engine task_manager orchestrator storage_$store; do
    cp "$build"/plugins/"$plugin"-*.so "$dir/plugins/"
  done
  # /metrics, as an operator runs it: the store's commits per task are read there.
  local monitoring_yaml=''
  if compgen -G "$build/plugins/monitoring_engine-*.so" >/dev/null; then
    cp "$build"/plugins/monitoring_engine-*.so "$dir/plugins/"
    monitoring_yaml='  monitoring_engine:
    config: {}'
  fi
  local store_yaml bus_yaml
  if [ "$store" = sqlite ]; then
    store_yaml="  storage_sqlite:
    config: {}"
    bus_yaml="{transport: local}"
  else
    store_yaml="  storage_postgres:
    config:
      url: \${HIVE_BENCH_PG}
      schema: $pg_schema"
    bus_yaml="
      transport: redis
      redis: {url: \"\${HIVE_BENCH_REDIS}\", prefix: \"hive:bench$$:\"}"
  fi
  local tm_config=${TASK_MANAGER_CONFIG:-'{}'}
  # Agents send thousands of messages a second: the agent route's limit is
  # raised; the event watcher of `one` and `python` reads every task event, so
  # its send queue is too. Everything else is hive's default.
  cat >"$dir/hive.yaml" <<YAML
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
      websocket: {route_messages_per_second: 1000000, send_queue: 65536}
$store_yaml
  communication_engine:
    config: $bus_yaml
  task_manager:
    config: $tm_config
  orchestrator:
    config: {}
$monitoring_yaml
YAML
  (cd "$dir" && HIVE_BENCH_PG=${pg_url:-} HIVE_BENCH_REDIS=${redis_url:-} exec "$build/bin/hive" run -c hive.yaml) >>"$dir/hive.log" 2>&1 &
  hive_pid=$!
  for _ in $(seq 150); do
    [ -s "$dir/data/api/port" ] && break
    kill -0 "$hive_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$dir/data/api/port" ] || {
    cat "$dir/hive.log" >&2
    die "hive ($store) did not write data/api/port within 15 s; its log is above"
  }
  port=$(cat "$dir/data/api/port")
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
    sleep 0.1
  done
  cat "$dir/hive.log" >&2
  die "hive ($store): /readyz is not 200 after 10 s"
}

stop_hive() {
  stop_pid "$hive_pid"
  hive_pid=''
}

# Runs bench_tasks, shows its output, returns its RESULT line in $result.
# The store's commits so far, from hive's /metrics (SQLite only; empty otherwise).
store_commits() {
  { curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null || true; } |
    awk '/^hive_store_sqlite_commits_total/ { n += $NF; seen = 1 } END { if (seen) printf "%d", n }'
}

# Clock ticks of every postgres process (the store's server; the bench owns
# the machine while it runs).
postgres_ticks() {
  local pid total=0
  for pid in $(pgrep -x postgres); do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

bench() {
  local name=$1
  shift
  echo "\$ bench_tasks $*" | sed "s|--port [0-9]*|--port \$PORT|; s|--server-pid [0-9]*||"
  local status=0 commits_before hive_ticks_before pg_ticks_before='' threads_before=''
  commits_before=$(store_commits)
  hive_ticks_before=''
  [ -n "${hive_pid:-}" ] && hive_ticks_before=$(tree_ticks "$hive_pid")
  [ -n "${hive_pid:-}" ] && threads_before=$(thread_ticks "$hive_pid")
  [ -n "${hive_pid:-}" ] && [ "${store:-}" = postgres ] && pg_ticks_before=$(postgres_ticks)
  "$tool" --port "$port" --server-pid "$hive_pid" "$@" --label "$name" >"$work/$name.out" 2>&1 || status=$?
  grep -v '^RESULT' "$work/$name.out" | sed 's/^/    /'
  result=$(grep '^RESULT' "$work/$name.out" | tail -1 || true)
  # Store transactions per task: what group commit and coalescing leave.
  local commits_after done_tasks
  commits_after=$(store_commits)
  done_tasks=$(field "$result" "done")
  if [ -n "$commits_before" ] && [ -n "$commits_after" ] && [ "${done_tasks:-0}" -gt 0 ] 2>/dev/null; then
    echo "    store commits: $((commits_after - commits_before)) ($(awk -v c=$((commits_after - commits_before)) \
      -v t="$done_tasks" 'BEGIN { printf "%.2f", c / t }') per task done)"
  fi
  # CPU per task done, hive's and (PostgreSQL) the database's: on a machine
  # that is CPU-bound this, not tasks/s, is what a change moves steadily.
  cpu_per_task='' busiest_thread=''
  if [ -n "$hive_ticks_before" ] && [ "${done_tasks:-0}" -gt 0 ] 2>/dev/null; then
    local hz ms_hive ms_pg=''
    hz=$(getconf CLK_TCK)
    ms_hive=$(awk -v a="$hive_ticks_before" -v b="$(tree_ticks "$hive_pid")" -v hz="$hz" -v t="$done_tasks" \
      'BEGIN { printf "%.3f", (b - a) * 1000 / hz / t }')
    [ -n "$pg_ticks_before" ] && ms_pg=$(awk -v a="$pg_ticks_before" -v b="$(postgres_ticks)" -v hz="$hz" \
      -v t="$done_tasks" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / t }')
    cpu_per_task="$ms_hive${ms_pg:+ / $ms_pg}"
    echo "    cpu per task done: hive $ms_hive ms${ms_pg:+, postgres $ms_pg ms} (core-milliseconds)"
    # The thread that worked most: one at its limit (the SQLite writer, say)
    # bounds the run however idle the other core is.
    busiest_thread=$(join <(sort <<<"$threads_before") <(thread_ticks "$hive_pid" | sort) |
      awk -v hz="$hz" -v t="$done_tasks" '{ d = $5 - $3; if (d > m) { m = d; n = $2 } }
        END { if (n != "") printf "%s %.0f", n, m * 1000000 / hz / t }')
    [ -n "$busiest_thread" ] &&
      echo "    busiest hive thread: ${busiest_thread% *}, ${busiest_thread##* } us per task done (core-microseconds)"
  fi
  [ "$status" = 0 ] || echo "    (bench_tasks exited $status: errors above)"
  [ -n "$result" ] || echo "    (no RESULT line)"
}

# User + system clock ticks of a running process and its descendants (what
# `$!` names may be a shell that runs the program as its child).
tree_ticks() {
  local total=0 child
  [ -r "/proc/$1/stat" ] && total=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
  for child in $(pgrep -P "$1"); do total=$((total + $(tree_ticks "$child"))); done
  echo "$total"
}
# "tid name ticks" for each thread of a running process and its descendants
# (the name is what comes after "(" in stat; names hold no spaces here).
thread_ticks() {
  local p t
  for p in "$1" $(pgrep -P "$1"); do
    for t in /proc/"$p"/task/*; do
      [ -r "$t/stat" ] || continue
      sed -E 's/^([0-9]+) \(([^)]*)\) /\1 \2 /' "$t/stat" 2>/dev/null | awk '{ print $1, $2, $14 + $15 }'
    done
  done
}
# The same, of the running Python agents, summed.
python_agent_ticks() {
  local pid total=0
  for pid in "${py_pids[@]}"; do total=$((total + $(tree_ticks "$pid"))); done
  echo "$total"
}

start_python_agents() {
  local capability=$1 url="ws://127.0.0.1:$port/api/v2/agents/connect"
  for i in $(seq "$py_agents"); do
    "$py" "$repo/examples/agents/hive_agent.py" --url "$url" --name "py-bench-$i" --capabilities "$capability" \
      --concurrency "$py_concurrency" >"$work/py-agent-$i.log" 2>&1 &
    py_pids+=($!)
  done
  for i in $(seq "$py_agents"); do
    for _ in $(seq 100); do
      grep -q 'connected as' "$work/py-agent-$i.log" && break
      sleep 0.1
    done
    grep -q 'connected as' "$work/py-agent-$i.log" || {
      cat "$work/py-agent-$i.log" >&2
      die "Python agent $i did not connect within 10 s"
    }
  done
}

stored=0 finished=0 # tasks the current store holds; of them finished
run_store() {
  local store=$1
  echo
  echo "=== Hive on $store ==="
  start_hive "$store"
  stored=0 finished=0
  echo "hive pid $hive_pid on 127.0.0.1:$port; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

  bench "$store-e2e" --mode e2e --tasks "$tasks" --connections "$connections" --agents "$agents" \
    --concurrency "$concurrency" --timeout "$e2e_timeout" --window "$window"
  local tps
  tps=$(field "$result" tps)
  stored=$((stored + $(count "$result" created)))
  finished=$((finished + $(count "$result" "done")))
  record "$store" e2e_tps "$tps"
  record "$store" e2e_done "$(field "$result" "done")/$(field "$result" tasks)"
  record "$store" e2e_assigned "$(field "$result" assigned_p50_ms) / $(field "$result" assigned_p99_ms)"
  record "$store" e2e_result "$(field "$result" result_p50_ms) / $(field "$result" result_p99_ms)"
  record "$store" e2e_submit "$(field "$result" submit_rps)"
  record "$store" e2e_cpu "$cpu_per_task"
  record "$store" e2e_thread "${busiest_thread:+${busiest_thread##* } (${busiest_thread% *})}"

  if [ "$fill" -gt 0 ]; then
    # The same e2e run once the store holds `fill` more finished tasks (and
    # their events): does throughput hold as the store grows?
    bench "$store-fill" --mode e2e --tasks "$fill" --connections "$connections" --agents "$agents" \
      --concurrency "$concurrency" --timeout $((fill / 100 + 60)) --window "$window"
    stored=$((stored + $(count "$result" created)))
    finished=$((finished + $(count "$result" "done")))
    record "$store" fill_tps "$(field "$result" tps) ($(field "$result" "done") tasks)"
    bench "$store-e2e-full" --mode e2e --tasks "$tasks" --connections "$connections" --agents "$agents" \
      --concurrency "$concurrency" --timeout "$e2e_timeout" --window "$window"
    stored=$((stored + $(count "$result" created)))
    finished=$((finished + $(count "$result" "done")))
    local full_tps
    full_tps=$(field "$result" tps)
    record "$store" full_tps "$full_tps"
    [ -n "$tps" ] && [ -n "$full_tps" ] &&
      record "$store" full_ratio "$(awk -v f="$full_tps" -v e="$tps" 'BEGIN { printf "%.2f", f / e }')"
  fi

  if [ -n "$tps" ] && awk -v t="$tps" 'BEGIN { exit !(t >= 2) }'; then
    local rate n
    rate=$(awk -v t="$tps" 'BEGIN { printf "%.0f", t / 2 }')
    n=$((rate * rate_seconds))
    [ "$n" -ge 20 ] || n=20
    bench "$store-rate" --mode e2e --tasks "$n" --rate "$rate" --connections "$connections" --agents "$agents" \
      --concurrency "$concurrency" --timeout $((rate_seconds * 3 + 10))
    stored=$((stored + $(count "$result" created)))
    finished=$((finished + $(count "$result" "done")))
    record "$store" rate "$rate"
    record "$store" rate_tps "$(field "$result" tps)"
    record "$store" rate_assigned "$(field "$result" assigned_p50_ms) / $(field "$result" assigned_p99_ms)"
    record "$store" rate_result "$(field "$result" result_p50_ms) / $(field "$result" result_p99_ms)"
  fi

  bench "$store-one" --mode one --rounds "$rounds" --agents 1 --timeout 120
  stored=$((stored + $(count "$result" "done")))
  finished=$((finished + $(count "$result" "done")))
  record "$store" one_visible "$(field "$result" visible_p50_ms) / $(field "$result" visible_p99_ms)"
  record "$store" one_result "$(field "$result" result_p50_ms) / $(field "$result" result_p99_ms)"
  record "$store" one_created "$(field "$result" created_p50_ms) / $(field "$result" created_p99_ms)"

  if [ "$py_agents" -gt 0 ]; then
    local capability=bench-py-$$-$store
    echo "Python agents: $py_agents x examples/agents/hive_agent.py --concurrency $py_concurrency (task.accept, task.progress, task.result per task)"
    start_python_agents "$capability"
    local py_ticks_before
    py_ticks_before=$(python_agent_ticks)
    bench "$store-python" --mode e2e --tasks "$py_tasks" --connections "$connections" --agents 0 \
      --capability "$capability" --timeout "$e2e_timeout" --window "$window"
    stored=$((stored + $(count "$result" created)))
    finished=$((finished + $(count "$result" "done")))
    # The agents' own CPU over the run: whether they, not hive, are the bound.
    local py_cpu
    py_cpu=$(awk -v a="$py_ticks_before" -v b="$(python_agent_ticks)" -v hz="$(getconf CLK_TCK)" \
      -v s="$(field "$result" seconds)" 'BEGIN { if (s > 0) printf "%.0f", (b - a) / hz / s * 100 }')
    echo "    cpu: Python agents $py_cpu% of a core together ($py_agents processes)"
    record "$store" py_cpu "$py_cpu"
    stop_python_agents
    record "$store" py_tps "$(field "$result" tps)"
    record "$store" py_done "$(field "$result" "done")/$(field "$result" tasks)"
    record "$store" py_result "$(field "$result" result_p50_ms) / $(field "$result" result_p99_ms)"
    local refused
    refused=$(cat "$work"/py-agent-*.log | grep -c 'refused' || true)
    [ "$refused" = 0 ] || echo "    Python agent logs: $refused 'refused' lines (see --keep)"
  fi

  if [ "$store" = sqlite ]; then
    # While hive runs: the main file plus its WAL, as an operator's disk sees them;
    # after hive stopped; and after folding the WAL into the main file.
    local bytes
    bytes=$(du -sb "$work/hive-sqlite/data/storage_sqlite" | cut -f1)
    echo "disk, hive running: data/storage_sqlite holds $bytes bytes for $stored tasks ($finished finished)"
    [ "$stored" -gt 0 ] && record sqlite bytes_live "$((bytes / stored))"
    stop_hive
    bytes=$(du -sb "$work/hive-sqlite/data/storage_sqlite" | cut -f1)
    echo "disk, hive stopped: $bytes bytes ($(cd "$work/hive-sqlite/data/storage_sqlite" && echo *))"
    [ "$stored" -gt 0 ] && record sqlite bytes_stopped "$((bytes / stored))"
    if command -v sqlite3 >/dev/null; then
      # What the tasks take once the WAL is folded in: the pages of the main file.
      local pages
      pages=$(sqlite3 "$work/hive-sqlite/data/storage_sqlite/store.sqlite3" 'PRAGMA wal_checkpoint(TRUNCATE);' \
        'PRAGMA page_count;' 'PRAGMA page_size;' 'PRAGMA freelist_count;' 2>&1 | tail -3 | paste -sd' ') || pages=''
      read -r page_count page_size free_pages <<<"$pages"
      if [[ "${page_count:-}" =~ ^[0-9]+$ && "${page_size:-}" =~ ^[0-9]+$ ]]; then
        bytes=$((page_count * page_size))
        echo "disk, after PRAGMA wal_checkpoint(TRUNCATE): $bytes bytes in the main file ($page_count pages of $page_size, $free_pages free)"
        [ "$stored" -gt 0 ] && record sqlite bytes_settled "$((bytes / stored))"
      else
        echo "disk: sqlite3 could not read the store: $pages"
      fi
    fi
    record sqlite stored "$stored tasks, $finished finished"
    # Once retention settles: the finished tasks are kept (retention.keep, 7
    # days) but their events only retention.events (24 h). The same store under
    # retention.events of 1 s, until the event log is empty; then the pages in
    # use (freed pages are reused by the next tasks) and the file.
    echo "restarting hive with task_manager's retention.events: 1s, until the task event log is trimmed"
    TASK_MANAGER_CONFIG='{retention: {events: 1s, period: 1s}}' start_hive sqlite
    # About three events a task, trimmed some 50,000 a second here: a minute,
    # and a second more per 5,000 tasks stored (--fill 1000000 needs minutes).
    local trimmed=0 wait_s=$((60 + stored / 5000))
    for _ in $(seq $((wait_s * 2))); do
      if curl -s "http://127.0.0.1:$port/api/v2/tasks/events?limit=1" | grep -q '"items":\[\]'; then
        trimmed=1
        break
      fi
      sleep 0.5
    done
    stop_hive
    if [ "$trimmed" = 1 ] && command -v sqlite3 >/dev/null; then
      local pages
      pages=$(sqlite3 "$work/hive-sqlite/data/storage_sqlite/store.sqlite3" 'PRAGMA wal_checkpoint(TRUNCATE);' \
        'PRAGMA page_count;' 'PRAGMA page_size;' 'PRAGMA freelist_count;' 2>&1 | tail -3 | paste -sd' ') || pages=''
      read -r page_count page_size free_pages <<<"$pages"
      if [[ "${page_count:-}" =~ ^[0-9]+$ && "${free_pages:-}" =~ ^[0-9]+$ ]]; then
        bytes=$(((page_count - free_pages) * page_size))
        echo "disk, events trimmed: $bytes bytes in use ($page_count pages of $page_size, $free_pages free)"
        [ "$stored" -gt 0 ] && record sqlite bytes_retained "$((bytes / stored)) ($((page_count * page_size / stored)) with free pages)"
      fi
    else
      echo "disk: the task event log was not trimmed within $wait_s s (or no sqlite3)"
    fi
    echo "restarting hive on the same store for the submit run"
    start_hive sqlite
  fi

  bench "$store-submit" --mode submit --duration "$duration" --connections "$connections" --capability "bench-nobody-$$"
  record "$store" submit_rps "$(field "$result" rps)"
  record "$store" submit_lat "$(field "$result" p50_ms) / $(field "$result" p99_ms)"
  local warnings
  warnings=$(grep -ciE 'warn|error' "$work/hive-$store/hive.log" || true)
  echo "hive log: $warnings warning/error lines"
  [ "$warnings" -gt 0 ] && grep -iE 'warn|error' "$work/hive-$store/hive.log" | sed -E 's/^[^]]*\] //' | sort | uniq -c | sort -rn | head -5
  stop_hive
}

# ---- PostgreSQL + Redis ----
pg_url='' redis_url='' pg_schema=hive_bench
if [[ ",$stores," == *,postgres,* ]]; then
  if [ -n "${HIVE_BENCH_POSTGRES_URL:-}" ]; then
    pg_url=$HIVE_BENCH_POSTGRES_URL redis_url=$HIVE_BENCH_REDIS_URL pg_schema=hive_bench_$(date +%s)
  else
    echo "starting throwaway PostgreSQL and Redis (scripts/test-servers)"
    servers_started=1
    exports=$(HIVE_TEST_SERVERS_DIR=$work/servers "$repo/scripts/test-servers" start) || die "scripts/test-servers start failed"
    pg_url=$(sed -n 's/^export HIVE_TEST_POSTGRES_URL=//p' <<<"$exports")
    redis_url=$(sed -n 's/^export HIVE_TEST_REDIS_URL=//p' <<<"$exports")
  fi
fi

echo "bench/tasks: build $build; $(nproc) cores; $( [ "$quick" = 1 ] && echo quick || echo full) run"
echo "e2e: $tasks tasks, $connections connections, at most $window outstanding, $agents agents x max_concurrency $concurrency;"
echo "one: $rounds rounds; submit: $duration s"
echo "times: submit = the POST handed to its socket; assigned = task.assign read by the agent;"
echo "       result = task.ack (accepted) read by the agent; visible = task.succeeded event read by a /api/v2/ws client"
for store in ${stores//,/ }; do run_store "$store"; done

# ---- the Python peer ----
if [ "$peer_state" = on ] && [ "$fastapi" = 1 ]; then
  echo
  echo "=== peer: FastAPI + asyncpg (uvicorn --workers 1, uvloop, httptools), its own PostgreSQL (pg.sh) ==="
  peer_pg_port=$(free_port)
  peer_pg_started=1
  PEER_PG_DIR=$work/peer-pg PEER_PG_PORT=$peer_pg_port "$peer_dir/pg.sh" start >"$work/peer-pg.log" 2>&1 ||
    { cat "$work/peer-pg.log" >&2; die "the peer's pg.sh start failed"; }
  uv_port=$(free_port)
  (cd "$peer_dir" && PEER_PG_DSN=postgresql://postgres@127.0.0.1:$peer_pg_port/peer exec "$py" -m uvicorn app:app \
    --host 127.0.0.1 --port "$uv_port" --workers 1 --log-level warning --no-access-log --loop uvloop \
    --http httptools) >"$work/uvicorn.log" 2>&1 &
  uvicorn_pid=$!
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$uv_port/health" 2>/dev/null && break; sleep 0.2; done
  curl -fsS -o /dev/null "http://127.0.0.1:$uv_port/health" || { cat "$work/uvicorn.log" >&2; die "uvicorn did not answer"; }
  port=$uv_port hive_pid=$uvicorn_pid
  bench fastapi-submit --mode submit --duration "$duration" --connections "$connections" \
    --body '{"type":"echo","payload":{"n":{i},"msg":"hello"},"priority":5}'
  record peer fastapi_rps "$(field "$result" rps)"
  record peer fastapi_lat "$(field "$result" p50_ms) / $(field "$result" p99_ms)"
  hive_pid=''
  stop_pid "$uvicorn_pid"
  uvicorn_pid=''
fi
if [ "$peer_state" = on ] && [ "$celery" = 1 ]; then
  echo
  echo "=== peer: Celery + Redis (celery_bench.sh, 1 rep, pools ${celery_pools//,/ }) ==="
  celery_n=$([ "$quick" = 1 ] && echo 2000 || echo 5000)
  celery_rtt=$([ "$quick" = 1 ] && echo 100 || echo 200)
  OUT=$work/celery.txt N=$celery_n REPS=1 POOLS="${celery_pools//,/ }" RTT=$celery_rtt "$peer_dir/celery_bench.sh" 2>&1 |
    sed 's/^/    /' || echo "    (celery_bench.sh failed)"
  if [ -s "$work/celery.txt" ]; then
    # Best end-to-end tasks/s over pools and modes; the pool with the lowest one-at-a-time p50.
    record peer celery_tps "$(awk -F'|' '/mode=(loop|group)/ { for (i = 3; i <= NF; i++) if ($i ~ /^tasks_per_s=/) { split($i, kv, "="); if (kv[2] + 0 > best) best = kv[2] + 0 } } END { if (best) print best }' "$work/celery.txt")"
    record peer celery_rtt "$(awk -F'|' '/mode=rtt/ { p50 = ""; p99 = ""; for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "rtt_p50_ms") p50 = kv[2]; if (kv[1] == "rtt_p99_ms") p99 = kv[2] } if (best == "" || p50 + 0 < best + 0) { best = p50; worst = p99 } } END { if (best != "") print best " / " worst }' "$work/celery.txt")"
  fi
fi

# ---- table ----
value() { local v; v=$(lookup "$1" "$2"); echo "${v:--}"; }
ratio() { # hive peer [invert]: hive/peer, or peer/hive for latencies (higher = Hive better either way)
  awk -v h="$1" -v p="$2" -v inv="${3:-0}" 'BEGIN { if (h + 0 <= 0 || p + 0 <= 0) { print "-"; exit }
    printf "%.2f", inv ? p / h : h / p }'
}
first() { awk '{ print $1 }' <<<"$1"; }
second() { awk '{ print $3 }' <<<"$1"; }
echo
echo "=== summary ($(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)) ==="
printf '%-48s %-20s %-20s\n' figure sqlite postgres+redis
row() { printf '%-48s %-20s %-20s\n' "$1" "$(value sqlite "$2")" "$(value postgres "$2")"; }
row "POST /api/v2/tasks req/s (c=$connections, ${duration}s)" submit_rps
row "  p50 / p99 ms" submit_lat
row "e2e tasks/s ($agents C++ agents x $concurrency)" e2e_tps
row "  tasks done / submitted" e2e_done
row "  submit rate reached (201/s)" e2e_submit
row "  submit -> assigned p50 / p99 ms" e2e_assigned
row "  submit -> result acked p50 / p99 ms" e2e_result
row "  CPU per task, hive / postgres (core-ms)" e2e_cpu
row "  busiest hive thread, core-us per task" e2e_thread
if [ "$fill" -gt 0 ]; then
  row "  filling the store: tasks/s (tasks)" fill_tps
  row "e2e tasks/s with the store filled" full_tps
  row "  full / empty (aim >= 0.8)" full_ratio
fi
row "e2e at half the peak: tasks/s asked" rate
row "  tasks/s reached" rate_tps
row "  submit -> assigned p50 / p99 ms" rate_assigned
row "  submit -> result acked p50 / p99 ms" rate_result
row "one at a time: submit -> visible p50 / p99 ms" one_visible
row "  submit -> result acked p50 / p99 ms" one_result
row "  submit -> 201 p50 / p99 ms" one_created
if [ "$py_agents" -gt 0 ]; then
  printf '%-48s %-20s %-20s\n' "e2e tasks/s ($py_agents Python agents x $py_concurrency)" "$(value sqlite py_tps)" "$(value postgres py_tps)"
  row "  tasks done / submitted" py_done
  row "  submit -> succeeded event p50 / p99 ms" py_result
  row "  Python agents' CPU, % of one core" py_cpu
fi
printf '%-48s %-20s\n' "SQLite bytes per stored task, hive running" "$(value sqlite bytes_live)"
printf '%-48s %-20s\n' "  after hive stopped (file + WAL left)" "$(value sqlite bytes_stopped)"
printf '%-48s %-20s\n' "  after a WAL checkpoint (sqlite3 CLI)" "$(value sqlite bytes_settled)"
printf '%-48s %-20s\n' "  once the events are trimmed (retention.events)" "$(value sqlite bytes_retained)"
printf '%-48s %-20s\n' "  tasks stored" "$(value sqlite stored)"

echo
if [ "$peer_state" != on ]; then
  echo "peer: $peer_state; no ratios"
else
  fastapi_rps=$(lookup peer fastapi_rps) celery_tps=$(lookup peer celery_tps) celery_rtt=$(lookup peer celery_rtt)
  echo "peer: FastAPI + asyncpg POST ${fastapi_rps:--} req/s (p50 / p99 $(value peer fastapi_lat) ms);" \
    "Celery + Redis best e2e ${celery_tps:--} tasks/s; apply_async().get() p50 / p99 ${celery_rtt:--} ms"
  printf '%-48s %-12s %-14s %s\n' "ratio Hive/peer (higher = Hive better)" sqlite postgres+redis aim
  printf '%-48s %-12s %-14s %s\n' "POST /api/v2/tasks vs FastAPI+asyncpg POST" \
    "$(ratio "$(lookup sqlite submit_rps)" "$fastapi_rps")" "$(ratio "$(lookup postgres submit_rps)" "$fastapi_rps")" ">= 5"
  printf '%-48s %-12s %-14s %s\n' "e2e (C++ agents) vs Celery" \
    "$(ratio "$(lookup sqlite e2e_tps)" "$celery_tps")" "$(ratio "$(lookup postgres e2e_tps)" "$celery_tps")" ">= 10"
  printf '%-48s %-12s %-14s %s\n' "e2e (Python agents) vs Celery" \
    "$(ratio "$(lookup sqlite py_tps)" "$celery_tps")" "$(ratio "$(lookup postgres py_tps)" "$celery_tps")" ">= 3"
  printf '%-48s %-12s %-14s %s\n' "one at a time p50: Celery / Hive (visible)" \
    "$(ratio "$(first "$(lookup sqlite one_visible)")" "$(first "$celery_rtt")" 1)" \
    "$(ratio "$(first "$(lookup postgres one_visible)")" "$(first "$celery_rtt")" 1)" "Hive p50 <= 2 ms"
  printf '%-48s %-12s %-14s %s\n' "one at a time p99: Celery / Hive (visible)" \
    "$(ratio "$(second "$(lookup sqlite one_visible)")" "$(second "$celery_rtt")" 1)" \
    "$(ratio "$(second "$(lookup postgres one_visible)")" "$(second "$celery_rtt")" 1)" "Hive p99 <= 10 ms"
fi
echo "aims (issue 12): POST >= 10k/s embedded; e2e >= 8k tasks/s embedded, >= 4k/s on PostgreSQL + Redis; <= 1 KB per finished task"
