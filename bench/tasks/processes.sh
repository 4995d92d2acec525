# Sourced by bench/tasks/run.sh and observability.sh: stopping what they started.

# Stops PID: SIGTERM, up to 10 s, then SIGKILL; reaps it. Nothing when it is gone.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
