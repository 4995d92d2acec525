#!/usr/bin/python3
"""End to end: live swaps of the `orchestrator` plugin with remote agents
connected and tasks flowing, with the real `hive` binary (api, storage_sqlite,
communication_engine on the local bus, task_manager, orchestrator).

--agents (50) lightweight remote agents, in this process, speak
docs/agent-protocol.md over real WebSockets (hive.agent.v1): hello, then
task.accept and task.result for every task.assign, heartbeats; each keeps a
result until its task.ack and sends it again after a reconnect. When the
server closes the connection (1001 when the orchestrator's generation goes
away) an agent reconnects with its agent_id and secret, as the protocol says.
A submitter POSTs tasks (with an Idempotency-Key) at --rate per second.

While that runs, `hive plugins reload orchestrator` swaps the plugin --swaps
(10) times, each once every agent is connected again and tasks were finished
since the last swap. Checks:
  - each reload returns 0 within --max-swap-seconds (1 s) and the plugin's
    generation (GET /api/v2/admin/plugins/orchestrator) is one higher: a
    correctness bound of the swap protocol (remote agents must not hold a
    swap back), not a benchmark; the times are printed;
  - every submitted task reaches exactly one terminal state: it ends
    `succeeded`, and the durable event log holds exactly one task.succeeded
    event for it (none finished twice, none lost);
  - every agent reconnected under its own id (no refused hello), and was
    closed with nothing but 1001; a result is refused only as stale (its
    assignment, unanswered when the connection closed, went to another agent);
  - hive stops with status 0 on SIGTERM, and the log holds no sanitizer report.

    orchestrator_swap_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins \
        [--agents 50] [--swaps 10] [--rate 40] [--max-swap-seconds 1] [--keep]

Exit status 0 when every check passed.
"""
import argparse
import asyncio
import calendar
import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import websockets

from e2e_http import Api, HiveProcess, Submitter

HEARTBEAT_SECONDS = 1.0
BACKOFF_FIRST, BACKOFF_LAST = 0.2, 10.0  # between connection attempts, as examples/agents/hive_agent.py


def say(*parts):
    print("orchestrator-swap:", *parts, flush=True)


PLUGINS = ("api", "storage_sqlite", "communication_engine", "task_manager", "orchestrator")


def private_plugin_dir(source, workdir):
    """The plugins this test runs, alone in a directory of its own: a swap
    scans its plugin directory, and a shared build directory holds every
    plugin (and other builds may replace files in it meanwhile)."""
    target = os.path.join(workdir, "plugins")
    os.makedirs(target)
    for name in sorted(os.listdir(source)):
        if name.endswith(".so") and name.rsplit("-", 1)[0] in PLUGINS:
            try:
                os.link(os.path.join(source, name), os.path.join(target, name))
            except OSError:
                shutil.copy2(os.path.join(source, name), os.path.join(target, name))
    return target


class Hive(HiveProcess):
    def __init__(self, args, workdir):
        super().__init__(args.hive, workdir, private_plugin_dir(os.path.abspath(args.plugins), workdir), """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: 10s
  log_level: info
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
      aging: 0s
  orchestrator:
    config:
      heartbeat_interval: 2s
      missed_heartbeats: 5
      sweep_period: 200ms
""", "orchestrator-swap")


class Agent:
    """A remote agent: accepts and finishes every task it is assigned."""

    def __init__(self, index, port):
        self.index = index
        self.uri = "ws://127.0.0.1:%d/api/v2/agents/connect" % port
        self.agent_id = None
        self.secret = None
        self.connected = False
        self.connections = 0
        self.closes = collections.Counter()  # close code received (1006: no close frame)
        self.refused = collections.Counter()  # handshakes or hellos refused
        self.problems = []
        self.unacked = {}  # task id -> the result message, until its task.ack
        self.finished = 0  # results acknowledged as accepted
        self.done = set()  # the tasks whose result was acknowledged as accepted
        self.stale = 0  # results refused because the lease had gone to another agent
        self.stopping = False
        self.ws = None

    async def run(self):
        pause = BACKOFF_FIRST
        while not self.stopping:
            try:
                self.ws = await websockets.connect(self.uri, subprotocols=["hive.agent.v1"], ping_interval=None,
                                                   open_timeout=10, close_timeout=5, max_size=2**22)
            except (websockets.InvalidStatusCode, OSError, asyncio.TimeoutError, EOFError,
                    websockets.InvalidHandshake) as e:
                # 503 while the orchestrator hands its agents over: back off as
                # docs/agent-protocol.md says (doubling, with jitter).
                status = getattr(e, "status_code", None)
                self.refused[status or type(e).__name__] += 1
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))
                pause = min(pause * 2, BACKOFF_LAST)
                continue
            pause = BACKOFF_FIRST
            self.connections += 1
            beat = None
            try:
                hello = {"type": "hello", "name": "swap-agent-%d" % self.index, "max_concurrency": 4}
                if self.agent_id:
                    hello.update(agent_id=self.agent_id, secret=self.secret)
                await self.ws.send(json.dumps(hello))
                beat = asyncio.create_task(self.heartbeats(self.ws))
                async for text in self.ws:
                    await self.handle(self.ws, json.loads(text))
                if not self.stopping:  # closed normally (1000, 1001): the iteration just ends
                    self.closes[self.ws.close_code or 1006] += 1
            except websockets.ConnectionClosed as e:
                if not self.stopping:
                    self.closes[e.rcvd.code if e.rcvd is not None else 1006] += 1
            finally:
                self.connected = False
                self.ws = None
                if beat:
                    beat.cancel()

    async def heartbeats(self, ws):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await ws.send(json.dumps({"type": "heartbeat"}))

    async def handle(self, ws, message):
        kind = message.get("type")
        if kind == "welcome":
            if self.agent_id and message["agent_id"] != self.agent_id:
                self.problems.append("came back as %s, not %s" % (message["agent_id"], self.agent_id))
            self.agent_id = message["agent_id"]
            self.secret = message.get("secret", self.secret)
            self.connected = True
            # Results whose ack was lost with the last connection, sent again.
            for result in list(self.unacked.values()):
                await ws.send(json.dumps(result))
        elif kind == "task.assign":
            task_id = message["task"]["id"]
            token = message["lease_token"]
            await ws.send(json.dumps({"type": "task.accept", "task_id": task_id, "lease_token": token}))
            result = {"type": "task.result", "task_id": task_id, "lease_token": token, "status": "succeeded",
                      "result": {"agent": self.index}}
            self.unacked[task_id] = result
            await ws.send(json.dumps(result))
        elif kind == "task.ack":
            if message.get("report") == "result":
                self.unacked.pop(message["task_id"], None)
                if message.get("accepted"):
                    self.finished += 1
                    self.done.add(message["task_id"])
                elif "stale lease" in message.get("reason", ""):
                    # Its assignment went back to the queue before the accept got
                    # through (unanswered when the connection closed): another
                    # agent does it; the task still ends once.
                    self.stale += 1
                else:
                    self.problems.append("result refused: %s" % json.dumps(message))
        elif kind == "error":
            self.refused[message.get("reason") or "error"] += 1
            self.problems.append("error: %s" % json.dumps(message))
        elif kind not in ("heartbeat.ack", "task.cancel", "drain"):
            self.problems.append("unexpected message %s" % json.dumps(message)[:200])

    async def stop(self):
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()


HIVE = None


def log_time(line):
    """Epoch seconds of a hive.log line ("2026-12-05T20:55:13.010Z info ...")."""
    stamp = line.split(" ", 1)[0].rstrip("Z")
    return calendar.timegm(time.strptime(stamp.split(".")[0], "%Y-%m-%dT%H:%M:%S")) + float("0." + stamp.split(".")[1])


def phases(log_path, requested, times):
    """Where each swap's time went, from hive.log: the kernel's plan (scan the
    plugin directory, load and configure the new generation) until the old
    generation starts handing its agents over; the hand-over; the switch (gate,
    lease wait, start) until `swapped`; then retiring the old generation."""
    with open(log_path, errors="replace") as f:
        lines = f.read().splitlines()
    handed = [(log_time(l), l) for l in lines if "[orchestrator] handed " in l]
    swapped = [log_time(l) for l in lines if "plugin 'orchestrator' swapped to" in l]
    out = []
    for k, (start, total) in enumerate(zip(requested, times)):
        end = start + total
        h = [(t, l) for t, l in handed if start <= t <= end]
        s = [t for t in swapped if start <= t <= end]
        if not h or not s:
            out.append("swap %d: %.3f s (no hand-over or swap line in the log)" % (k + 1, total))
            continue
        took = float(re.search(r" in (\d+) ms", h[0][1]).group(1)) / 1000
        begun = h[0][0] - took
        out.append("swap %d: %.3f s = plan %.3f + hand-over %.3f + switch %.3f + retire %.3f" %
                   (k + 1, total, begun - start, took, s[0] - h[0][0], end - s[0]))
    return out


async def wait_until(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if HIVE is not None and HIVE.process.poll() is not None:
            say("hive exited with status %s while waiting for %s" % (HIVE.process.returncode, what))
            return False
        await asyncio.sleep(0.05)
    say("TIMEOUT after %.0f s waiting for %s" % (timeout, what))
    return False


def generation(api):
    status, body = api.request("GET", "/api/v2/admin/plugins/orchestrator")
    if status != 200:
        raise AssertionError("GET /api/v2/admin/plugins/orchestrator: %d %s" % (status, body))
    return body["generation"]


def succeeded_events(api):
    """task id -> number of task.succeeded events in the durable event log."""
    counts = collections.Counter()
    after = None
    while True:
        path = "/api/v2/tasks/events?limit=1000" + ("&after=%d" % after if after is not None else "")
        status, page = api.request("GET", path)
        if status != 200:
            raise AssertionError("GET %s: %d %s" % (path, status, page))
        for event in page["items"]:
            if event["type"] == "task.succeeded":
                counts[event["data"]["task"]["id"]] += 1
        if not page["items"] or page.get("last_id") is None or page["last_id"] == after:
            return counts
        after = page["last_id"]


async def swaps(args, hive, agents, submitter, api, failures, requested):
    times = []
    for k in range(args.swaps):
        finished_before = sum(a.finished for a in agents)
        ready = await wait_until(
            "agents back and tasks finished before swap %d" % (k + 1),
            lambda: all(a.connected for a in agents) and sum(a.finished for a in agents) >= finished_before + 20, 60)
        if not ready:
            failures.append("before swap %d: %d of %d agents connected, %d tasks finished since the last swap" %
                            (k + 1, sum(a.connected for a in agents), len(agents),
                             sum(a.finished for a in agents) - finished_before))
            break
        before = await asyncio.to_thread(generation, api)
        requested.append(time.time())
        t0 = time.monotonic()
        code, output = await asyncio.to_thread(hive.reload, "orchestrator")
        elapsed = time.monotonic() - t0
        times.append(elapsed)
        after = await asyncio.to_thread(generation, api)
        say("swap %d: generation %d -> %d in %.3f s (%s); %d tasks submitted, %d finished" %
            (k + 1, before, after, elapsed, code, len(submitter.created), sum(a.finished for a in agents)))
        if code != 0:
            failures.append("swap %d: hive plugins reload orchestrator: %s: %s" % (k + 1, code, output))
            break
        if after != before + 1:
            failures.append("swap %d: generation %d -> %d" % (k + 1, before, after))
        if elapsed > args.max_swap_seconds:
            failures.append("swap %d took %.3f s (more than %.1f s)" % (k + 1, elapsed, args.max_swap_seconds))
    return times


async def scenario(args, hive, failures):
    api = Api(hive.port, token=hive.local_token())
    agents = [Agent(i, hive.port) for i in range(args.agents)]
    runners = [asyncio.create_task(a.run()) for a in agents]
    if not await wait_until("%d agents connected" % args.agents, lambda: all(a.connected for a in agents), 60):
        failures.append("agents connected: %d of %d" % (sum(a.connected for a in agents), len(agents)))
    submitter = Submitter(hive.port, args.rate,
                          lambda n: {"type": "orchestrator-swap-e2e", "payload": {"n": n}, "max_attempts": 10},
                          "orchestrator-swap-e2e")
    submitter.start()
    try:
        requested = []
        times = await swaps(args, hive, agents, submitter, api, failures, requested)
        await asyncio.sleep(1.0)  # tasks flow after the last swap too
    finally:
        submitter.done.set()
        await asyncio.to_thread(submitter.join, 60)
    if times:
        say("swap times (s): %s; max %.3f, mean %.3f" % (" ".join("%.3f" % t for t in times), max(times),
                                                          sum(times) / len(times)))
        for line in phases(hive.log.name, requested, times):
            say(line)
    created = list(submitter.created)
    if submitter.failure:
        failures.append("submitter: " + submitter.failure)

    def settled():
        done = set().union(*(a.done for a in agents))
        return all(not a.unacked for a in agents) and done.issuperset(created)

    await wait_until("every task's result acknowledged", settled, 120)
    for a in agents:
        await a.stop()
    await asyncio.wait(runners, timeout=15)
    for r in runners:
        r.cancel()

    statuses = collections.Counter()
    not_succeeded = []
    for task_id in created:
        status, task = await asyncio.to_thread(api.request, "GET", "/api/v2/tasks/" + task_id)
        statuses[task.get("status") if status == 200 else "HTTP %d" % status] += 1
        if status != 200 or task.get("status") != "succeeded":
            not_succeeded.append((task_id, task.get("status") if status == 200 else status))
    events = await asyncio.to_thread(succeeded_events, api)
    twice = {t: n for t, n in events.items() if n > 1}
    missing = [t for t in created if events.get(t, 0) == 0]
    say("%d tasks submitted: %s; task.succeeded events: %d for %d tasks" %
        (len(created), dict(statuses), sum(events.values()), len(events)))
    if not_succeeded:
        failures.append("%d tasks did not end succeeded: %s" % (len(not_succeeded), not_succeeded[:10]))
    if twice:
        failures.append("%d tasks finished more than once: %s" % (len(twice), list(twice.items())[:10]))
    if missing:
        failures.append("%d tasks without a task.succeeded event: %s" % (len(missing), missing[:10]))
    extra = set(events) - set(created)
    if extra:
        failures.append("task.succeeded events of tasks nobody submitted: %s" % sorted(extra)[:10])
    refused = collections.Counter()
    for a in agents:
        refused.update(a.refused)
        for problem in a.problems[:3]:
            failures.append("agent %d: %s" % (a.index, problem))
        if a.closes and set(a.closes) - {1001}:
            failures.append("agent %d: closed with %s" % (a.index, dict(a.closes)))
    say("agents: %d connections, closes %s, refused handshakes/hellos %s, results refused as stale %d" %
        (sum(a.connections for a in agents), dict(sum((a.closes for a in agents), collections.Counter())),
         dict(refused), sum(a.stale for a in agents)))
    api.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--swaps", type=int, default=10)
    parser.add_argument("--rate", type=float, default=40.0, help="tasks submitted per second")
    parser.add_argument("--max-swap-seconds", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="hive-orchestrator-swap-")
    hive = Hive(args, workdir)
    global HIVE
    HIVE = hive
    failures = []
    try:
        hive.start()
        say("hive on port %d; %d agents, %d swaps, %.0f tasks/s" % (hive.port, args.agents, args.swaps, args.rate))
        asyncio.run(scenario(args, hive, failures))
    finally:
        status = hive.stop()
        if status != 0:
            failures.append("hive exited with %s on SIGTERM" % status)
        report = hive.sanitizer_report()
        if report:
            failures.append("sanitizer report in hive.log:\n" + report)
    if failures:
        say("FAILED; work directory kept: " + workdir)
        for f in failures:
            say("  - " + f)
        return 1
    say("all checks passed")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
