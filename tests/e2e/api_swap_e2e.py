#!/usr/bin/python3
"""End to end: live swaps of the `api` plugin under load, with the real `hive`
binary (api + storage_sqlite + communication_engine on the local bus +
task_manager, no orchestrator).

While `hive plugins reload api` swaps the plugin --swaps times (20) over the
control socket:
  - wrk (Debian) hammers GET /health: 0 socket errors and 0 non-2xx allowed;
  - a submitter POSTs tasks (with an Idempotency-Key, retried on connection
    errors), each of which publishes one `created` event on topic `tasks`;
  - --followers (200) WebSocket clients (hive.v1) follow topic `tasks`; when
    the server closes they record the close code, reconnect and subscribe
    again with `since` = the last event id they saw.
Before each swap: at least --spacing seconds of load, 5 more tasks created,
and every follower back (one close per earlier swap, subscribed again).
Checks: wrk reports requests, no socket error (its timeout is --wrk-timeout)
and no non-2xx; every follower got close 1001 once per swap and no other close
code, and received exactly the created tasks, each once, in creation order (so
in the same order as every other follower); no event other than task.created
(task_manager aging is off); api ends at generation swaps + 1; no sanitizer
report, and hive stops with status 0.

    api_swap_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins \
        [--swaps 20] [--followers 200] [--rate 20] [--keep]

Exit status 0 when every check passed.
"""
import argparse
import asyncio
import collections
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import websockets

from e2e_http import Api, HiveProcess, Submitter

TOPIC = "tasks"


def say(*parts):
    print("api-swap:", *parts, flush=True)


def event_key(event_id):
    """Bus ids are `<ms>-<seq>`; they order numerically, field by field."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Hive(HiveProcess):
    def __init__(self, args, workdir):
        super().__init__(args.hive, workdir, os.path.abspath(args.plugins), """hive:
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
      aging: 0s   # off: no task.aged events: with no orchestrator, only task.created ones
""", "api-swap")


class Follower:
    """A WebSocket client following topic `tasks` across swaps."""

    def __init__(self, index, port):
        self.index = index
        self.uri = "ws://127.0.0.1:%d/api/v2/ws" % port
        self.event_ids = []  # bus event ids, in arrival order
        self.task_ids = []  # the task each event names, in arrival order
        self.kinds = collections.Counter()  # payload "event" field
        self.closes = collections.Counter()  # close code received (1006: no close frame)
        self.refused = collections.Counter()  # handshake refusals by status / error type
        self.problems = []  # error envelopes, out-of-order ids, unparsable messages
        self.connections = 0
        self.subscribed = False
        self.stopping = False
        self.ws = None

    def last(self):
        return self.event_ids[-1] if self.event_ids else None

    async def run(self):
        while not self.stopping:
            try:
                self.ws = await websockets.connect(self.uri, subprotocols=["hive.v1"], ping_interval=None,
                                                   open_timeout=10, close_timeout=5, max_size=2**20)
            except websockets.InvalidStatusCode as e:  # e.g. 503 while a generation drains
                self.refused[e.status_code] += 1
                await asyncio.sleep(0.05)
                continue
            except (OSError, asyncio.TimeoutError, EOFError, websockets.InvalidHandshake) as e:
                self.refused[type(e).__name__] += 1
                await asyncio.sleep(0.1)
                continue
            self.connections += 1
            try:
                payload = {"since": self.last()} if self.last() else {}
                await self.ws.send(json.dumps({"type": "subscribe", "id": "f%d-%d" % (self.index, self.connections),
                                               "topic": TOPIC, "payload": payload}))
                while True:
                    self.handle(await self.ws.recv())
            except websockets.ConnectionClosed as e:
                if not self.stopping:
                    self.closes[e.rcvd.code if e.rcvd is not None else 1006] += 1
            finally:
                self.subscribed = False
                self.ws = None

    def handle(self, text):
        try:
            message = json.loads(text)
        except ValueError:
            self.problems.append("not JSON: %r" % text[:200])
            return
        kind = message.get("type")
        if kind == "subscribed":
            self.subscribed = True
        elif kind == "event":
            event_id = message.get("id", "")
            if self.event_ids and event_key(event_id) <= event_key(self.event_ids[-1]):
                self.problems.append("event %s after %s (repeated or out of order)" % (event_id, self.event_ids[-1]))
            self.event_ids.append(event_id)
            payload = message.get("payload") or {}
            self.kinds[payload.get("event")] += 1
            if payload.get("event") == "task.created":
                self.task_ids.append((payload.get("task") or {}).get("id"))
            if message.get("topic") != TOPIC:
                self.problems.append("event on topic %r" % message.get("topic"))
        elif kind == "error":
            self.problems.append("error: %s" % json.dumps(message.get("payload")))
        else:
            self.problems.append("unexpected message %s" % text[:200])

    async def stop(self):
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()


def parse_wrk(text):
    figures = {"requests": None, "rps": None, "socket_errors": None, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    if m:
        figures["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        figures["rps"] = float(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    figures["socket_errors"] = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        figures["non2xx"] = int(m.group(1))
    return figures


HIVE = None  # the running Hive: waits give up as soon as it has exited


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


async def scenario(args, hive, failures):
    port = hive.port
    followers = [Follower(i, port) for i in range(args.followers)]
    runners = [asyncio.create_task(f.run()) for f in followers]
    started = time.monotonic()
    if not await wait_until("%d followers subscribed" % args.followers,
                            lambda: all(f.subscribed for f in followers), 60):
        failures.append("followers not subscribed: %d of %d" % (sum(f.subscribed for f in followers), len(followers)))
    say("%d followers subscribed in %.1f s" % (sum(f.subscribed for f in followers), time.monotonic() - started))

    submitter = Submitter(port, args.rate, lambda n: {"type": "swap-e2e", "title": "task %d" % n, "payload": {"n": n}},
                          "swap-e2e")
    submitter.start()
    wrk_out = open(os.path.join(hive.workdir, "wrk.out"), "w+")
    wrk = subprocess.Popen(["wrk", "-t1", "-c%d" % args.wrk_connections, "-d%ds" % args.wrk_seconds,
                            "--timeout", "%ds" % args.wrk_timeout, "--latency",
                            "http://127.0.0.1:%d/health" % port], stdout=wrk_out, stderr=subprocess.STDOUT)
    swap_times = []
    swaps = 0
    try:
        # Every follower has an event to resume from before the first swap.
        if not await wait_until("every follower's first event", lambda: all(f.event_ids for f in followers), 30):
            failures.append("followers without an event before the first swap: %d" %
                            sum(not f.event_ids for f in followers))
        for k in range(args.swaps):
            # Load really runs between swaps: at least 0.5 s, some tasks created, and
            # every follower back (closed once per earlier swap, subscribed again).
            created_before = len(submitter.created)
            await asyncio.sleep(args.spacing)
            ready = await wait_until(
                "followers back and tasks created before swap %d" % (k + 1),
                lambda: (len(submitter.created) >= created_before + 5 and all(
                    f.subscribed and sum(f.closes.values()) >= k for f in followers)), 60)
            if not ready:
                lagging = [f.index for f in followers if not (f.subscribed and sum(f.closes.values()) >= k)]
                failures.append("before swap %d: %d followers not back (%s), %d tasks since the last swap" %
                                (k + 1, len(lagging), lagging[:10], len(submitter.created) - created_before))
                break
            if wrk.poll() is not None:
                failures.append("wrk ended before swap %d (raise --wrk-seconds)" % (k + 1))
                break
            t0 = time.monotonic()
            code, output = await asyncio.to_thread(hive.reload, "api")
            swap_times.append(time.monotonic() - t0)
            if code != 0:
                failures.append("swap %d: hive plugins reload api: %s: %s" % (k + 1, code, output))
                say("plugins status after the failed swap:\n" + await asyncio.to_thread(hive.plugin_status))
                break
            swaps += 1
            say("swap %d done in %.2f s; %d tasks so far" % (swaps, swap_times[-1], len(submitter.created)))
        # Load after the last swap too, and the followers back.
        created_before = len(submitter.created)
        await asyncio.sleep(args.spacing)
        await wait_until("followers back after the last swap",
                         lambda: len(submitter.created) >= created_before + 5 and all(
                             f.subscribed and sum(f.closes.values()) >= swaps for f in followers), 60)
    finally:
        if wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)  # wrk stops and prints its figures
        try:
            wrk.wait(30)
        except subprocess.TimeoutExpired:
            wrk.kill()
            wrk.wait()
        submitter.done.set()
        await asyncio.to_thread(submitter.join, 60)

    created = list(submitter.created)
    if submitter.failure:
        failures.append("submitter: " + submitter.failure)
    if created:
        last = created[-1]
        await wait_until("followers to receive the last task's event",
                         lambda: all(f.task_ids and f.task_ids[-1] == last for f in followers), 30)
    for f in followers:
        await f.stop()
    await asyncio.wait(runners, timeout=15)
    for r in runners:
        r.cancel()

    wrk_out.seek(0)
    wrk_text = wrk_out.read()
    say("wrk summary:\n" + wrk_text.rstrip())
    return followers, created, swaps, swap_times, parse_wrk(wrk_text), submitter.retries


def check(args, hive, failures, followers, created, swaps, swap_times, wrk, retries):
    if swaps != args.swaps:
        failures.append("only %d of %d swaps done" % (swaps, args.swaps))
    if not wrk["requests"]:
        failures.append("wrk made no request (or its output did not parse)")
    if any(wrk["socket_errors"]):
        failures.append("wrk socket errors: connect %d, read %d, write %d, timeout %d" % tuple(wrk["socket_errors"]))
    if wrk["non2xx"]:
        failures.append("wrk non-2xx responses: %d" % wrk["non2xx"])
    if not created:
        failures.append("no task was created")

    codes = collections.Counter()
    refused = collections.Counter()
    kinds = collections.Counter()
    wrong_closes = []
    wrong_events = []
    created_set = set(created)
    for f in followers:
        codes.update(f.closes)
        refused.update(f.refused)
        kinds.update(f.kinds)
        others = {code: n for code, n in f.closes.items() if code != 1001}
        if f.closes[1001] != swaps or others:
            wrong_closes.append("follower %d: %d x 1001 for %d swaps, other closes %s" %
                                (f.index, f.closes[1001], swaps, others))
        if f.task_ids != created:
            seen = collections.Counter(f.task_ids)
            missing = [t for t in created if t not in seen]
            repeated = [t for t, n in seen.items() if n > 1]
            unknown = [t for t in seen if t not in created_set]
            wrong_events.append("follower %d: %d events for %d tasks: %d missing, %d repeated, %d unknown%s" %
                                (f.index, len(f.task_ids), len(created), len(missing), len(repeated), len(unknown),
                                 "" if missing or repeated or unknown else ", order differs"))
        for problem in f.problems[:3]:
            wrong_events.append("follower %d: %s" % (f.index, problem))
    if wrong_closes:
        failures.append("%d followers with wrong closes; first: %s" % (len(wrong_closes), "; ".join(wrong_closes[:5])))
    if wrong_events:
        failures.append("%d follower event problems; first: %s" % (len(wrong_events), "; ".join(wrong_events[:5])))
    if set(kinds) - {"task.created"}:
        failures.append("events other than 'task.created' (no orchestrator runs): %s" % dict(kinds))

    generation = None
    try:
        status, health = Api(hive.port, attempts=1).request("GET", "/health", timeout=10)
        for plugin in (health or {}).get("plugins", []):
            if plugin.get("name") == "api":
                generation = plugin.get("generation")
    except (OSError, http.client.HTTPException, ValueError) as e:
        failures.append("GET /health after the swaps: %s" % e)
    if generation != swaps + 1:
        failures.append("api generation %s at the end, expected %d" % (generation, swaps + 1))

    say("summary: swaps %d; wrk %s requests, %s req/s, socket errors %s, non-2xx %d" %
        (swaps, wrk["requests"], wrk["rps"], wrk["socket_errors"], wrk["non2xx"]))
    say("summary: %d tasks created (submitter retries %s); %d followers, %d events each expected, kinds %s" %
        (len(created), dict(retries), len(followers), len(created), dict(kinds)))
    say("summary: closes by code %s; handshakes refused %s; connections %d" %
        (dict(sorted(codes.items())), dict(refused), sum(f.connections for f in followers)))
    if swap_times:
        say("summary: time per swap min %.2f s, median %.2f s, max %.2f s; api generation %s" %
            (min(swap_times), statistics.median(swap_times), max(swap_times), generation))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20, help="tasks submitted per second")
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds of load at least between swaps")
    parser.add_argument("--wrk-connections", type=int, default=20)
    parser.add_argument("--wrk-timeout", type=int, default=10,
                        help="seconds without a response that wrk counts as a timeout error (its default, 2, "
                             "is reached by plain CPU starvation on a loaded 2-core machine under ASan)")
    parser.add_argument("--wrk-seconds", type=int, default=600, help="upper bound; wrk is stopped after the swaps")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("api-swap: wrk not found (apt-get install wrk)")

    global HIVE
    workdir = tempfile.mkdtemp(prefix="hive-api-swap-")
    hive = HIVE = Hive(args, workdir)
    failures = []
    started = time.monotonic()
    try:
        hive.start()
        say("hive ready on port %d in %.1f s (work dir %s)" % (hive.port, time.monotonic() - started, workdir))
        results = asyncio.run(scenario(args, hive, failures))
        check(args, hive, failures, *results)
    finally:
        died = hive.process.poll() if hive.process else None
        code = hive.stop()
        if died is not None:
            failures.insert(0, "hive died during the test with status %s; see %s" % (died, hive.log.name))
        elif code != 0:
            failures.append("hive stopped with status %s; see %s" % (code, hive.log.name))
        report = hive.sanitizer_report() if hive.process else None
        if report:
            failures.insert(0, "sanitizer report in the hive log")
            say("sanitizer report in %s:\n%s" % (hive.log.name, report))
    say("took %.1f s" % (time.monotonic() - started))
    if failures:
        for failure in failures:
            say("FAIL:", failure)
        say("work dir kept:", workdir)
        return 1
    say("PASS")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
