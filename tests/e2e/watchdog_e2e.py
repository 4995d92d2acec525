#!/usr/bin/env python3
"""End to end: a wedged store thread and a stuck start-up, in the real hive.

1. A running hive whose SQLite writer is made to stall (storage_sqlite's
   fault_injection, triggered by a file) while a task is being submitted:
   /livez must turn 503 naming `storage_sqlite/writer` within the watchdog
   period (plus one check interval), and SIGTERM must end the process within
   the drain deadline although a write is stuck.
2. A hive restarted on the same data with the stall armed from the start, so
   that start-up itself hangs on a write: SIGTERM must still end it within the
   drain deadline, and with no signal start_timeout must end it.

Usage: watchdog_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_ready  # noqa: E402

WATCHDOG_PERIOD_S = 1.0
DRAIN_DEADLINE_S = 3.0
START_TIMEOUT_S = 4.0
SLACK_S = 2.0  # process start-up, scheduling on a loaded 2-core machine


def say(*parts):
    print("watchdog_e2e:", *parts, flush=True)




def write_config(path, plugins, data, port, trigger, start_timeout="120s"):
    with open(path, "w") as f:
        f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: ""
  drain_deadline: {drain}s
  start_timeout: {start_timeout}
  watchdog_period: {period}ms
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_sqlite:
    config:
      fault_injection:
        writer_stall: 600s
        when_file_exists: {trigger}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
""".format(plugins=plugins, data=data, port=port, trigger=trigger, drain=int(DRAIN_DEADLINE_S),
           period=int(WATCHDOG_PERIOD_S * 1000), start_timeout=start_timeout))


def wait_for_log(path, text, process, limit=60):
    """The monotonic time at which `text` appeared in the log at `path`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        with open(path, "rb") as f:
            if text in f.read().decode(errors="replace"):
                return time.monotonic()
        time.sleep(0.02)
    return None


def wait_exit(process, limit):
    started = time.monotonic()
    try:
        code = process.wait(limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None, time.monotonic() - started
    return code, time.monotonic() - started


def running_hive(args, workdir):
    port = free_port()
    trigger = os.path.join(workdir, "stall-now")
    config = os.path.join(workdir, "hive.yaml")
    write_config(config, args.plugins, os.path.join(workdir, "data"), port, trigger)
    log = open(os.path.join(workdir, "hive.log"), "ab")
    process = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
    wait_ready(process, port, log.name, "watchdog_e2e")
    api = Api(port)
    return process, api, port, trigger, config, log


def wedged_writer(args, workdir, failures):
    process, api, port, trigger, config, log = running_hive(args, workdir)
    status, body = api.request("GET", "/livez")
    if status != 200:
        failures.append("/livez was %s before any stall: %s" % (status, body))
    status, _ = api.request("POST", "/api/v2/tasks", {"type": "before"})
    if status != 201:
        failures.append("a task before the stall was refused: %s" % status)

    open(trigger, "w").close()
    stalled_at = time.monotonic()
    # This submission's write is the one that stalls; it never gets an answer.
    threading.Thread(target=lambda: _quietly(lambda: Api(port, attempts=1).request(
        "POST", "/api/v2/tasks", {"type": "stuck"}, timeout=60)), daemon=True).start()

    probe = Api(port)
    seen = None
    while time.monotonic() - stalled_at < WATCHDOG_PERIOD_S + SLACK_S + 5:
        status, body = probe.request("GET", "/livez", timeout=2)
        if status == 503:
            seen = time.monotonic() - stalled_at
            stalled = [s.get("thread") for s in (body or {}).get("stalled", [])]
            if "storage_sqlite/writer" not in stalled:
                failures.append("/livez 503 without storage_sqlite/writer: %s" % body)
            break
        time.sleep(0.05)
    if seen is None:
        failures.append("/livez never turned 503 while the writer was stalled")
    else:
        say("/livez 503 after %.2f s (watchdog period %.1f s)" % (seen, WATCHDOG_PERIOD_S))
        if seen > WATCHDOG_PERIOD_S + SLACK_S:
            failures.append("/livez took %.2f s to turn 503 (period %.1f s)" % (seen, WATCHDOG_PERIOD_S))

    process.send_signal(signal.SIGTERM)
    code, took = wait_exit(process, DRAIN_DEADLINE_S + SLACK_S + 10)
    say("SIGTERM with a wedged writer: exit %s after %.2f s (drain deadline %.1f s)" % (code, took, DRAIN_DEADLINE_S))
    if code is None or took > DRAIN_DEADLINE_S + SLACK_S:
        failures.append("SIGTERM took %.2f s with a wedged writer (exit %s)" % (took, code))
    log.close()
    with open(log.name, "rb") as f:
        text = f.read().decode(errors="replace")
    if "watchdog: thread 'storage_sqlite/writer'" not in text:
        failures.append("the stall was not logged with the thread's name")
    return config, trigger


def stuck_start(args, workdir, config, trigger, failures):
    """Restart on the same data with the stall armed from the start."""
    if not os.path.exists(trigger):
        open(trigger, "w").close()
    log = open(os.path.join(workdir, "restart.log"), "ab")
    process = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
    # Into start-up proper (loading the plugins comes first and takes seconds
    # under ASan): the store started, task_manager's first write is stuck.
    if wait_for_log(log.name, "plugin 'storage_sqlite' 1.0.0 started", process) is None:
        failures.append("the restarted hive never started storage_sqlite")
    time.sleep(0.5)
    if process.poll() is not None:
        failures.append("the restarted hive exited on its own (%s) before SIGTERM" % process.returncode)
        return
    process.send_signal(signal.SIGTERM)
    code, took = wait_exit(process, DRAIN_DEADLINE_S + SLACK_S + 10)
    say("SIGTERM during a stuck start-up: exit %s after %.2f s" % (code, took))
    if code is None or took > DRAIN_DEADLINE_S + SLACK_S:
        failures.append("SIGTERM during a stuck start-up took %.2f s (exit %s)" % (took, code))

    # No signal at all: start_timeout ends it.
    log.close()
    port = free_port()
    write_config(config, args.plugins, os.path.join(workdir, "data"), port, trigger,
                 start_timeout="%ds" % int(START_TIMEOUT_S))
    timeout_log = open(os.path.join(workdir, "timeout.log"), "ab")
    process = subprocess.Popen([args.hive, "run", "-c", config], stdout=timeout_log, stderr=subprocess.STDOUT)
    # start_timeout counts from the start of start-up, after the plugins loaded.
    begun = wait_for_log(timeout_log.name, "plugin 'storage_sqlite' 1.0.0 started", process)
    code, _ = wait_exit(process, START_TIMEOUT_S + SLACK_S + 60)
    took = time.monotonic() - (begun or 0)
    say("stuck start-up without a signal: exit %s after %.2f s of start-up (start_timeout %.1f s)" %
        (code, took, START_TIMEOUT_S))
    if begun is None or code in (None, 0) or took > START_TIMEOUT_S + SLACK_S:
        failures.append("a stuck start-up was not ended by start_timeout (exit %s after %.2f s)" % (code, took))
    timeout_log.close()
    with open(timeout_log.name, "rb") as f:
        text = f.read().decode(errors="replace")
    if "start_timeout" not in text or "plugin starting: task_manager" not in text:
        failures.append("the start_timeout exit does not say which plugin was starting")


def _quietly(call):
    try:
        call()
    except (OSError, http.client.HTTPException):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()
    args.plugins = os.path.abspath(args.plugins)
    failures = []
    with tempfile.TemporaryDirectory(prefix="hive-watchdog-") as workdir:
        config, trigger = wedged_writer(args, workdir, failures)
        stuck_start(args, workdir, config, trigger, failures)
        if failures:
            for name in ("hive.log", "restart.log", "timeout.log"):
                path = os.path.join(workdir, name)
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        sys.stdout.write("---- %s (last 40 lines)\n" % name)
                        sys.stdout.write("".join(f.read().decode(errors="replace").splitlines(True)[-40:]))
    for failure in failures:
        say("FAIL:", failure)
    if failures:
        sys.exit(1)
    say("ok")


if __name__ == "__main__":
    main()
