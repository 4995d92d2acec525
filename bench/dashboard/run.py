#!/usr/bin/python3
"""Benchmark of the dashboard (not run by ctest): the bytes of its first load
on the wire, and the time to first render of the task list with N tasks in
the store (default 100,000), then the time until the browser holds all of
them, scroll frame times over the whole list and the time to filter it.

A hive (storage_sqlite, communication_engine, task_manager, api, dashboard; no
agent, so the tasks stay pending) is filled over POST /api/v2/tasks on C
connections, then first_render.mjs loads /dashboard/#/tasks in headless
Chromium with the cache off and a cold service worker.

    bench/dashboard/run.py BUILD_DIR [--tasks 100000] [--connections 8] [--workdir DIR]

With --workdir the hive's data is kept there, and a later run tops the store
up to --tasks instead of filling it again.

BUILD_DIR holds bin/hive, plugins/*.so and plugins/dashboard/web (npm ci'd by
the build): `cmake --build BUILD_DIR --target hive api storage_sqlite
communication_engine task_manager dashboard`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_http import Api, HiveProcess, free_port  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
plugins:
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
  api:
    config:
      listen: 127.0.0.1:PORT
      access_log: false
  dashboard:
    config: {{}}
"""


def fill(port, count, connections, first=0):
    done = [0]
    lock = threading.Lock()
    errors = []

    def worker(index):
        api = Api(port, attempts=5)
        for n in range(first + index, count, connections):
            # The same Idempotency-Key on a retry after a timeout: never twice.
            status, body = api.request("POST", "/api/v2/tasks", {
                "type": "bench-%d" % (n % 7), "capabilities": ["nobody-%d" % (n % 5)],
                "priority": 1 + n % 10, "payload": {"n": n}}, headers={"Idempotency-Key": "bench-%d" % n},
                timeout=60)
            if status not in (200, 201):
                errors.append((status, body))
                return
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("bench: submission refused: %r" % (errors[0],))
    return done[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build")
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="hive-dashboard-bench-")
    os.makedirs(workdir, exist_ok=True)
    config = CONFIG.replace("PORT", str(free_port()))
    hive = HiveProcess(os.path.join(build, "bin", "hive"), workdir, os.path.join(build, "plugins"), config,
                       "dashboard-bench")
    try:
        hive.start()
        status, stats = Api(hive.port).request("GET", "/api/v2/tasks/stats")
        stored = sum(stats["by_status"].values())
        started = time.monotonic()
        added = fill(hive.port, args.tasks, args.connections, first=stored)
        print("bench: %d tasks submitted in %.1f s (%.0f/s)" % (
            added, time.monotonic() - started, added / max(time.monotonic() - started, 1e-9)), flush=True)
        count = stored + added
        out = subprocess.run(["node", os.path.join(HERE, "first_render.mjs"), "--url",
                              "http://127.0.0.1:%d" % hive.port, "--modules",
                              os.path.join(build, "plugins", "dashboard", "web"), "--chromium", args.chromium],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise SystemExit("bench: first_render.mjs failed:\n" + out.stderr[-3000:])
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        print("first load on the wire: %d bytes (%.1f KB) in %d files" % (
            figures["first_load_bytes_on_wire"], figures["first_load_bytes_on_wire"] / 1024,
            len(figures["first_load_files"])))
        for line in figures["first_load_files"]:
            print("  " + line)
        print("tasks in the store: %d" % count)
        print("first row of the task list: %.0f ms after navigation start" % figures["first_row_ms"])
        print("all %d tasks in the browser: %.0f ms (%.1f MB of API pages on the wire)" % (
            figures["tasks_in_browser"], figures["all_tasks_loaded_ms"], figures["api_pages_bytes"] / 1e6))
        s = figures["scroll"]
        print("scrolling the whole list in %d frames: p50 %.1f ms, p95 %.1f ms, max %.1f ms per frame; "
              "%d rows in the DOM" % (s["frames"], s["p50_ms"], s["p95_ms"], s["max_ms"], s["rows_in_dom"]))
        print("filter by status over all of them: %.0f ms" % figures["filter_ms"])
    finally:
        hive.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
