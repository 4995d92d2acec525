#!/usr/bin/env python3
"""Adaptive concurrency, measured: one fast and one slow remote agent (both
max_concurrency 8; the slow one's tasks take 3× as long, and longer still
past 2 at once: slow_agent.py) share --tasks tasks of --sleep-ms each,
submitted at once, or --rate a second (below what the two can do: then
which agent each task goes to is what decides its time). Run with optimization_engine enforcing its limits, then
with enabled: false. Prints the completion time (first submission to last
finish), p50/p99 of each task's submission → finish, and how the tasks split
between the agents. Prints figures; asserts nothing.

With --compare ranking, both runs enforce the limits and the orchestrator
ranks agents by load only (latency_ranking: false), then by (held + 1) ×
recent task time (the default).

Usage: bench/optimization/run.py --hive build/release/bin/hive --plugins build/release/plugins [--tasks 300]
                                 [--rate R] [--runs N] [--compare engine|ranking]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_http import Api, HiveProcess  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
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
    config: {{}}
  orchestrator:
    config:
      node: node0
      latency_ranking: RANKING
  optimization_engine:
    config:
      adaptive_concurrency:
        enabled: ENABLED
        window_samples: 4
        window: 1s
"""


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(args, enabled, ranking=True):
    workdir = tempfile.mkdtemp(prefix="hive-bench-optimization-")
    config = CONFIG.replace("ENABLED", "true" if enabled else "false").replace(
        "RANKING", "true" if ranking else "false")
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), config, "bench_optimization")
    agents = []
    try:
        hive.start()
        url = "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port
        for name, script in (("fast", os.path.join(ROOT, "examples", "agents", "hive_agent.py")),
                             ("slow", os.path.join(HERE, "slow_agent.py"))):
            agents.append(subprocess.Popen(["/usr/bin/python3", script, "--url", url, "--name", name,
                                            "--capabilities", "work", "--concurrency", "8"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        api = Api(hive.port)
        while len(api.request("GET", "/api/v2/agents")[1].get("items", [])) < 2:
            time.sleep(0.1)
        # Warm-up: each agent's baseline window, at light load.
        warm = [api.request("POST", "/api/v2/tasks", {"type": "work", "capabilities": ["work"],
                                                     "payload": {"sleep_ms": args.sleep_ms}})[1]["id"]
                for _ in range(16)]
        while any(api.request("GET", "/api/v2/tasks/" + i)[1]["status"] != "succeeded" for i in warm):
            time.sleep(0.2)
        began = time.time() * 1000
        ids = []
        for n in range(args.tasks):
            if args.rate > 0:
                time.sleep(max(0.0, began / 1000 + n / args.rate - time.time()))
            ids.append(api.request("POST", "/api/v2/tasks", {"type": "work", "capabilities": ["work"],
                                                            "payload": {"sleep_ms": args.sleep_ms}})[1]["id"])
        pending = set(ids)
        tasks = {}
        while pending:
            for i in list(pending):
                task = api.request("GET", "/api/v2/tasks/" + i)[1]
                if task["status"] in ("succeeded", "failed", "dead"):
                    tasks[i] = task
                    pending.discard(i)
            time.sleep(0.2)
        latencies = [(t["finished_at_ms"] - t["created_at_ms"]) / 1000 for t in tasks.values()]
        by_agent = {}
        for t in tasks.values():
            by_agent[t["agent"]] = by_agent.get(t["agent"], 0) + 1
        done = (max(t["finished_at_ms"] for t in tasks.values()) - began) / 1000
        names = {a["id"]: a["name"] for a in api.request("GET", "/api/v2/agents")[1]["items"]}
        split = ", ".join("%s %d" % (names.get(a, a), n) for a, n in sorted(by_agent.items()))
        label = ("on" if enabled else "off") + ("" if args.compare != "ranking" else
                                                (", latency ranking" if ranking else ", load ranking"))
        print("%-25s completion %6.2f s   p50 %5.2f s   p99 %5.2f s   tasks: %s" %
              (label, done, percentile(latencies, 0.5), percentile(latencies, 0.99), split),
              flush=True)
    finally:
        for agent in agents:
            agent.terminate()
            agent.wait(10)
        hive.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--sleep-ms", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0, help="tasks submitted a second (0: all at once)")
    parser.add_argument("--compare", choices=["engine", "ranking"], default="engine",
                        help="engine: adaptive limits off vs on; ranking: the orchestrator's latency_ranking "
                             "off vs on (limits on)")
    args = parser.parse_args()
    print("%d tasks of %d ms, %s, a fast and a slow agent (max_concurrency 8 each)" %
          (args.tasks, args.sleep_ms, "%g a second" % args.rate if args.rate > 0 else "submitted at once"))
    for _ in range(args.runs):
        if args.compare == "ranking":
            for ranking in (False, True):
                run(args, True, ranking)
        else:
            for enabled in (False, True):
                run(args, enabled)


if __name__ == "__main__":
    main()
