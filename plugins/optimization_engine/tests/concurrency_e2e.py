#!/usr/bin/env python3
"""End to end: the adaptive concurrency limit in the real hive.

One remote agent (examples/agents/hive_agent.py, max_concurrency 8) and
optimization_engine (windows of 4 attempts). Its first window measures the
baseline at 1 task, then its limit opens to 8 while its tasks take 50 ms.
Then its tasks take 800 ms (it "slows down"): the limit must fall to at most
2 within a few windows, stay there, and the dispatcher must obey it — the
runs of the tasks dispatched after that overlap at most `limit` at a time
(without the dispatcher's hook they overlap 8 at a time).

Usage: concurrency_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_http import Api, HiveProcess, finish, wait_for  # noqa: E402

AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: 10s
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config:
      sweep_period: 200ms
  orchestrator:
    config:
      heartbeat_interval: 1s
      node: node0
  optimization_engine:
    config:
      adaptive_concurrency:
        window_samples: 4
        window: 2s
        tolerance: 4
"""


def say(*parts):
    print("concurrency_e2e:", *parts, flush=True)


def max_overlap(intervals):
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-concurrency-")
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), CONFIG, "concurrency_e2e")
    agent = None
    failures = []
    try:
        hive.start()
        api = Api(hive.port)
        agent = subprocess.Popen(
            ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
             "--name", "slowing", "--capabilities", "work", "--concurrency", "8"],
            stdout=open(os.path.join(workdir, "agent.log"), "ab"), stderr=subprocess.STDOUT)

        def limit():
            # The agent that ran the tasks: the one with the most windows (an
            # agent id that reconnected under a new id keeps its old entry).
            agents = api.request("GET", "/api/v2/optimization/concurrency")[1]["agents"]
            return max(agents, key=lambda a: (a["windows"], a["limit"]))["limit"] if agents else None

        def submit(count, sleep_ms):
            ids = []
            for _ in range(count):
                status, task = api.request("POST", "/api/v2/tasks", {"type": "work", "capabilities": ["work"],
                                                                     "payload": {"sleep_ms": sleep_ms}})
                assert status == 201, "submit answered %d: %s" % (status, task)
                ids.append(task["id"])
            return ids

        def wait_finished(ids, limit_s):
            deadline = time.monotonic() + limit_s
            while time.monotonic() < deadline:
                tasks = [api.request("GET", "/api/v2/tasks/" + i)[1] for i in ids]
                if all(t["status"] == "succeeded" for t in tasks):
                    return tasks
                time.sleep(0.3)
            raise AssertionError("tasks not finished within %d s" % limit_s)

        fast = submit(24, 50)
        seen = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 8 not in seen:
            seen.add(limit())
            time.sleep(0.1)
        wait_finished(fast, 60)
        say("fast phase: limits seen %s" % sorted(x for x in seen if x is not None))
        if 8 not in seen:
            failures.append("the limit never opened to 8 while tasks took 50 ms: %s" % seen)

        slow = submit(30, 800)
        started = time.monotonic()
        converged_at = None
        while time.monotonic() - started < 30:
            if (limit() or 99) <= 2:
                converged_at = time.time() * 1000
                break
            time.sleep(0.1)
        if converged_at is None:
            failures.append("the limit did not fall to 2 within 30 s of the slowdown: %s" % limit())
        else:
            say("slow phase: limit %d after %.1f s" % (limit(), time.monotonic() - started))
            samples = []
            for _ in range(20):
                samples.append(limit())
                time.sleep(0.2)
            if max(samples) > 2:
                failures.append("the limit did not stay at most 2: %s" % samples)
            tasks = wait_finished(slow, 120)
            # Dispatched after the cut (+1 s for the tasks already out to finish).
            later = [(t["started_at_ms"], t["finished_at_ms"]) for t in tasks
                     if t["started_at_ms"] > converged_at + 1000]
            overlap = max_overlap(later)
            say("%d tasks started after the limit fell: at most %d ran at once" % (len(later), overlap))
            if len(later) < 5 or overlap > 2:
                failures.append("the dispatcher did not obey the limit: %d tasks, %d at once" %
                                (len(later), overlap))
    except AssertionError as error:
        failures.append(str(error))
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        code = hive.stop()
        if code != 0:
            failures.append("hive exited with %s" % code)
    finish("concurrency_e2e", failures, workdir)


if __name__ == "__main__":
    main()
