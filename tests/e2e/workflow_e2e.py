#!/usr/bin/python3
"""End to end: workflows in the real `hive` with the real task_manager,
orchestrator and a real remote agent (examples/agents/hive_agent.py, which
echoes its payload as its result).

  --scenario diamond  the issue's smallest diamond is accepted as is and runs to
                      success; then a diamond whose payloads reference earlier
                      results (${steps.a.result...}) carries them through, and
                      its transitions reach a WebSocket client of /api/v2/ws.
  --scenario crash    a 3-layer fan-out of parallel steps while hive is killed
                      with SIGKILL --crashes times and restarted: the run
                      completes, and task_manager holds exactly one task per
                      step (none was submitted twice).
  --scenario swap     the same run through --swaps hot swaps of workflow_engine
                      (POST /api/v2/admin/plugins/workflow_engine/reload): it
                      completes, exactly one task per step.
  --scenario cli      `hive workflow apply FILE` (and start, run --follow, runs,
                      list) against the real hive: a YAML
                      file with mistakes is refused with FILE:LINE:COL of each
                      (locally, and for what only the server knows: an unknown
                      sub-workflow), nothing registered; a good one registered,
                      then unchanged; `start --param`, `runs` and `list`.
  --scenario nodes    two hives on one PostgreSQL database, each ticking the
                      schedules every 200 ms: a schedule firing every second
                      for --seconds starts exactly one run per fire (each fire
                      time once, none missing between the first and the last),
                      and a task schedule submits exactly one task per fire.
  --scenario child    a sub-workflow step whose run (4 chained steps) is
                      interrupted by 2 SIGKILLs of hive: one child run, one
                      task per child step, its outputs in the parent's next
                      payload.
  --scenario map      a map step over --items items (from an earlier step's
                      result), 4 at a time, while hive is killed with SIGKILL
                      --crashes times: the map succeeds with every item's
                      result in order, and task_manager holds exactly one task
                      per item (none run twice once it succeeded, none lost).
"""
import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, HiveProcess, free_port, wait_ready  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")

DIAMOND = {"name": "diamond",
           "steps": [
               {"name": "a", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": 1}}},
               {"name": "b", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"]}},
               {"name": "c", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"]}},
               {"name": "d", "depends_on": ["b", "c"], "task": {"type": "echo", "capabilities": ["shell"]}}]}

FLOW = {"name": "flow",
        "params": {"files": {"type": "array", "default": ["main.c"]}},
        "steps": [
            {"name": "plan", "task": {"type": "echo", "capabilities": ["shell"],
                                      "payload": {"files": "${params.files}", "n": 1}}},
            {"name": "left", "depends_on": ["plan"], "task": {"type": "echo", "capabilities": ["shell"],
                                                              "payload": {"files": "${steps.plan.result.echo.files}"}}},
            {"name": "right", "depends_on": ["plan"], "when": "steps.plan.result.echo.n == 1",
             "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": "${steps.plan.result.echo.n}"}}},
            {"name": "never", "depends_on": ["plan"], "when": "steps.plan.result.echo.n > 1",
             "task": {"type": "echo", "capabilities": ["shell"]}},
            {"name": "merge", "depends_on": ["left", "right"], "task": {
                "type": "echo", "capabilities": ["shell"],
                "payload": {"left": "${steps.left.result.echo}", "right": "${steps.right.result.echo.n}",
                            "note": "merged by ${steps.left.result.agent}"}}}],
        "outputs": {"merged": "${steps.merge.result.echo}"}}


def say(*parts):
    print("workflow_e2e:", *parts, flush=True)


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, KeyError, TypeError):
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class Hive:
    def __init__(self, args, workdir):
        self.args = args
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
      access_log: false
      limits: {{body_bytes: {max_definition_bytes}}}
  storage_sqlite:
    config: {{max_document_bytes: {max_document_bytes}}}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{retry_base: 100ms, retry_max: 1s, sweep_period: 200ms, claim_lease: 2s}}
  orchestrator:
    config:
      heartbeat_interval: 1s
      missed_heartbeats: 3
      sweep_period: 200ms
  task_execution_engine:
    config:
      agents: []
  workflow_engine:
    config:
      reconcile_period: 500ms
      max_map_items: {max_map_items}
      max_steps: {max_steps}
      max_definition_bytes: {max_definition_bytes}
""".format(plugins=os.path.abspath(args.plugins), data=os.path.join(workdir, "data"), port=self.port,
           max_map_items=getattr(args, "max_map_items", 1000), max_steps=getattr(args, "max_steps", 1000),
           max_document_bytes=getattr(args, "max_document_bytes", 1 << 20),
           max_definition_bytes=getattr(args, "max_definition_bytes", 1 << 20)))
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen([self.args.hive, "run", "-c", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_ready(self.process, self.port, self.log_path, "workflow_e2e")
        self.api = Api(self.port, attempts=3)

    def kill(self):
        self.api.close()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request(self, method, path, body=None, expect=None):
        status, answer = self.api.request(method, path, body)
        if expect is not None and status != expect:
            raise AssertionError("%s %s answered %d: %r" % (method, path, status, answer))
        return answer


def start_agent(hive, workdir, name):
    return subprocess.Popen(
        ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
         "--name", name, "--capabilities", "shell", "--concurrency", "8",
         "--state-file", os.path.join(workdir, name + ".state")],
        stdout=open(os.path.join(workdir, name + ".log"), "ab"), stderr=subprocess.STDOUT)


async def follow(port, topic, events, ready):
    import websockets
    async with websockets.connect("ws://127.0.0.1:%d/api/v2/ws" % port, subprotocols=["hive.v1"]) as socket:
        await socket.send(json.dumps({"type": "subscribe", "id": "1", "topic": topic}))
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == "subscribed":
                ready.set()
            elif message["type"] == "event":
                events.append(message["payload"])
                if message["payload"].get("event", "").startswith("workflow.run.") and \
                        message["payload"]["run"]["status"] != "running":
                    return


def diamond_scenario(args, workdir, failures):
    hive = Hive(args, workdir)
    agent = start_agent(hive, workdir, "py-1")
    try:
        created = hive.request("POST", "/api/v2/workflows", DIAMOND, expect=201)
        say("diamond applied as version", created["version"])
        run = hive.request("POST", "/api/v2/workflows/diamond/runs", {"params": {}}, expect=201)
        path = "/api/v2/workflows/diamond/runs/" + run["id"]
        wait_for("the diamond to finish", lambda: hive.request("GET", path)["status"] != "running")
        run = hive.request("GET", path, expect=200)
        say("diamond:", run["status"], [(s["name"], s["status"], s["task_id"]) for s in run["steps"]])
        if run["status"] != "succeeded":
            failures.append("the diamond ended %s: %r" % (run["status"], run))
        if len({s["task_id"] for s in run["steps"]}) != 4:
            failures.append("the diamond's steps do not have 4 different tasks")

        hive.request("POST", "/api/v2/workflows", FLOW, expect=201)
        events = []

        async def scenario():
            ready = asyncio.Event()
            follower = asyncio.create_task(follow(hive.port, "workflows", events, ready))
            await asyncio.wait_for(ready.wait(), 10)
            started = await asyncio.get_running_loop().run_in_executor(
                None, lambda: hive.request("POST", "/api/v2/workflows/flow/runs",
                                           {"params": {"files": ["x.c", "y.c"]}}, expect=201))
            await asyncio.wait_for(follower, 60)
            return started

        started = asyncio.run(scenario())
        flow = hive.request("GET", "/api/v2/workflows/runs/" + started["id"], expect=200)
        steps = {s["name"]: s for s in flow["steps"]}
        say("flow:", flow["status"], {name: s["status"] for name, s in steps.items()})
        expected = {"plan": "succeeded", "left": "succeeded", "right": "succeeded", "never": "skipped",
                    "merge": "succeeded"}
        if flow["status"] != "succeeded" or {n: s["status"] for n, s in steps.items()} != expected:
            failures.append("flow ended %s with %r" % (flow["status"], steps))
        merged = (steps["merge"].get("result") or {}).get("echo")
        want = {"left": {"files": ["x.c", "y.c"]}, "right": 1, "note": "merged by py-1"}
        if merged != want:
            failures.append("merge's payload was %r, expected %r" % (merged, want))
        if flow.get("outputs") != {"merged": want}:
            failures.append("outputs were %r" % flow.get("outputs"))
        names = [e["event"] + ("/" + e["step"]["name"] if "step" in e else "") for e in events
                 if e.get("run", {}).get("id") == started["id"]]
        say("WebSocket events:", names)
        for needed in ["workflow.run.running", "workflow.step.running/plan", "workflow.step.succeeded/merge",
                       "workflow.step.skipped/never", "workflow.run.succeeded"]:
            if needed not in names:
                failures.append("the WebSocket did not see %s" % needed)
    finally:
        agent.terminate()
        agent.wait(10)
        hive.stop()


def fan_out(width, layers, sleep_ms):
    steps = [{"name": "start", "task": {"type": "wfstep", "capabilities": ["shell"], "payload": {"n": 0}}}]
    previous = ["start"]
    for layer in range(layers):
        current = []
        for i in range(width):
            name = "l%d-%d" % (layer, i)
            steps.append({"name": name, "depends_on": previous if layer == 0 else [previous[i]],
                          "task": {"type": "wfstep", "capabilities": ["shell"], "retries": 5,
                                   "payload": {"sleep_ms": sleep_ms, "from": "${steps.%s.result.echo}" % (
                                       "start" if layer == 0 else previous[i])}}})
            current.append(name)
        previous = current
    steps.append({"name": "end", "depends_on": previous,
                  "task": {"type": "wfstep", "capabilities": ["shell"], "payload": {"n": 1}}})
    return {"name": "fan", "steps": steps}


def crash_scenario(args, workdir, failures):
    def crash(hive):
        hive.kill()
        hive.start()
    interrupted_run(args, workdir, failures, "crash", args.crashes, "SIGKILL and restart", crash)


def swap_scenario(args, workdir, failures):
    def swap(hive):
        # The synchronous reload: it answers once the new generation serves.
        # Admin routes want the api's local token (no auth provider runs here).
        with open(os.path.join(workdir, "data", "api", "local_token")) as f:
            admin = Api(hive.port, attempts=1, token=f.read().strip())
        started = time.monotonic()
        status, answer = admin.request("POST", "/api/v2/admin/plugins/workflow_engine/reload")
        admin.close()
        if status != 200:
            raise AssertionError("the reload answered %d: %r" % (status, answer))
        with open(hive.log_path, errors="replace") as f:
            errors = [line.rstrip() for line in f if " error " in line]
        if errors:
            raise AssertionError("hive logged errors around the swap: %s" % "\n".join(errors[:20]))
        say("  swapped in %.2f s" % (time.monotonic() - started))
    interrupted_run(args, workdir, failures, "swap", args.swaps, "hot swap of workflow_engine", swap)


def interrupted_run(args, workdir, failures, what, times, how, interrupt):
    """A fan-out run interrupted `times` times by `interrupt(hive)`: it must
    succeed with exactly one task per step."""
    hive = Hive(args, workdir)
    agent = start_agent(hive, workdir, "py-" + what)
    definition = fan_out(args.width, args.layers, args.sleep_ms)
    try:
        hive.request("POST", "/api/v2/workflows", definition, expect=201)
        run = hive.request("POST", "/api/v2/workflows/fan/runs", {}, expect=201)
        path = "/api/v2/workflows/runs/" + run["id"]
        done_before = 0
        for n in range(1, times + 1):
            # Each interruption lands later in the run than the one before:
            # after more steps succeeded, at a random moment of a step's work.
            def progressed():
                state = hive.request("GET", path)
                return sum(1 for s in state["steps"] if s["status"] == "succeeded") > done_before
            wait_for("progress before %s %d" % (what, n), progressed, 60)
            time.sleep(random.uniform(0.1, 1.0))
            state = hive.request("GET", path)
            if state["status"] != "running":
                failures.append("the run finished before %s %d: make it longer (--layers, --sleep-ms)" % (what, n))
                break
            done_before = sum(1 for s in state["steps"] if s["status"] == "succeeded")
            say("%s %d: %s with %d of %d steps succeeded" % (what, n, how, done_before, len(state["steps"])))
            interrupt(hive)
        wait_for("the run to finish", lambda: hive.request("GET", path)["status"] != "running", 120)
        state = hive.request("GET", path, expect=200)
        say("run", state["status"], "with", len(state["steps"]), "steps")
        if state["status"] != "succeeded":
            failures.append("the run ended %s: %s" % (state["status"], state.get("error")))
        # Every task of this run, by title: one per step.
        titles = count_tasks(hive, "wfstep")
        twice = {title: count for title, count in titles.items() if count != 1}
        say("tasks:", len(titles), "distinct titles,", sum(titles.values()), "tasks")
        if twice:
            failures.append("steps submitted more than once: %r" % twice)
        if len(titles) != len(definition["steps"]):
            failures.append("%d steps but tasks for %d" % (len(definition["steps"]), len(titles)))
        for step in state["steps"]:
            if step["status"] != "succeeded":
                failures.append("step %s is %s" % (step["name"], step["status"]))
    finally:
        agent.terminate()
        agent.wait(10)
        hive.stop()


def count_tasks(hive, task_type):
    """Tasks of a type by title: {title: how many}."""
    titles = {}
    cursor = None
    while True:
        query = "/api/v2/tasks?type=%s&limit=1000" % task_type + ("&cursor=" + cursor if cursor else "")
        page = hive.request("GET", query, expect=200)
        for task in page["items"]:
            titles[task["title"]] = titles.get(task["title"], 0) + 1
        cursor = page.get("next_cursor")
        if not cursor:
            return titles


def map_scenario(args, workdir, failures):
    hive = Hive(args, workdir)
    agent = start_agent(hive, workdir, "py-map")
    files = ["f%02d.c" % i for i in range(args.items)]
    definition = {
        "name": "mapped",
        "params": {"files": {"type": "array"}},
        "steps": [
            {"name": "plan", "task": {"type": "wfplan", "capabilities": ["shell"], "payload": {"files": "${params.files}"}}},
            {"name": "each", "depends_on": ["plan"],
             "map": {"over": "steps.plan.result.echo.files", "parallelism": 4},
             "task": {"type": "wfitem", "capabilities": ["shell"], "retries": 5,
                      "payload": {"file": "${item}", "index": "${index}", "sleep_ms": args.sleep_ms // 2}}},
            {"name": "gather", "depends_on": ["each"],
             "task": {"type": "wfplan", "capabilities": ["shell"], "payload": {"count": 1}}}],
        "outputs": {"files": "${steps.each.result}"}}
    try:
        hive.request("POST", "/api/v2/workflows", definition, expect=201)
        run = hive.request("POST", "/api/v2/workflows/mapped/runs", {"params": {"files": files}}, expect=201)
        path = "/api/v2/workflows/runs/" + run["id"]

        def items_done():
            state = hive.request("GET", path)
            each = next(s for s in state["steps"] if s["name"] == "each")
            return sum(1 for i in each.get("items", []) if i["status"] == "succeeded"), state
        done_before = 0
        for crash in range(args.crashes):
            wait_for("map progress before crash %d" % (crash + 1), lambda: items_done()[0] > done_before, 60)
            time.sleep(random.uniform(0.1, 0.6))
            done_before, state = items_done()
            if state["status"] != "running":
                failures.append("the run finished before crash %d: give it more --items" % (crash + 1))
                break
            hive.kill()
            say("crash %d: SIGKILL with %d of %d items succeeded" % (crash + 1, done_before, len(files)))
            hive.start()
        wait_for("the run to finish", lambda: hive.request("GET", path)["status"] != "running", 120)
        state = hive.request("GET", path, expect=200)
        say("run", state["status"])
        if state["status"] != "succeeded":
            failures.append("the run ended %s: %s" % (state["status"], state.get("error")))
        got = [(r or {}).get("echo", {}).get("file") for r in (state.get("outputs") or {}).get("files", [])]
        if got != files:
            failures.append("the map's results are not the items in order: %r" % got)
        titles = count_tasks(hive, "wfitem")
        twice = {title: n for title, n in titles.items() if n != 1}
        say("item tasks:", len(titles), "distinct titles,", sum(titles.values()), "tasks")
        if twice:
            failures.append("items submitted more than once: %r" % twice)
        if len(titles) != len(files):
            failures.append("%d items but tasks for %d" % (len(files), len(titles)))
    finally:
        agent.terminate()
        agent.wait(10)
        hive.stop()


BAD_YAML = """name: broken
params:
  files: {type: array}
steps:
  - name: plan
    task: {type: echo, capabilities: [shell]}
  - name: each
    depends_on: [plan, ghost]
    map: {over: params.files, parallelism: 0}
    task:
      type: echo
      payload: {file: "${item}"}
  - name: call
    workflow: {name: nowhere}
"""

GOOD_YAML = """name: cli-flow
params:
  files: {type: array, default: [a.c]}
steps:
  - name: each
    map: {over: params.files, parallelism: 2}
    task: {type: echo, capabilities: [shell], payload: {file: "${item}"}}
outputs:
  files: ${steps.each.result}
"""

UNKNOWN_CALLEE_YAML = """name: caller
steps:
  - name: first
    task: {type: echo}
  - name: call
    workflow:
      name: nowhere
"""


def cli(args, hive, *command):
    env = dict(os.environ, HIVE_URL="http://127.0.0.1:%d" % hive.port)
    done = subprocess.run([args.hive, "workflow"] + list(command), env=env, capture_output=True, text=True,
                          timeout=60)
    say("$ hive workflow", " ".join(command), "->", done.returncode)
    for line in (done.stdout + done.stderr).splitlines():
        say("   ", line)
    return done


def cli_scenario(args, workdir, failures):
    hive = Hive(args, workdir)
    agent = start_agent(hive, workdir, "py-cli")
    try:
        bad = os.path.join(workdir, "broken.yaml")
        with open(bad, "w") as f:
            f.write(BAD_YAML)
        done = cli(args, hive, "apply", bad)
        expected = [bad + ":8:24: unknown step 'ghost'", bad + ":9:44: must be an integer from 1 to 1000"]
        if done.returncode != 1:
            failures.append("a broken file exited %d" % done.returncode)
        for line in expected:
            if line not in done.stderr:
                failures.append("apply did not print %r" % line)
        unknown = os.path.join(workdir, "caller.yml")
        with open(unknown, "w") as f:
            f.write(UNKNOWN_CALLEE_YAML)
        done = cli(args, hive, "apply", unknown)
        line = unknown + ":7:13: unknown workflow 'nowhere' (register it first)"
        if done.returncode != 1 or line not in done.stderr:
            failures.append("the server's refusal was not located: expected %r" % line)
        if hive.request("GET", "/api/v2/workflows")["items"]:
            failures.append("a refused file registered something")
        good = os.path.join(workdir, "flow.yaml")
        with open(good, "w") as f:
            f.write(GOOD_YAML)
        done = cli(args, hive, "apply", good)
        if done.returncode != 0 or "cli-flow: version 1 registered" not in done.stdout:
            failures.append("the good file was not registered")
        done = cli(args, hive, "apply", good)
        if done.returncode != 0 or "cli-flow: version 1 unchanged" not in done.stdout:
            failures.append("applying the same file again was not 'unchanged'")
        done = cli(args, hive, "start", "cli-flow", "--param", 'files=["x.c", "y.c", "z.c"]')
        run_id = done.stdout.strip()
        if done.returncode != 0 or not run_id:
            failures.append("start printed no run id")
            return
        path = "/api/v2/workflows/runs/" + run_id
        wait_for("the CLI's run to finish", lambda: hive.request("GET", path)["status"] != "running")
        run = hive.request("GET", path)
        files = [r["echo"]["file"] for r in (run.get("outputs") or {}).get("files", [])]
        if run["status"] != "succeeded" or files != ["x.c", "y.c", "z.c"]:
            failures.append("the CLI's run ended %s with %r" % (run["status"], files))
        # run --follow: the progress on stderr (a line per change, not a
        # terminal), the run's id on stdout, the outcome as the exit code.
        done = cli(args, hive, "run", "cli-flow", "--param", 'files=["p.c", "q.c"]', "--follow")
        followed = done.stdout.strip()
        if done.returncode != 0 or not followed:
            failures.append("run --follow exited %d (stdout %r)" % (done.returncode, done.stdout))
        else:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            if not last.startswith("[") or "1/1 steps, succeeded" not in last:
                failures.append("run --follow did not end on a finished progress line: %r" % last)
            if hive.request("GET", "/api/v2/workflows/runs/" + followed)["status"] != "succeeded":
                failures.append("run --follow returned before its run succeeded")
        done = cli(args, hive, "run", "cli-flow", "--param", 'files=["p.c"]')
        if done.returncode != 0 or not done.stdout.strip():
            failures.append("run without --follow printed no id")
        done = cli(args, hive, "runs", "cli-flow")
        if done.returncode != 0 or run_id not in done.stdout or "succeeded" not in done.stdout:
            failures.append("runs did not list the run")
        done = cli(args, hive, "list")
        if done.returncode != 0 or "cli-flow" not in done.stdout:
            failures.append("list did not show the workflow")
        done = cli(args, hive, "start", "cli-flow", "--param", "files=3")
        if done.returncode != 1 or "/params/files: must be of type array" not in done.stderr:
            failures.append("a wrong param was not reported")
    finally:
        agent.terminate()
        agent.wait(10)
        hive.stop()


def child_scenario(args, workdir, failures):
    hive = Hive(args, workdir)
    agent = start_agent(hive, workdir, "py-child")
    child = {"name": "child", "params": {"seed": "integer"},
             "steps": [{"name": "c0", "task": {"type": "wfchild", "capabilities": ["shell"],
                                               "payload": {"n": "${params.seed}", "sleep_ms": args.sleep_ms // 2}}}] +
             [{"name": "c%d" % i, "depends_on": ["c%d" % (i - 1)],
               "task": {"type": "wfchild", "capabilities": ["shell"],
                        "payload": {"n": "${steps.c%d.result.echo.n}" % (i - 1), "sleep_ms": args.sleep_ms // 2}}}
              for i in range(1, 4)],
             "outputs": {"n": "${steps.c3.result.echo.n}"}}
    parent = {"name": "parent",
              "steps": [{"name": "call", "workflow": {"name": "child", "params": {"seed": 7}}},
                        {"name": "after", "depends_on": ["call"],
                         "task": {"type": "wfparent", "capabilities": ["shell"],
                                  "payload": {"from_child": "${steps.call.result.n}"}}}]}
    try:
        hive.request("POST", "/api/v2/workflows", child, expect=201)
        hive.request("POST", "/api/v2/workflows", parent, expect=201)
        run = hive.request("POST", "/api/v2/workflows/parent/runs", {}, expect=201)
        path = "/api/v2/workflows/runs/" + run["id"]

        def child_done():
            children = hive.request("GET", "/api/v2/workflows/child/runs")["items"]
            return sum(1 for c in children for s in c["steps"] if s["status"] == "succeeded")
        for crash, wanted in enumerate((1, 3)):
            wait_for("child progress before crash %d" % (crash + 1), lambda: child_done() >= wanted, 60)
            time.sleep(random.uniform(0.05, 0.3))
            hive.kill()
            say("crash %d: SIGKILL with %d child steps succeeded" % (crash + 1, wanted))
            hive.start()
        wait_for("the parent to finish", lambda: hive.request("GET", path)["status"] != "running", 120)
        state = hive.request("GET", path)
        children = hive.request("GET", "/api/v2/workflows/child/runs")["items"]
        say("parent", state["status"], "children", [(c["id"], c["status"]) for c in children])
        if state["status"] != "succeeded":
            failures.append("the parent ended %s: %s" % (state["status"], state.get("error")))
        if len(children) != 1:
            failures.append("%d child runs, not 1" % len(children))
        after = next(s for s in state["steps"] if s["name"] == "after")
        if (after.get("result") or {}).get("echo") != {"from_child": 7}:
            failures.append("the child's output did not reach the next step: %r" % after.get("result"))
        titles = count_tasks(hive, "wfchild")
        if len(titles) != 4 or any(n != 1 for n in titles.values()):
            failures.append("child tasks by title: %r" % titles)
    finally:
        agent.terminate()
        agent.wait(10)
        hive.stop()


NODE_CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: 10s
plugins:
  api:
    required: true
    config:
      listen: 127.0.0.1:0
      access_log: false
  storage_postgres:
    required: true
    config:
      url: %(pg)s
      schema: workflow_nodes
  communication_engine:
    config:
      transport: local
  task_manager:
    config: {{}}
  workflow_engine:
    config:
      schedule_tick: 200ms
      reconcile_period: 1s
"""


def check_fires(what, keys, count, seconds, failures):
    """Each fire of a 1 s schedule, by its idempotency key
    (schedule:<id>:<fire ms>): once, none missing."""
    fires = sorted(int(key.rsplit(":", 1)[1]) for key in keys if key.startswith("schedule:"))
    say("%d %ss, %d distinct fire times over %.1f s" % (count, what, len(set(fires)),
                                                      (fires[-1] - fires[0]) / 1000.0 if fires else 0))
    if len(fires) != count or len(set(fires)) != len(fires):
        failures.append("a fire made more than one %s: %r" % (what, keys))
    gaps = [b - a for a, b in zip(fires, fires[1:]) if b - a != 1000]
    if gaps:
        failures.append("%s fires missing between the first and the last: gaps %r" % (what, gaps))
    if len(fires) < seconds - 3:
        failures.append("only %d %s fires in %d s" % (len(fires), what, seconds))


def nodes_scenario(args, workdir, failures):
    from monitoring_readiness_e2e import Servers
    os.chmod(workdir, 0o711)  # PostgreSQL runs as its own user under it
    servers = Servers(os.path.join(workdir, "servers"))
    nodes = []
    try:
        config = NODE_CONFIG % {"pg": json.dumps(servers.exports["HIVE_TEST_POSTGRES_URL"])}
        for name in ("node1", "node2"):
            directory = os.path.join(workdir, name)
            os.makedirs(directory)
            node = HiveProcess(args.hive, directory, os.path.abspath(args.plugins), config, "workflow_e2e " + name)
            node.start()
            nodes.append(node)
        first, second = Api(nodes[0].port), Api(nodes[1].port)
        ticking = {"name": "tick", "schedules": [{"every": "1s"}],
                   "steps": [{"name": "wait", "approval": {"description": "nothing to do"}}]}
        status, body = first.request("POST", "/api/v2/workflows", ticking)
        if status != 201:
            failures.append("apply: %s %r" % (status, body))
            return
        # And a schedule that submits a plain task.
        status, task_schedule = second.request("POST", "/api/v2/schedules",
                                               {"every": "1s", "task": {"type": "tick-task"}})
        if status != 201:
            failures.append("task schedule: %s %r" % (status, task_schedule))
            return
        time.sleep(args.seconds)
        # A version without the schedule stops it, on both nodes at once.
        status, body = second.request("POST", "/api/v2/workflows", {"name": "tick", "steps": ticking["steps"]})
        if status != 201:
            failures.append("apply without the schedule: %s %r" % (status, body))
            return
        status, _ = first.request("DELETE", "/api/v2/schedules/" + task_schedule["id"])
        if status != 204:
            failures.append("deleting the task schedule answered %s" % status)
        time.sleep(1.0)
        status, page = second.request("GET", "/api/v2/workflows/tick/runs?limit=1000")
        runs = page["items"]
        keys = [run.get("idempotency_key", "") for run in runs]
        check_fires("run", keys, len(runs), args.seconds, failures)
        status, page = first.request("GET", "/api/v2/tasks?type=tick-task&limit=1000")
        tasks = page["items"]
        # A task does not show its key; its title is "schedule <id> fire <fire ms>".
        keys = ["schedule:%s:%s" % (task_schedule["id"], task["title"].rsplit(" ", 1)[1]) for task in tasks
                if task["title"].startswith("schedule %s fire " % task_schedule["id"])]
        check_fires("task", keys, len(tasks), args.seconds, failures)
        for node in nodes:
            report = node.sanitizer_report()
            if report:
                failures.append("sanitizer report in %s:\n%s" % (node.log.name, report))
    finally:
        for node in nodes:
            node.stop()
        servers.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--scenario", choices=["diamond", "crash", "swap", "map", "cli", "nodes", "child"],
                        required=True)
    parser.add_argument("--items", type=int, default=24, help="items of the map scenario")
    parser.add_argument("--seconds", type=int, default=15, help="how long the nodes scenario's schedule fires")
    parser.add_argument("--crashes", type=int, default=3)
    parser.add_argument("--swaps", type=int, default=10, help="hot swaps of workflow_engine in the swap scenario")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--sleep-ms", type=int, default=1500, help="how long each step's task takes")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-workflow-e2e-")
    failures = []
    try:
        {"diamond": diamond_scenario, "crash": crash_scenario, "swap": swap_scenario, "map": map_scenario,
         "cli": cli_scenario, "nodes": nodes_scenario,
         "child": child_scenario}[args.scenario](
            args, workdir, failures)
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


if __name__ == "__main__":
    sys.exit(main())
