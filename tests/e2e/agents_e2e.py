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
    def __init__(self, args, workdir, api_extra="", orchestrator_extra="", agents=""):
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
    config: {{retry_base: 100ms, retry_max: 1s, sweep_period: 200ms}}
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
           api_extra=api_extra, sandbox=args.sandbox, orchestrator_extra=orchestrator_extra, agents=agents or " []"))
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


def slow_scenario(args, workdir, failures):
    raise AssertionError("not written yet")


if __name__ == "__main__":
    sys.exit(main())
