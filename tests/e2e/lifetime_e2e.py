#!/usr/bin/env python3
"""End to end: a third-party bus consumer written the naive way survives hot
swaps of its provider and a real SIGTERM of the `hive` binary.

The consumer is tests/plugins/listener.cpp built as listener_naive: it
subscribes to hive.bus/1 in start() and drops the subscription in stop(),
nothing more (what an author would write without reading about swaps). It
listens on `tasks` and logs each event it hears.

1. hive runs api, storage_sqlite, communication_engine, task_manager and the
   consumer; a task submitted over HTTP must be heard (task_manager publishes
   on `tasks`).
2. `hive plugins reload communication_engine` --swaps times (5), then
   `hive plugins reload storage_sqlite` as many times; after each, a new task
   must be heard again: the subscriptions made by generation 1 of the bus (and
   of the store: the consumer also waits on a queue) follow every swap.
3. SIGTERM: hive must exit 0 within the drain deadline, with no crash in its
   output (the consumer's stop() drops a subscription of a long-replaced
   generation; under ASan a use-after-unload is reported and fails the exit).

Usage: lifetime_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins \
    --consumer build/dev/swap_plugins/listener_naive-1.0.0.so
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_ready  # noqa: E402

DRAIN_DEADLINE_S = 10
HEARD = "heard event on tasks"


def say(*parts):
    print("lifetime_e2e:", *parts, flush=True)


def write_config(path, plugin_dirs, data, port, socket):
    with open(path, "w") as f:
        f.write("""hive:
  plugin_dirs: [{dirs}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: {drain}s
  log_level: info
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
  listener_naive:
    config:
      topic: tasks
      log_events: true
""".format(dirs=", ".join(plugin_dirs), data=data, socket=socket, port=port, drain=DRAIN_DEADLINE_S))


def log_text(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def heard(path):
    return log_text(path).count(HEARD)


def submit_and_hear(api, log_path, failures, when):
    """Submits a task; true when the consumer logs a new `tasks` event within 20 s."""
    before = heard(log_path)
    status, body = api.request("POST", "/api/v2/tasks", {"type": "lifetime"})
    if status != 201:
        failures.append("%s: a task was refused: %s %s" % (when, status, body))
        return False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if heard(log_path) > before:
            return True
        time.sleep(0.05)
    failures.append("%s: the naive consumer heard no event of the new task" % when)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--consumer", required=True, help="listener_naive-1.0.0.so")
    parser.add_argument("--swaps", type=int, default=5)
    args = parser.parse_args()
    args.plugins = os.path.abspath(args.plugins)  # hive resolves them against its config file

    failures = []
    workdir = tempfile.mkdtemp(prefix="hive-lifetime-e2e-")
    os.chmod(workdir, 0o755)
    # The consumer goes to a directory of its own: the one it is built in
    # holds several plugins of one name.
    extra = os.path.join(workdir, "consumer")
    os.makedirs(extra)
    shutil.copy(args.consumer, extra)
    port = free_port()
    socket = os.path.join(workdir, "control.sock")
    config = os.path.join(workdir, "hive.yaml")
    write_config(config, [args.plugins, extra], os.path.join(workdir, "data"), port, socket)
    log_path = os.path.join(workdir, "hive.log")
    log = open(log_path, "ab")
    process = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(process, port, log_path, "lifetime_e2e")
        api = Api(port)
        submit_and_hear(api, log_path, failures, "before any swap")
        for swap in range(1, args.swaps + 1):
            done = subprocess.run([args.hive, "plugins", "reload", "communication_engine", "--socket", socket],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                failures.append("swap %d: hive plugins reload communication_engine: %s %s" %
                                (swap, done.returncode, (done.stdout + done.stderr).strip()))
                break
            if not submit_and_hear(api, log_path, failures, "after swap %d" % swap):
                break
        # The store too: the consumer's onClaimable subscription was made by
        # storage_sqlite's generation 1, and its stop() drops it at SIGTERM.
        for swap in range(1, args.swaps + 1):
            if failures:
                break
            done = subprocess.run([args.hive, "plugins", "reload", "storage_sqlite", "--socket", socket],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                failures.append("store swap %d: hive plugins reload storage_sqlite: %s %s" %
                                (swap, done.returncode, (done.stdout + done.stderr).strip()))
                break
            submit_and_hear(api, log_path, failures, "after store swap %d" % swap)
        say("heard %d task events over %d swaps of communication_engine and %d of storage_sqlite" %
            (heard(log_path), args.swaps, args.swaps))
        api.close()

        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            code = process.wait(DRAIN_DEADLINE_S + 20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        took = time.monotonic() - started
        say("SIGTERM: exit %s after %.2f s" % (code, took))
        if code != 0:
            failures.append("SIGTERM ended hive with %s (expected 0)" % code)
        text = log_text(log_path)
        for sign in ("AddressSanitizer", "Segmentation fault", "crash", "runtime error:"):
            if sign in text:
                failures.append("hive's output mentions %r" % sign)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

    if failures:
        print(log_text(log_path)[-6000:], flush=True)
        for failure in failures:
            say("FAIL:", failure)
        say("logs kept in", workdir)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    say("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
