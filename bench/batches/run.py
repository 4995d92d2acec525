#!/usr/bin/python3
"""bench/batches: batch throughput of data_processing_engine in the real hive
with real remote agents (examples/agents/hive_agent.py, which echo each
chunk's payload back as its result). Not run by ctest.

A JSON lines file of --items items is split into chunks of --chunk-size, run
--parallelism chunks at a time by --agents agents; the figures are chunks/s
and items/s from the POST to the batch's end, and the output is checked to
account for every item, in order.

Usage: bench/batches/run.py --hive BUILD/bin/hive --plugins BUILD/plugins
       [--items 100000] [--chunk-size 500] [--parallelism 16] [--agents 2]
Figures depend on the build: a Debug+ASan build (build/dev) is several times
slower than build/release.
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_http import Api, HiveProcess, free_port  # noqa: E402

AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  log_level: warn
plugins:
  api:
    config:
      listen: 127.0.0.1:PORT
      access_log: false
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
  orchestrator:
    config: {{}}
  task_execution_engine:
    config:
      agents: []
  data_processing_engine:
    config:
      input_dir: INPUT
      max_parallelism: 256
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--agents", type=int, default=2)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-bench-batches-")
    input_dir = os.path.join(workdir, "input")
    os.makedirs(input_dir)
    with open(os.path.join(input_dir, "items.jsonl"), "w") as f:
        for i in range(args.items):
            f.write('{"n": %d}\n' % i)
    port = free_port()
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins),
                       CONFIG.replace("PORT", str(port)).replace("INPUT", input_dir), "bench/batches")
    agents = []
    try:
        hive.start()
        api = Api(port)
        per_agent = max(1, (args.parallelism + args.agents - 1) // args.agents)
        for a in range(args.agents):
            agents.append(subprocess.Popen(
                ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % port,
                 "--name", "bench-%d" % a, "--capabilities", "shell", "--concurrency", str(per_agent)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while len(api.request("GET", "/api/v2/agents")[1].get("items", [])) < args.agents:
            if time.monotonic() > deadline:
                raise SystemExit("bench/batches: the agents did not connect")
            time.sleep(0.1)
        start = time.monotonic()
        status, batch = api.request("POST", "/api/v2/batches", {
            "input": {"file": "items.jsonl", "format": "jsonl"}, "chunk_size": args.chunk_size,
            "parallelism": args.parallelism, "task": {"type": "bench", "capabilities": ["shell"]}}, timeout=120)
        assert status == 201, (status, batch)
        created = time.monotonic()
        path = "/api/v2/batches/" + batch["id"]
        while True:
            state = api.request("GET", path)[1]
            if state["status"] != "running":
                break
            time.sleep(0.05)
        finished = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("GET", path + "/output")
        seen = []
        for line in connection.getresponse().read().decode().splitlines():
            seen.extend(item["n"] for item in json.loads(line)["result"]["echo"]["items"])
        connection.close()
        chunks = batch["chunks"]["total"]
        elapsed = finished - start
        print("bench/batches: %d items in %d chunks of %d, parallelism %d, %d agents: %s" % (
            args.items, chunks, args.chunk_size, args.parallelism, args.agents, state["status"]))
        print("  create (read + split + store):  %.2f s" % (created - start))
        print("  total:                          %.2f s" % elapsed)
        print("  throughput:                     %.1f chunks/s, %.0f items/s" % (chunks / elapsed, args.items / elapsed))
        print("  output accounts for every item: %s" % (seen == list(range(args.items))))
        return 0 if state["status"] == "succeeded" and seen == list(range(args.items)) else 1
    finally:
        for agent in agents:
            agent.terminate()
            agent.wait()
        hive.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
