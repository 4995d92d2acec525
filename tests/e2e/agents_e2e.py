#!/usr/bin/python3
"""End to end, agents under control: a real `hive` (api, storage_sqlite,
communication_engine, task_manager, orchestrator, task_execution_engine),
real agents, real processes.

    agents_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins --scenario cancel|slow
                  [--sandbox auto|bubblewrap|rlimits]

cancel: a running task of a process agent whose command leaves a grandchild
  that did setsid() and a double fork, and a running task of a remote agent
  (examples/agents/hive_agent.py running a command) are cancelled over HTTP.
  Every process of both trees is gone from /proc, the remote agent logged the
  task.cancel it received, and each task ends `cancelled` with exactly one
  task.cancelled event and no later transition.
slow: a remote agent (a raw WebSocket client) stops reading while tasks keep
  coming. Its connection is not closed; assignments stop going to it once its
  send queue is full, the tasks it could not be sent go to another agent, and
  when it reads again it gets every frame that was queued for it, in order,
  and is given tasks again.
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from e2e_http import Api, free_port, wait_ready

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")


def say(*parts):
    print("agents_e2e:", *parts, flush=True)


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def processes_running(argv_prefix):
    """Host pids whose command line starts with `argv_prefix` (NUL-separated argv)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if cmdline.startswith(argv_prefix):
            found.append(int(name))
    return found


class Hive:
    def __init__(self, args, workdir, api_extra="", orchestrator_extra="", agents="", claim_lease="30s"):
        self.args = args
        self.workdir = workdir
        self.port = free_port()
        self.config = os.path.join(workdir, "hive.yaml")
        self.log_path = os.path.join(workdir, "hive.log")
        self.log = open(self.log_path, "ab")
        with open(self.config, "w") as f:
            f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: ""
  drain_deadline: 10s
  log_level: info
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false{api_extra}
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{retry_base: 100ms, retry_max: 1s, sweep_period: 200ms, claim_lease: {claim_lease}}}
  orchestrator:
    config:
      heartbeat_interval: 1s
      missed_heartbeats: 30
      sweep_period: 200ms{orchestrator_extra}
  task_execution_engine:
    config:
      sandbox: {sandbox}
      agents:{agents}
""".format(plugins=os.path.abspath(args.plugins), data=os.path.join(workdir, "data"), port=self.port,
           api_extra=api_extra, sandbox=args.sandbox, claim_lease=claim_lease, orchestrator_extra=orchestrator_extra, agents=agents or " []"))
        self.process = subprocess.Popen([args.hive, "run", "-c", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_ready(self.process, self.port, self.log_path, "agents_e2e")
        self.api = Api(self.port)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def task(self, task_id):
        return self.api.request("GET", "/api/v2/tasks/" + task_id)[1]

    def events_of(self, task_id):
        items = self.api.request("GET", "/api/v2/tasks/events?limit=10000")[1]["items"]
        return [e["type"] for e in items
                if (e["data"].get("task") or {}).get("id", e["data"].get("task_id")) == task_id]

    def submit(self, body):
        status, task = self.api.request("POST", "/api/v2/tasks", body)
        assert status == 201, (status, task)
        return task["id"]


def check_cancelled_once(hive, task_id, failures, who):
    # A few sweeps of both plugins pass: nothing may move the task again.
    time.sleep(1.0)
    task = hive.task(task_id)
    events = hive.events_of(task_id)
    after = events[events.index("task.cancelled") + 1:] if "task.cancelled" in events else events
    say(who, "task", task_id, "status", task["status"], "events", events)
    if task["status"] != "cancelled":
        failures.append("%s: task ended %s, not cancelled" % (who, task["status"]))
    if events.count("task.cancelled") != 1:
        failures.append("%s: %d task.cancelled events" % (who, events.count("task.cancelled")))
    moved = [e for e in after if e != "task.stale_report"]
    if moved:
        failures.append("%s: transitions after the cancellation: %r" % (who, moved))


def cancel_scenario(args, workdir, failures):
    marker = "%d.%04d" % (900 + random.randrange(90), random.randrange(10000))  # a sleep no one else runs
    # The job's own sleep, and a grandchild that left its session and was
    # orphaned by a double fork: both must die with the cancellation.
    script = ("setsid sh -c '(exec sleep %s) & exit 0'; "
              "exec sleep %s" % (marker, marker))
    agents = """
        - name: tree
          command: ["/bin/sh", "-c", {script}]
          capabilities: [tree]
          workspace: {workspace}
          max_concurrency: 1
          timeout: 120s""".format(script=json.dumps(script.replace("$", "$$")),
                                  workspace=os.path.join(workdir, "workspace"))
    hive = Hive(args, workdir, agents=agents)
    remote = None
    try:
        with open(hive.log_path, "rb") as f:
            sandbox = [line for line in f.read().decode(errors="replace").splitlines() if "sandbox" in line]
        say("sandbox:", sandbox[-1] if sandbox else "?")
        prefix = b"sleep\0" + marker.encode() + b"\0"

        # Process agent.
        tree = hive.submit({"type": "tree", "capabilities": ["tree"], "timeout_seconds": 120})
        wait_for("the job's tree (2 sleeps)", lambda: len(processes_running(prefix)) == 2)
        wait_for("the task running", lambda: hive.task(tree)["status"] == "running")
        say("process agent task", tree, "running; tree pids", processes_running(prefix))
        status, body = hive.api.request("POST", "/api/v2/tasks/%s/cancel" % tree)
        if status != 200:
            failures.append("cancel answered %d %r" % (status, body))
        try:
            wait_for("the whole tree to die", lambda: not processes_running(prefix), 10)
            say("process agent: no process of the tree is left")
        except AssertionError as error:
            failures.append("process agent: %s; left: %r" % (error, processes_running(prefix)))
        check_cancelled_once(hive, tree, failures, "process agent")
        # Its slot is free again: the next task runs.
        again = hive.submit({"type": "tree", "capabilities": ["tree"], "timeout_seconds": 120})
        wait_for("the next task on the freed process agent", lambda: hive.task(again)["status"] == "running")
        hive.api.request("POST", "/api/v2/tasks/%s/cancel" % again)
        wait_for("the second tree to die", lambda: not processes_running(prefix), 10)

        # Remote agent.
        remote_marker = marker + "1"
        remote_log = os.path.join(workdir, "remote.log")
        remote = subprocess.Popen(
            ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
             "--name", "remote", "--capabilities", "remote", "--allow-commands"],
            stdout=open(remote_log, "ab"), stderr=subprocess.STDOUT)
        remote_prefix = b"sleep\0" + remote_marker.encode() + b"\0"
        work = hive.submit({"type": "remote", "capabilities": ["remote"], "timeout_seconds": 120,
                            "payload": {"command": ["sleep", remote_marker]}})
        wait_for("the remote agent's command", lambda: processes_running(remote_prefix), 30)
        wait_for("the remote task running", lambda: hive.task(work)["status"] == "running")
        status, body = hive.api.request("POST", "/api/v2/tasks/%s/cancel" % work)
        if status != 200:
            failures.append("cancel answered %d %r" % (status, body))
        try:
            wait_for("the remote agent to log task.cancel",
                     lambda: ("task %s cancelled" % work) in open(remote_log).read(), 10)
            wait_for("the remote agent's command to die", lambda: not processes_running(remote_prefix), 10)
            say("remote agent: got task.cancel, its command is gone")
        except AssertionError as error:
            failures.append("remote agent: %s" % error)
        check_cancelled_once(hive, work, failures, "remote agent")
        agent = hive.api.request("GET", "/api/v2/agents?capability=remote")[1]["items"][0]
        if agent["in_flight"]:
            failures.append("the remote agent still holds %r" % agent["in_flight"])
    finally:
        if remote is not None:
            remote.terminate()
            remote.wait(10)
        hive.stop()
    leftovers = processes_running(b"sleep\0" + marker.encode())
    if leftovers:
        failures.append("processes left after the test: %r" % leftovers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--scenario", choices=["cancel", "slow"], required=True)
    parser.add_argument("--sandbox", choices=["auto", "bubblewrap", "rlimits"], default="auto",
                        help="task_execution_engine's sandbox for the process agent")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-agents-e2e-")
    os.chmod(workdir, 0o711)  # process agents' jobs run as the sandbox uid: it must reach the workspace
    failures = []
    try:
        {"cancel": cancel_scenario, "slow": slow_scenario}[args.scenario](args, workdir, failures)
    except AssertionError as error:
        failures.append(str(error))
    for failure in failures:
        say("FAILED:", failure)
    if failures:
        say("work directory kept:", workdir)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    say("passed")
    return 0


class RawAgent:
    """A remote agent on a bare socket, so that it can stop reading for real:
    a tiny receive buffer, frames written and read by hand (RFC 6455)."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        self.sock.sendall(("GET /api/v2/agents/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: hive.agent.v1\r\n\r\n" % key).encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, message):
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            header += bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + len(data).to_bytes(8, "big")
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise AssertionError("the server closed the slow agent's connection")
            self.buffer += chunk

    def read(self):
        """One message: frames until FIN (the server may fragment a large one)."""
        data = b""
        while True:
            fin, opcode, payload = self._frame()
            if opcode == 8:
                raise AssertionError("close frame: %r" % payload)
            data += payload
            if fin:
                return json.loads(data)

    def _frame(self):
        self._need(2)
        fin = bool(self.buffer[0] & 0x80)
        opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
        offset = 2
        if length == 126:
            self._need(4)
            length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
        elif length == 127:
            self._need(10)
            length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
        self._need(offset + length)
        payload, self.buffer = self.buffer[offset:offset + length], self.buffer[offset + length:]
        return fin, opcode, payload


def slow_scenario(args, workdir, failures):
    tasks = 100
    # The slow agent holds its assignments, unanswered, while the reader does
    # the rest (about 40 s on the ASan build): neither the orchestrator's
    # claim window nor task_manager's claim lease may run out meanwhile.
    hive = Hive(args, workdir,
                api_extra="\n      websocket: {route_send_queue: 4}",
                orchestrator_extra="\n      claim_window: 120s\n      max_unacknowledged: 64", claim_lease="120s")
    reader = None
    try:
        slow = RawAgent(hive.port)
        slow.send({"type": "hello", "name": "slow", "capabilities": ["slow"], "max_concurrency": 100})
        welcome = slow.read()
        assert welcome["type"] == "welcome", welcome
        slow_id = welcome["agent_id"]
        # From here the slow agent reads nothing; it only sends heartbeats.
        padding = "x" * (200 * 1024)
        ids = [hive.submit({"type": "big", "capabilities": ["slow"], "payload": {"pad": padding}})
               for _ in range(tasks)]

        def held():
            return len(hive.api.request("GET", "/api/v2/agents/" + slow_id)[1]["in_flight"])
        last, stable_since = -1, time.time()
        while time.time() - stable_since < 2:
            slow.send({"type": "heartbeat"})
            now = held()
            if now != last:
                last, stable_since = now, time.time()
            time.sleep(0.2)
        say("the slow agent holds", last, "of", tasks, "tasks and reads nothing")
        if not 0 < last < 64:
            failures.append("the slow agent holds %d tasks: its send queue did not stop the assignments "
                            "(max_unacknowledged 64 would have)" % last)
        # Another agent, which reads, takes the rest.
        reader = subprocess.Popen(
            ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
             "--name", "reader", "--capabilities", "slow", "--concurrency", "8"],
            stdout=open(os.path.join(workdir, "reader.log"), "ab"), stderr=subprocess.STDOUT)

        def finished():
            slow.send({"type": "heartbeat"})
            return sum(1 for i in ids if hive.task(i)["status"] == "succeeded")
        wait_for("the reader to finish the other tasks", lambda: finished() >= tasks - last, 60)
        shown = hive.api.request("GET", "/api/v2/agents/" + slow_id)[1]
        if shown["status"] == "offline":
            failures.append("the slow agent was dropped: %r" % shown)
        # It reads again: every frame that waited arrives, in order, and it finishes its tasks.
        assigned = []
        while len(assigned) < last:
            message = slow.read()
            if message["type"] == "task.assign":
                assigned.append(message)
                slow.send({"type": "task.accept", "task_id": message["task"]["id"],
                           "lease_token": message["lease_token"]})
                slow.send({"type": "task.result", "task_id": message["task"]["id"],
                           "lease_token": message["lease_token"], "status": "succeeded", "result": {"by": "slow"}})
        say("the slow agent read", len(assigned), "assignments after it resumed")
        wait_for("every task to succeed", lambda: finished() == tasks, 60)
        events = hive.api.request("GET", "/api/v2/tasks/events?limit=10000")[1]["items"]
        succeeded = [e["data"]["task"]["id"] for e in events if e["type"] == "task.succeeded"]
        if sorted(succeeded) != sorted(ids):
            failures.append("tasks did not succeed exactly once each")
        by_slow = sum(1 for i in ids if hive.task(i)["agent"] == slow_id)
        say("tasks finished by the slow agent:", by_slow, "by the reader:", tasks - by_slow)
        if by_slow != last:
            failures.append("the slow agent finished %d tasks, it held %d" % (by_slow, last))
        with open(hive.log_path) as f:
            log = f.read()
        if "slow consumer" in log or "not reading its messages" in log:
            failures.append("the slow agent's connection was closed")
    finally:
        if reader is not None:
            reader.terminate()
            reader.wait(10)
        hive.stop()


if __name__ == "__main__":
    sys.exit(main())
