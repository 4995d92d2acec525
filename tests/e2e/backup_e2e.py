#!/usr/bin/env python3
"""`hive backup` while Hive writes, `hive restore` into a fresh data directory.

Submitters write TASKS tasks through the real API on the embedded store; once a
third are acknowledged, `hive backup` runs while they go on. Then: `hive
restore` refuses while that Hive runs; after SIGTERM the backup is restored
into a new data directory, and a Hive started there serves every task whose 201
came before the backup began; the backup passes SQLite's integrity_check; a
file that is not a backup is refused and leaves the store as it was.

    backup_e2e.py --hive BIN --plugins DIR [--tasks N]
"""
import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_ready  # noqa: E402


def fail(message):
    raise SystemExit("backup_e2e: FAIL: " + message)


def write_config(work, name, plugins):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write("hive:\n  plugin_dirs: [%s]\n  data_dir: %s\n  control_socket: %s\n  log_level: warn\n"
                "plugins:\n  api:\n    config: {listen: \"127.0.0.1:${PORT:-0}\"}\n  storage_sqlite:\n"
                "    config: {synchronous: full}\n  communication_engine: {}\n  task_manager: {}\n"
                % (plugins, os.path.join(work, name + "-data"), os.path.join(work, name + ".sock")))
    return path


def start(hive, config, work, name):
    port = free_port()
    log = os.path.join(work, name + ".log")
    with open(log, "wb") as out:
        process = subprocess.Popen([hive, "run", "-c", config], env=dict(os.environ, PORT=str(port)),
                                   stdout=out, stderr=subprocess.STDOUT)
    wait_ready(process, port, log, who="backup_e2e")
    return process, port


def stop(process):
    process.send_signal(signal.SIGTERM)
    if process.wait(60) != 0:
        fail("hive exited with %s after SIGTERM" % process.returncode)


def run(args):
    work = tempfile.mkdtemp(prefix="hive-backup-")
    try:
        scenario(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scenario(args, work):
    first = write_config(work, "first", args.plugins)
    hive, port = start(args.hive, first, work, "first")
    acked = []  # (monotonic time of the 201, task id)
    lock = threading.Lock()
    errors = []

    def submit(count):
        api = Api(port)
        for i in range(count):
            status, body = api.request("POST", "/api/v2/tasks",
                                       {"type": "backup", "capabilities": ["nobody-runs-this"], "payload": {"i": i}})
            if status != 201:
                errors.append((status, body))
                return
            with lock:
                acked.append((time.monotonic(), body["id"]))
        api.close()

    writers = [threading.Thread(target=submit, args=(args.tasks // 4,)) for _ in range(4)]
    for w in writers:
        w.start()
    while len(acked) < args.tasks // 3 and any(w.is_alive() for w in writers):
        time.sleep(0.01)
    backup = os.path.join(work, "store.backup")
    began = time.monotonic()
    done = subprocess.run([args.hive, "backup", "-c", first, backup], capture_output=True, text=True, timeout=300)
    copied_while = len(acked)
    if done.returncode != 0:
        fail("hive backup exited %d: %s" % (done.returncode, done.stderr))
    refused = subprocess.run([args.hive, "restore", "-c", first, backup], capture_output=True, text=True,
                             timeout=60)
    if refused.returncode != 2 or "running" not in refused.stderr:
        fail("restore onto the running hive: exit %d, %s" % (refused.returncode, refused.stderr))
    for w in writers:
        w.join()
    if errors:
        fail("submissions failed: %s" % errors[:3])
    stop(hive)
    before = [task for at, task in acked if at < began]
    print("backup_e2e: %d tasks acknowledged, %d before the backup began, %d by the time it ended"
          % (len(acked), len(before), copied_while))

    with sqlite3.connect(backup) as db:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            fail("the backup fails integrity_check")

    second = write_config(work, "second", args.plugins)
    garbage = os.path.join(work, "garbage")
    with open(garbage, "wb") as f:
        f.write(b"not a database" * 100)
    bad = subprocess.run([args.hive, "restore", "-c", second, garbage], capture_output=True, text=True, timeout=60)
    if bad.returncode != 2:
        fail("restoring a non-backup: exit %d (%s)" % (bad.returncode, bad.stderr))
    if os.path.exists(os.path.join(work, "second-data", "storage_sqlite", "store.sqlite3")):
        fail("a refused restore left a store behind")
    done = subprocess.run([args.hive, "restore", "-c", second, backup], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        fail("hive restore exited %d: %s" % (done.returncode, done.stderr))

    hive, port = start(args.hive, second, work, "second")
    try:
        api = Api(port)
        missing = [task for task in before if api.request("GET", "/api/v2/tasks/" + task)[0] != 200]
        if missing:
            fail("%d of the %d tasks acknowledged before the backup are missing, e.g. %s"
                 % (len(missing), len(before), missing[:3]))
        api.close()
    finally:
        stop(hive)
    print("backup_e2e: ok")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--tasks", type=int, default=10000)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
