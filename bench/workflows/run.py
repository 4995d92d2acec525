#!/usr/bin/python3
"""bench/workflows: what a workflow step costs over a plain task, in the real
hive with a real remote agent (examples/agents/hive_agent.py). Not run by ctest.

  chain   a chain of N tasks linked by task_manager's depends_on (submitted at
          once) against a workflow of N sequential steps, both run by the same
          agent: (workflow time - task chain time) / N is the engine's overhead
          per step (its submission, the event, the store writes)
  fanout  one workflow of W parallel steps between a start and an end step:
          steps/s through the engine, against W + 2 independent plain tasks
          (the agent's throughput bounds both)
  map     one workflow whose map step runs a task for each of M items (at most
          --map-parallelism at once): items/s through the engine; the run
          document holds every item, so each item's transition rewrites O(M)
          bytes (docs/workflows.md, map steps)
  timeline  where a chain step's time goes (medians over the chain): from the
          previous step's commit to its task existing in task_manager, task
          life (queue, agent, result), from the task's end to the step's commit

Usage: bench/workflows/run.py --hive BUILD/bin/hive --plugins BUILD/plugins
       [--chain 50] [--fanout 200] [--map 0 --map-parallelism 500]
       [--max-document-bytes N]   (--fanout 10000 needs 16777216)
Figures depend on the build: a Debug+ASan build (build/dev) is several times
slower than build/release.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
from workflow_e2e import Hive, start_agent, wait_for  # noqa: E402


def task_chain(hive, n):
    start = time.monotonic()
    previous = None
    ids = []
    for i in range(n):
        body = {"type": "bench", "capabilities": ["shell"], "payload": {"i": i}}
        if previous:
            body["depends_on"] = [previous]
        status, task = hive.api.request("POST", "/api/v2/tasks", body)
        assert status == 201, (status, task)
        previous = task["id"]
        ids.append(previous)
    wait_for("the task chain", lambda: hive.request("GET", "/api/v2/tasks/" + ids[-1])["status"] == "succeeded",
             600)
    return time.monotonic() - start


def task_fanout(hive, n):
    start = time.monotonic()
    ids = []
    for i in range(n):
        status, task = hive.api.request("POST", "/api/v2/tasks",
                                        {"type": "bench", "capabilities": ["shell"], "payload": {"i": i}})
        assert status == 201, (status, task)
        ids.append(task["id"])
    for task in ids:
        wait_for("the tasks", lambda: hive.request("GET", "/api/v2/tasks/" + task)["status"] == "succeeded", 600)
    return time.monotonic() - start


def workflow(hive, name, steps):
    hive.request("POST", "/api/v2/workflows", {"name": name, "steps": steps}, expect=201)
    start = time.monotonic()
    run = hive.request("POST", "/api/v2/workflows/%s/runs" % name, {}, expect=201)
    path = "/api/v2/workflows/runs/" + run["id"]
    wait_for("the workflow", lambda: hive.request("GET", path)["status"] != "running", 600)
    elapsed = time.monotonic() - start
    run = hive.request("GET", path)
    assert run["status"] == "succeeded", run["status"]
    workflow.last_run = run
    return elapsed


def timeline(hive, run):
    """Median milliseconds of each part of a chain step, from the run's and its
    tasks' timestamps (task_manager's created_at_ms and finished_at_ms)."""
    parts = {"previous step committed -> task created": [], "task life": [],
             "task finished -> step committed": []}
    previous = run["created_at_ms"]
    for step in run["steps"]:
        task = hive.request("GET", "/api/v2/tasks/" + step["task_id"], expect=200)
        parts["previous step committed -> task created"].append(task["created_at_ms"] - previous)
        parts["task life"].append(task["finished_at_ms"] - task["created_at_ms"])
        parts["task finished -> step committed"].append(step["finished_at_ms"] - task["finished_at_ms"])
        previous = step["finished_at_ms"]
    return {name: statistics.median(values) for name, values in parts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--map", type=int, default=0, help="items of the map run (0: none)")
    parser.add_argument("--map-parallelism", type=int, default=500)
    parser.add_argument("--max-document-bytes", type=int, default=1 << 20,
                        help="storage_sqlite's max_document_bytes: a run is one document, and a fan-out of 10,000 "
                             "steps does not fit in the default 1 MiB")
    args = parser.parse_args()
    args.max_map_items = max(1000, args.map)
    args.max_steps = max(1000, args.fanout + 2)
    # The api's body limit too (1 MiB by default, the workflow_engine's 256 KiB).
    args.max_definition_bytes = max(1 << 20, 200 * (args.fanout + args.chain))
    workdir = tempfile.mkdtemp(prefix="hive-bench-workflows-")
    hive = Hive(args, workdir)
    agent = start_agent(hive, workdir, "bench")
    try:
        time.sleep(1)  # the agent connects
        plain = task_chain(hive, args.chain)
        steps = [{"name": "s0", "task": {"type": "bench", "capabilities": ["shell"], "payload": {"i": 0}}}]
        for i in range(1, args.chain):
            steps.append({"name": "s%d" % i, "depends_on": ["s%d" % (i - 1)],
                          "task": {"type": "bench", "capabilities": ["shell"], "payload": {"i": i}}})
        flow = workflow(hive, "chain", steps)
        print("chain of %d: tasks %.2f s (%.1f ms/task), workflow %.2f s (%.1f ms/step), "
              "overhead %.1f ms/step" % (args.chain, plain, 1000 * plain / args.chain, flow,
                                          1000 * flow / args.chain, 1000 * (flow - plain) / args.chain),
              flush=True)
        print("chain step timeline (medians): " + ", ".join(
            "%s %.1f ms" % (name, value) for name, value in timeline(hive, workflow.last_run).items()), flush=True)
        steps = [{"name": "start", "task": {"type": "bench", "capabilities": ["shell"]}}]
        for i in range(args.fanout):
            # No payload: a definition of 10,000 steps stays under the api's 1 MiB body limit.
            steps.append({"name": "f%d" % i, "depends_on": ["start"],
                          "task": {"type": "bench", "capabilities": ["shell"]}})
        steps.append({"name": "end", "depends_on": ["f%d" % i for i in range(args.fanout)],
                      "task": {"type": "bench", "capabilities": ["shell"]}})
        elapsed = workflow(hive, "fanout", steps)
        plain = task_fanout(hive, args.fanout + 2)
        print("fan-out of %d: workflow %.2f s, %.1f steps/s; the same number of plain tasks %.2f s, %.1f tasks/s"
              % (args.fanout, elapsed, (args.fanout + 2) / elapsed, plain, (args.fanout + 2) / plain), flush=True)
        if args.map > 0:
            hive.request("POST", "/api/v2/workflows", {
                "name": "mapped", "params": {"items": {"type": "array"}},
                "steps": [{"name": "each", "map": {"over": "params.items", "parallelism": args.map_parallelism},
                           "task": {"type": "bench", "capabilities": ["shell"], "payload": {"i": "${index}"}}}]},
                expect=201)
            start = time.monotonic()
            run = hive.request("POST", "/api/v2/workflows/mapped/runs", {"params": {"items": list(range(args.map))}},
                               expect=201)
            path = "/api/v2/workflows/runs/" + run["id"]
            wait_for("the map run", lambda: hive.request("GET", path)["status"] != "running", 3600)
            elapsed = time.monotonic() - start
            status = hive.request("GET", path)["status"]
            print("map of %d items (parallelism %d): %s in %.2f s, %.1f items/s"
                  % (args.map, args.map_parallelism, status, elapsed, args.map / elapsed), flush=True)
    finally:
        agent.terminate()
        agent.wait(10)
        hive.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
