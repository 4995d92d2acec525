#!/usr/bin/python3
"""End to end: a batch in the real `hive` (storage_sqlite, task_manager,
orchestrator, data_processing_engine) run by a real remote agent
(examples/agents/hive_agent.py, which echoes its payload as its result).

A JSON lines file of --items items under the input directory, in chunks of
--chunk-size, --parallelism at a time; hive is killed with SIGKILL --crashes
times while the batch runs and restarted on the same port, then
data_processing_engine is hot-swapped --swaps times. The batch
succeeds; the output accounts for every item, in order; task_manager holds
exactly one task per chunk (a finished chunk was never redone, none was
submitted twice); progress events reached a WebSocket client."""
import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "e2e"))
from e2e_http import Api, HiveProcess, free_port  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: 10s
  log_level: info
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
    config: {{retry_base: 100ms, retry_max: 1s, sweep_period: 200ms, claim_lease: 2s}}
  orchestrator:
    config: {{heartbeat_interval: 1s, missed_heartbeats: 3, sweep_period: 200ms}}
  task_execution_engine:
    config:
      agents: []
  data_processing_engine:
    config:
      input_dir: INPUT
      reconcile_period: 200ms
"""


def say(*parts):
    print("batches_e2e:", *parts, flush=True)


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, KeyError, TypeError):
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


async def follow(port, events, ready, finished):
    import websockets
    async with websockets.connect("ws://127.0.0.1:%d/api/v2/ws" % port, subprotocols=["hive.v1"]) as socket:
        await socket.send(json.dumps({"type": "subscribe", "id": "1", "topic": "batches"}))
        while not finished.is_set():
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
            except asyncio.TimeoutError:
                continue
            if message["type"] == "subscribed":
                ready.set()
            elif message["type"] == "event":
                events.append(message["payload"]["event"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--chunk-size", type=int, default=10)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--sleep-ms", type=int, default=150)
    parser.add_argument("--crashes", type=int, default=2)
    parser.add_argument("--swaps", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-batches-e2e-")
    input_dir = os.path.join(workdir, "input")
    os.makedirs(input_dir)
    with open(os.path.join(input_dir, "items.jsonl"), "w") as f:
        for i in range(args.items):
            f.write(json.dumps({"n": i, "text": "item %d" % i}) + "\n")
    port = free_port()
    config = CONFIG.replace("PORT", str(port)).replace("INPUT", input_dir)
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), config, "batches_e2e")
    agent = None
    failures = []
    chunks = (args.items + args.chunk_size - 1) // args.chunk_size
    try:
        hive.start()
        api = Api(port, attempts=3)
        agent = subprocess.Popen(
            ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % port,
             "--name", "py-batch", "--capabilities", "shell", "--concurrency", str(args.parallelism),
             "--state-file", os.path.join(workdir, "agent.state")],
            stdout=open(os.path.join(workdir, "agent.log"), "ab"), stderr=subprocess.STDOUT)
        events = []

        async def create_and_watch():
            ready, finished = asyncio.Event(), asyncio.Event()
            follower = asyncio.create_task(follow(port, events, ready, finished))
            await asyncio.wait_for(ready.wait(), 10)
            status, batch = await asyncio.get_running_loop().run_in_executor(None, lambda: api.request(
                "POST", "/api/v2/batches",
                {"input": {"file": "items.jsonl", "format": "jsonl"}, "chunk_size": args.chunk_size,
                 "parallelism": args.parallelism, "retries": 2,
                 "task": {"type": "dpchunk", "capabilities": ["shell"], "payload": {"sleep_ms": args.sleep_ms},
                          # A task assigned in the instant of a SIGKILL, that the agent never
                          # got, waits for its lease (its timeout) before it is offered again.
                          "timeout_seconds": 5}}))
            assert status == 201, (status, batch)
            # A few progress events, then the crashes go on without the socket.
            await asyncio.sleep(1.0)
            finished.set()
            await follower
            return batch

        batch = asyncio.run(create_and_watch())
        path = "/api/v2/batches/" + batch["id"]
        say("batch", batch["id"], batch["total"], "items in", batch["chunks"]["total"], "chunks")
        if "batch.created" not in events or "batch.progress" not in events:
            failures.append("the WebSocket saw %r, not batch.created and batch.progress" % events[:5])
        done_before = 0
        for crash in range(args.crashes):
            wait_for("progress before crash %d" % (crash + 1),
                     lambda: api.request("GET", path)[1]["chunks"]["succeeded"] > done_before + 2, 60)
            state = api.request("GET", path)[1]
            if state["status"] != "running":
                failures.append("the batch finished before crash %d: make it longer" % (crash + 1))
                break
            done_before = state["chunks"]["succeeded"]
            api.close()
            hive.process.send_signal(signal.SIGKILL)
            hive.process.wait()
            say("crash %d: SIGKILL with %d of %d chunks done" % (crash + 1, done_before, chunks))
            hive.start()
        # And a hot swap of the plugin itself while the batch runs.
        for swap in range(args.swaps):
            wait_for("progress before swap %d" % (swap + 1),
                     lambda: api.request("GET", path)[1]["chunks"]["succeeded"] > done_before + 2, 60)
            done_before = api.request("GET", path)[1]["chunks"]["succeeded"]
            code, text = hive.reload("data_processing_engine")
            say("swap %d with %d of %d chunks done: %s %s" % (swap + 1, done_before, chunks, code, text))
            if code != 0:
                failures.append("hive plugins reload data_processing_engine: %s %s" % (code, text))
        wait_for("the batch to finish", lambda: api.request("GET", path)[1]["status"] != "running", 120)
        state = api.request("GET", path)[1]
        say("batch", state["status"], "done", state["done"], "failed", state["failed"], "chunks", state["chunks"])
        if state["status"] != "succeeded" or state["done"] != args.items:
            failures.append("the batch ended %s with %d of %d items done" % (state["status"], state["done"], args.items))

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path + "/output")
        response = connection.getresponse()
        lines = response.read().decode().splitlines()
        connection.close()
        seen = []
        for line in lines:
            row = json.loads(line)
            items = row["result"]["echo"]["items"]
            if row["first_item"] != len(seen) or row["items"] != len(items):
                failures.append("output line of chunk %s out of order" % row["chunk"])
            seen.extend(item["n"] for item in items)
        if seen != list(range(args.items)):
            failures.append("the output accounts for %d items, not 0..%d in order" % (len(seen), args.items - 1))

        per_chunk = {}
        cursor = None
        while True:
            query = "/api/v2/tasks?type=dpchunk&limit=1000" + ("&cursor=" + cursor if cursor else "")
            page = api.request("GET", query)[1]
            for task in page["items"]:
                chunk = task.get("payload", {}).get("chunk", task["id"])
                per_chunk[chunk] = per_chunk.get(chunk, 0) + 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
        twice = {chunk: n for chunk, n in per_chunk.items() if n != 1}
        say("tasks:", sum(per_chunk.values()), "for", len(per_chunk), "chunks")
        if twice or len(per_chunk) != chunks:
            failures.append("tasks per chunk: %d chunks have tasks, %r more than one" % (len(per_chunk), twice))
        report = hive.sanitizer_report()
        if report:
            failures.append("sanitizer report:\n" + report)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait()
        code = hive.stop()
        if code not in (0, None):
            failures.append("hive exited with %s" % code)
    if failures:
        for failure in failures:
            say("FAIL:", failure)
        say("work directory kept:", workdir)
        return 1
    say("ok")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
