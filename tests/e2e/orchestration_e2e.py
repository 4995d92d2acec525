#!/usr/bin/python3
"""End to end: a real `hive` process with the platform's plugins, real remote
agents (examples/agents/hive_agent.py) and process agents, tasks submitted
over HTTP. Checks that every task acknowledged with 201 reaches exactly one
terminal state, dependencies are respected, and, with --crashes N, that this
holds while the host is killed with SIGKILL N times and restarted. With
--retention finished tasks are deleted one second after they finish, one task a
transaction, the crashes all come while tasks are submitted, run and deleted,
and the counts of GET /api/v2/tasks/stats must come back to 0 once every task
is gone.

    orchestration_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins \
        [--store sqlite|postgres] [--bus local|redis] [--nodes N] [--tasks 1000]
        [--remote-agents 10] [--crashes 5] [--retention]

PostgreSQL: --store postgres reads HIVE_TEST_POSTGRES_URL (scripts/test-servers)
and uses a fresh schema; --bus redis reads HIVE_TEST_REDIS_URL. --nodes 2 runs
two hive processes sharing them: agents and submissions are spread over both,
and the claims must split between them with no task finished twice.
Exit status 0 when every check passed.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from e2e_http import Api, free_port, wait_ready

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")
CAPABILITIES = ["alpha", "beta", "gamma"]




def say(*parts):
    print("e2e:", *parts, flush=True)


class Hive:
    def __init__(self, args, workdir, port, index, schema):
        self.args = args
        self.workdir = os.path.join(workdir, "node%d" % index)
        os.makedirs(self.workdir, exist_ok=True)
        self.port = port
        self.index = index
        self.process = None
        self.config = os.path.join(self.workdir, "hive.yaml")
        self.log = open(os.path.join(self.workdir, "hive.log"), "ab")
        self.write_config(schema)

    def write_config(self, schema):
        store = "storage_sqlite:\n    config: {}\n"
        if self.args.store == "postgres":
            url = os.environ.get("HIVE_TEST_POSTGRES_URL")
            if not url:
                sys.exit("e2e: --store postgres needs HIVE_TEST_POSTGRES_URL (eval \"$(scripts/test-servers start)\")")
            store = "storage_postgres:\n    config:\n      url: %s\n      schema: %s\n" % (json.dumps(url), schema)
        bus = "{}"
        if self.args.bus == "redis":
            url = os.environ.get("HIVE_TEST_REDIS_URL")
            if not url:
                sys.exit("e2e: --bus redis needs HIVE_TEST_REDIS_URL (eval \"$(scripts/test-servers start)\")")
            bus = "\n      transport: redis\n      redis:\n        url: %s" % json.dumps(url)
        workspace = os.path.join(self.workdir, "workspace")
        script = 'task=$(cat); printf \'{"ok":true,"bytes":%s}\\n\' "${#task}"'
        if self.args.scenario == "poison":
            # A poison task makes the process crash, every time.
            script = 'task=$(cat); case "$task" in *poison*) kill -SEGV $$;; esac; echo \'{"ok":true}\''

        agents = ""
        for i in range(self.args.process_agents):
            agents += """
        - name: proc{i}
          command: ["/bin/sh", "-c", {script}]
          capabilities: [{capability}]
          workspace: {workspace}/proc{i}
          max_concurrency: 2
          timeout: 30s""".format(i=i, script=json.dumps(script.replace("$", "$$")), capability=CAPABILITIES[i % 2],
                                 workspace=workspace)
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
      access_log: false
  {store}  communication_engine:
    config: {bus}
  task_manager:
    config:
      retry_base: 100ms
      retry_max: 1s
      sweep_period: 200ms{retention}
  orchestrator:
    config:
      heartbeat_interval: 1s
      missed_heartbeats: 3
      sweep_period: 200ms
      open_for: 2s
      node: node{index}
  task_execution_engine:
    config:
      agents:{agents}
""".format(plugins=os.path.abspath(self.args.plugins), data=os.path.join(self.workdir, "data"),
           port=self.port, store=store, bus=bus, index=self.index, agents=agents or " []",
           retention="\n      retention: {keep: 1s, period: 1s, batch: 1}" if self.args.retention else ""))

    def start(self):
        self.process = subprocess.Popen([self.args.hive, "run", "-c", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_ready(self.process, self.port, self.log.name)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return self.process.returncode if self.process else 0


def start_agent(workdir, port, name, capabilities, concurrency=1):
    log = open(os.path.join(workdir, name + ".log"), "ab")
    return subprocess.Popen(
        ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % port, "--name", name,
         "--capabilities", capabilities, "--concurrency", str(concurrency)],
        stdout=log, stderr=subprocess.STDOUT)


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def sigstop_scenario(args):
    """A remote agent is SIGSTOPped past its heartbeats with a task in hand, then
    resumed: the task went to another agent and finished once; the stopped
    agent's late result is refused as stale."""
    workdir = tempfile.mkdtemp(prefix="hive-e2e-")
    os.chmod(workdir, 0o711)  # process agents' jobs run as the sandbox uid: it must reach the workspace
    hive = Hive(args, workdir, free_port(), 0, "e2e_" + uuid.uuid4().hex[:12])
    agents = []
    failures = []
    try:
        hive.start()
        api = Api(hive.port)
        stopped = start_agent(hive.workdir, hive.port, "stopped", "slow")
        agents.append(stopped)
        wait_for("the first agent", lambda: api.request("GET", "/api/v2/agents?status=idle")[1]["items"])
        status, task = api.request("POST", "/api/v2/tasks", {"type": "slow", "capabilities": ["slow"],
                                                            "payload": {"sleep_ms": 3000},
                                                            "timeout_seconds": 60, "max_attempts": 3})
        task_id = task["id"]
        first = wait_for("the assignment", lambda: api.request("GET", "/api/v2/tasks/" + task_id)[1]["agent"])
        say("task", task_id, "assigned to", first, "; SIGSTOP it")
        stopped.send_signal(signal.SIGSTOP)
        # Heartbeats: 1 s interval, 3 missed -> offline, and the task goes back.
        wait_for("the task to go back to the queue",
                 lambda: api.request("GET", "/api/v2/tasks/" + task_id)[1]["status"] == "pending", 20)
        agents.append(start_agent(hive.workdir, hive.port, "rescuer", "slow"))
        done = wait_for("the rescue", lambda: (lambda t: t if t["status"] == "succeeded" else None)(
            api.request("GET", "/api/v2/tasks/" + task_id)[1]), 30)
        say("finished by", done["agent"], "; SIGCONT the first agent")
        if done["agent"] == first:
            failures.append("the task was finished by the stopped agent")
        stopped.send_signal(signal.SIGCONT)
        late = wait_for("the late result to be refused",
                        lambda: api.request("GET", "/api/v2/tasks/" + task_id)[1]["stale_reports"] >= 1, 30)
        final = api.request("GET", "/api/v2/tasks/" + task_id)[1]
        if final["status"] != "succeeded" or final["agent"] != done["agent"] or final["result"] != done["result"]:
            failures.append("the late result changed the task: %r" % final)
        status, page = api.request("GET", "/api/v2/tasks/events?limit=10000")
        finishes = [e for e in page["items"] if e["type"] == "task.succeeded"]
        if len(finishes) != 1:
            failures.append("%d task.succeeded events, expected 1" % len(finishes))
        say("late result refused:", bool(late), "stale reports", final["stale_reports"])
    except AssertionError as error:
        failures.append(str(error))
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGCONT)
            agent.terminate()
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
        hive.stop()
    for failure in failures:
        say("FAIL:", failure)
    say("PASS" if not failures else "FAILED (%d); work directory %s" % (len(failures), workdir))
    if not failures:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


def poison_scenario(args):
    """A task whose process segfaults every time ends `dead` after its attempts;
    the process agent's circuit breaker opens; the host keeps serving, and the
    agent takes work again after the breaker's probe."""
    workdir = tempfile.mkdtemp(prefix="hive-e2e-")
    os.chmod(workdir, 0o711)  # process agents' jobs run as the sandbox uid: it must reach the workspace
    hive = Hive(args, workdir, free_port(), 0, "e2e_" + uuid.uuid4().hex[:12])
    failures = []
    try:
        hive.start()
        api = Api(hive.port)
        status, task = api.request("POST", "/api/v2/tasks", {"type": "poison", "capabilities": ["alpha"],
                                                            "payload": {"poison": True}, "max_attempts": 3})
        task_id = task["id"]
        dead = wait_for("the poison task to die", lambda: (lambda t: t if t["status"] == "dead" else None)(
            api.request("GET", "/api/v2/tasks/" + task_id)[1]), 60)
        say("poison task", dead["status"], "after", dead["attempts"], "attempts:", dead["error"])
        if dead["attempts"] != 3:
            failures.append("expected 3 attempts, saw %d" % dead["attempts"])
        agent = api.request("GET", "/api/v2/agents/process-proc0.node0")[1]
        say("agent breaker", agent["circuit_breaker"])
        if agent["circuit_breaker"]["state"] == "closed":
            failures.append("the breaker did not open after 3 crashes in a row")
        if api.request("GET", "/readyz")[0] != 200:
            failures.append("the host is not ready after the crashes")
        status, good = api.request("POST", "/api/v2/tasks", {"type": "fine", "capabilities": ["alpha"]})
        finished = wait_for("a normal task after the breaker's probe", lambda: (
            lambda t: t if t["status"] == "succeeded" else None)(api.request("GET", "/api/v2/tasks/" + good["id"])[1]),
            30)
        say("normal task", finished["status"], "on", finished["agent"])
        closed = api.request("GET", "/api/v2/agents/process-proc0.node0")[1]["circuit_breaker"]["state"]
        if closed != "closed":
            failures.append("the breaker is %s after a successful probe" % closed)
    except AssertionError as error:
        failures.append(str(error))
    finally:
        code = hive.stop()
        if code not in (0, None):
            failures.append("hive exited with %s" % code)
    for failure in failures:
        say("FAIL:", failure)
    say("PASS" if not failures else "FAILED (%d); work directory %s" % (len(failures), workdir))
    if not failures:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


TERMINAL = ("succeeded", "failed", "cancelled", "dead")
TERMINAL_EVENTS = tuple("task." + s for s in TERMINAL)


def terminal_events(api):
    """The task event log: how many terminal events each task has, and the task
    as its last terminal event shows it."""
    terminal, snapshots = {}, {}
    after = 0
    while True:
        status, page = api.request("GET", "/api/v2/tasks/events?after=%d&limit=10000" % after)
        if status != 200 or not page["items"]:
            break
        for event in page["items"]:
            if event["type"] in TERMINAL_EVENTS:
                task = event["data"]["task"]
                terminal[task["id"]] = terminal.get(task["id"], 0) + 1
                snapshots[task["id"]] = task
        after = page["last_id"]
    return terminal, snapshots


class Crashes:
    """SIGKILL and restart of a node, counting the kills of a hive that had
    deleted finished tasks since it started (its log says so)."""

    def __init__(self, hive):
        self.hive = hive
        self.at_start = 0
        self.deleting_kills = 0

    def deletes(self):
        with open(self.hive.log.name, "rb") as f:
            return f.read().count(b"retention: deleted ")

    def crash(self, api, why):
        deleted = self.deletes()
        if deleted > self.at_start:
            self.deleting_kills += 1
        say("SIGKILL hive", why, "(retention deleted tasks %d times since its start)" % (deleted - self.at_start))
        self.hive.kill()
        api.close()
        self.hive.start()
        self.at_start = self.deletes()


def check_retention(api, args, acknowledged, deleting_kills, failures):
    """With --retention, after the crashes: every finished task is deleted, and
    the counts by status (kept in the transactions that change them, deletes
    included) say so too; an Idempotency-Key goes with its task."""
    if args.crashes and deleting_kills == 0:
        failures.append("no SIGKILL came after retention had deleted tasks: the test proved nothing")
    say("kills of a hive that had deleted tasks:", deleting_kills)
    deadline = time.time() + 60
    while True:
        status, stats = api.request("GET", "/api/v2/tasks/stats")
        status_listed, listed = api.request("GET", "/api/v2/tasks?limit=1000")
        counted = sum(stats["by_status"].values()) if status == 200 else -1
        stored = len(listed["items"]) if status_listed == 200 else -1
        if (counted == 0 and stored == 0) or time.time() > deadline:
            break
        time.sleep(0.5)
    say("after retention: counts", json.dumps(stats.get("by_status")), "stored tasks", stored)
    if stored != 0:
        failures.append("%d finished tasks were not deleted within 60 s of the last" % stored)
    if any(n != 0 for n in stats["by_status"].values()):
        failures.append("counts by status %s, with %d tasks stored" % (json.dumps(stats["by_status"]), stored))
    # The key of a deleted task makes a new task.
    task_id, body = next(iter(acknowledged.items()))
    key = "e2e-%d" % body["payload"]["n"]
    status, task = api.request("POST", "/api/v2/tasks", body, {"Idempotency-Key": key})
    if status != 201 or task.get("id") == task_id:
        failures.append("the key of deleted task %s: HTTP %d %s (a new task expected)" % (task_id, status, task))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["load", "sigstop", "poison"], default="load")
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--bus", choices=["local", "redis"], default="local")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--remote-agents", type=int, default=10)
    parser.add_argument("--process-agents", type=int, default=2)
    parser.add_argument("--crashes", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--retention", action="store_true",
                        help="delete finished tasks after 1 s; crash while they are deleted")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.scenario == "sigstop":
        return sigstop_scenario(args)
    if args.scenario == "poison":
        return poison_scenario(args)

    if args.nodes > 1 and args.store != "postgres":
        sys.exit("e2e: several nodes need a shared store: --store postgres")
    workdir = tempfile.mkdtemp(prefix="hive-e2e-")
    os.chmod(workdir, 0o711)  # process agents' jobs run as the sandbox uid: it must reach the workspace
    schema = "e2e_" + uuid.uuid4().hex[:12]
    nodes = [Hive(args, workdir, free_port(), i, schema) for i in range(args.nodes)]
    hive = nodes[0]
    port = hive.port
    agents = []
    failures = []
    try:
        for node in nodes:
            node.start()
            say("hive node%d ready on port" % node.index, node.port, "store", args.store, "bus", args.bus)
        for i in range(args.remote_agents):
            capabilities = ",".join(sorted({CAPABILITIES[i % 3], CAPABILITIES[(i + 1) % 3]}))
            log = open(os.path.join(workdir, "agent%d.log" % i), "ab")
            agents.append(subprocess.Popen(
                ["/usr/bin/python3", AGENT, "--url",
                 "ws://127.0.0.1:%d/api/v2/agents/connect" % nodes[i % len(nodes)].port,
                 "--name", "remote%d" % i, "--capabilities", capabilities, "--concurrency", "4"],
                stdout=log, stderr=subprocess.STDOUT))

        apis = [Api(node.port) for node in nodes]
        api = apis[0]
        rng = random.Random(7)
        acknowledged = {}  # id -> submission
        # Half the crashes while tasks are being submitted, the rest while they run
        # (all of them, with --retention: while tasks are submitted, run, and the
        # finished ones are deleted, from the first fifth of the submissions on).
        during = args.crashes if args.retention else (args.crashes + 1) // 2
        first = args.tasks // 5 if args.retention else args.tasks // 10
        crash_at = sorted(rng.sample(range(first, args.tasks), during)) if during else []
        crashes = Crashes(hive)
        later = [rng.uniform(0.5, 6.0) for _ in range(args.crashes - during)]
        submitted_ids = []
        started = time.time()
        for n in range(args.tasks):
            body = {"type": "e2e", "title": "task %d" % n, "priority": rng.randint(1, 10),
                    "capabilities": [CAPABILITIES[n % 3]], "payload": {"n": n, "sleep_ms": rng.randint(0, 20)},
                    "timeout_seconds": 10, "max_attempts": 10}
            if n % 10 == 9 and submitted_ids:
                body["depends_on"] = [submitted_ids[-1]]
            key = "e2e-%d" % n
            while True:
                if crash_at and n == crash_at[0]:
                    crash_at.pop(0)
                    crashes.crash(api, "at task %d" % n)
                try:
                    status, task = apis[n % len(apis)].request("POST", "/api/v2/tasks", body,
                                                               {"Idempotency-Key": key})
                except (OSError, http.client.HTTPException):
                    time.sleep(0.2)
                    continue
                if status in (200, 201):
                    acknowledged[task["id"]] = body
                    submitted_ids.append(task["id"])
                    break
                if status >= 500:
                    time.sleep(0.2)
                    continue
                failures.append("submission %d: HTTP %d %s" % (n, status, task))
                break
        say("submitted", len(acknowledged), "tasks in %.1f s" % (time.time() - started))

        # Wait for every task to finish.
        deadline = time.time() + args.timeout
        last = None
        waiting_since = time.time()
        while time.time() < deadline:
            if later and time.time() - waiting_since >= later[0]:
                later.pop(0)
                crashes.crash(api, "while tasks run")
                waiting_since = time.time()
            try:
                status, stats = api.request("GET", "/api/v2/tasks/stats")
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
                continue
            by = stats["by_status"]
            done = sum(by.get(s, 0) for s in TERMINAL)
            if by != last:
                say("status", json.dumps(by))
                last = by
            if args.retention:
                # Finished tasks go: done once nothing is left to run.
                if sum(n for s, n in by.items() if s not in TERMINAL) == 0:
                    break
            elif done >= len(acknowledged):
                break
            time.sleep(0.5)
        say("finished in %.1f s" % (time.time() - started))
        if args.retention:
            check_retention(api, args, acknowledged, crashes.deleting_kills, failures)

        # Every acknowledged task: one terminal state, succeeded, dependencies first.
        # A task retention deleted is checked as its terminal event shows it.
        terminal, snapshots = terminal_events(api)
        tasks = {}
        for task_id in acknowledged:
            status, task = api.request("GET", "/api/v2/tasks/" + task_id)
            if status == 404 and args.retention and task_id in snapshots:
                task = snapshots[task_id]
            elif status != 200:
                failures.append("task %s: HTTP %d" % (task_id, status))
                continue
            tasks[task_id] = task
        not_done = [t for t in tasks.values() if t["status"] != "succeeded"]
        for t in not_done[:10]:
            failures.append("task %s is %s (%s)" % (t["id"], t["status"], t.get("error")))
        if len(not_done) > 10:
            failures.append("... and %d more not succeeded" % (len(not_done) - 10))
        for t in tasks.values():
            for dependency in t.get("depends_on", []):
                d = tasks.get(dependency)
                started, finished = t.get("started_at_ms", 0), d.get("finished_at_ms", 0) if d else 0
                if started and finished and started < finished:
                    failures.append("task %s started before its dependency %s finished" % (t["id"], dependency))
        twice = [t for t, count in terminal.items() if count > 1]
        if twice:
            failures.append("%d tasks reached a terminal state more than once: %s" % (len(twice), twice[:5]))
        missing = [t for t in acknowledged if terminal.get(t, 0) == 0]
        if missing:
            failures.append("%d acknowledged tasks have no terminal event: %s" % (len(missing), missing[:5]))
        if args.nodes > 1:
            # Which node served each task: the node its agent is connected to.
            status, listed = api.request("GET", "/api/v2/agents")
            node_of = {a["id"]: a["node"] for a in listed["items"]}
            per_node = {}
            for t in tasks.values():
                node = node_of.get(t.get("agent", ""), "?")
                per_node[node] = per_node.get(node, 0) + 1
            say("tasks per node", json.dumps(per_node, sort_keys=True))
            for node in nodes:
                if per_node.get("node%d" % node.index, 0) == 0:
                    failures.append("node%d's agents ran no task: claims did not split" % node.index)
        by_agent = {}
        for t in tasks.values():
            by_agent[t.get("agent", "")] = by_agent.get(t.get("agent", ""), 0) + 1
        say("tasks per agent", json.dumps(by_agent, sort_keys=True))
        process_done = sum(v for k, v in by_agent.items() if k.startswith("process-"))
        if args.process_agents and process_done == 0:
            failures.append("no task ran on a process agent")
        remote_done = sum(v for k, v in by_agent.items() if k.startswith("a"))
        if args.nodes > 1 and by_agent.get("", 0):
            failures.append("%d tasks have no agent" % by_agent[""])
        if args.remote_agents and remote_done == 0:
            failures.append("no task ran on a remote agent")
        # Priorities: among tasks that waited, higher priority started sooner on average.
        def mean_wait(lo, hi):
            waits = [t["started_at_ms"] - t["created_at_ms"] for t in tasks.values()
                     if lo <= t.get("priority", 5) <= hi and t.get("started_at_ms") and not t.get("depends_on")]
            return sum(waits) / len(waits) if waits else 0
        say("mean wait ms: priority 8-10 %.0f, priority 1-3 %.0f" % (mean_wait(8, 10), mean_wait(1, 3)))
    finally:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
        for node in nodes:
            code = node.stop()
            if code not in (0, None):
                failures.append("hive node%d exited with %s at SIGTERM" % (node.index, code))
        if failures or args.keep:
            say("work directory kept:", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for failure in failures:
        say("FAIL:", failure)
    say("PASS" if not failures else "FAILED (%d)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
