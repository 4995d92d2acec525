#!/usr/bin/python3
"""Results reported while the store is down are not lost.

A hive on storage_postgres with a remote Python agent (examples/agents/hive_agent.py)
and a process agent. Tasks start on both; PostgreSQL is killed (-9) while they
run, so their results arrive while the store is down; PostgreSQL starts again
on the same port. Every task must then succeed with its result at its first
attempt, well before its timeout (120 s): the orchestrator held the results and
reported them at a sweep once the store answered, and the remote agent got its
ack then (no "refused" in its log).

    store_outage_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, HiveProcess  # noqa: E402
from monitoring_readiness_e2e import Servers  # noqa: E402

AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "agents", "hive_agent.py")
WHO = "store_outage_e2e"

CONFIG = """hive:
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
      schema: outage
  communication_engine:
    config:
      transport: local
  task_manager:
    config: {{}}
  orchestrator:
    config:
      node: node1
  task_execution_engine:
    config:
      agents:
        - name: sh
          command: ["/bin/sh", "-c", "cat >/dev/null; sleep 3; echo '{{\\"ok\\":true}}'"]
          capabilities: [sh]
          workspace: %(workspace)s
          max_concurrency: 2
          timeout: 120s
"""


def fail(message):
    sys.exit("%s: FAIL: %s" % (WHO, message))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="hive-store-outage-")
    os.chmod(workdir, 0o711)  # the sandboxed process agent must reach its workspace
    servers = Servers(os.path.join(workdir, "servers"))
    config = CONFIG % {"pg": json.dumps(servers.exports["HIVE_TEST_POSTGRES_URL"]),
                       "workspace": os.path.join(workdir, "workspace")}
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), config, WHO)
    agent = None
    agent_log = open(os.path.join(workdir, "agent.log"), "w+")
    try:
        hive.start()
        api = Api(hive.port)
        agent = subprocess.Popen(["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
                                  "--name", "py-outage", "--capabilities", "py", "--concurrency", "4"],
                                 stdout=agent_log, stderr=subprocess.STDOUT)
        ids = []
        for _ in range(4):
            status, body = api.request("POST", "/api/v2/tasks", {"type": "work", "capabilities": ["py"],
                                                                 "payload": {"sleep_ms": 3000, "n": len(ids)},
                                                                 "timeout_seconds": 120, "max_attempts": 1})
            if status != 201:
                fail("submit: %s %s" % (status, body))
            ids.append(body["id"])
        for _ in range(2):
            status, body = api.request("POST", "/api/v2/tasks", {"type": "work", "capabilities": ["sh"],
                                                                 "timeout_seconds": 120, "max_attempts": 1})
            if status != 201:
                fail("submit: %s %s" % (status, body))
            ids.append(body["id"])
        # Every task running, then the store goes away before any result comes.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = [api.request("GET", "/api/v2/tasks/" + i)[1]["status"] for i in ids]
            if all(s == "running" for s in states):
                break
            time.sleep(0.05)
        else:
            fail("the tasks did not all start: %s" % states)
        servers.kill_postgres()
        killed = time.monotonic()
        print(WHO + ": PostgreSQL killed with 6 tasks running", flush=True)
        time.sleep(6)  # every result (3 s of work) has been sent meanwhile
        servers.start_postgres()
        print(WHO + ": PostgreSQL started again after %.1f s" % (time.monotonic() - killed), flush=True)
        api = Api(hive.port, attempts=3)
        deadline = time.monotonic() + 30
        tasks = []
        while time.monotonic() < deadline:
            try:
                tasks = [api.request("GET", "/api/v2/tasks/" + i)[1] for i in ids]
            except Exception:  # the api answers 503 until the pool has reconnected
                tasks = []
            if tasks and all(t and t.get("status") == "succeeded" for t in tasks):
                break
            time.sleep(0.2)
        else:
            fail("not every task succeeded within 30 s of PostgreSQL's return: %s" %
                 [(t or {}).get("status") for t in tasks])
        settled = time.monotonic() - killed
        for t in tasks:
            if t.get("attempts") != 1:
                fail("task %s ran %s times" % (t["id"], t.get("attempts")))
            if t.get("result") in (None, {}):
                fail("task %s has no result: %s" % (t["id"], t))
        with open(hive.log.name, errors="replace") as f:
            log = f.read()
        if "results are held" not in log or "held results reported" not in log:
            fail("the hive log does not show results held and reported again")
        agent_log.flush()
        agent_log.seek(0)
        refused = [line for line in agent_log.read().splitlines() if "refused" in line]
        if refused:
            fail("the agent had results refused: %s" % refused[:3])
        print(WHO + ": all 6 results kept across the outage; every task succeeded %.1f s after the kill" % settled)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        status = hive.stop()
        servers.stop()
        report = hive.sanitizer_report()
        if report:
            print(report)
            sys.exit(WHO + ": sanitizer report in the hive log")
        if status != 0:
            sys.exit("%s: hive exited with %s; see %s" % (WHO, status, hive.log.name))
    print(WHO + ": ok")


if __name__ == "__main__":
    main()
