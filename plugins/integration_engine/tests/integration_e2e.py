#!/usr/bin/python3
"""End to end: integration_engine in the real `hive` with workflow_engine,
task_manager, orchestrator and a real remote agent (examples/agents/hive_agent.py).

- A signed webhook (Hive's scheme) starts a run of the diamond workflow; the
  same delivery sent again answers the same run (one run, not two); a bad
  signature and a stale timestamp are 401.
- A subscription of a local HTTP receiver (started here, failing its first two
  requests with 500) to workflows.* gets the run's events, each signed with the
  subscription's secret, each delivery id accepted exactly once, the run's
  success among them.
- After a hot swap of integration_engine the subscription and the first
  outcome of a delivery are still there (they live in the store).
- A webhook with a task template submits the task with the body mapped in; the
  agent runs it.
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "e2e"))
from e2e_http import Api, HiveProcess  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")
SECRET = "e2e-inbound-secret-0123456789"

DIAMOND = {"name": "diamond",
           "steps": [
               {"name": "a", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": 1}}},
               {"name": "b", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"]}},
               {"name": "c", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"]}},
               {"name": "d", "depends_on": ["b", "c"], "task": {"type": "echo", "capabilities": ["shell"]}}]}

CONFIG = """hive:
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
    config: {{retry_base: 100ms, retry_max: 1s, sweep_period: 200ms, claim_lease: 2s}}
  orchestrator:
    config: {{heartbeat_interval: 1s, missed_heartbeats: 3, sweep_period: 200ms}}
  task_execution_engine:
    config:
      agents: []
  workflow_engine:
    config:
      reconcile_period: 500ms
  integration_engine:
    config:
      webhooks:
        - name: deploy
          secret: SECRET
          tolerance: 60s
          workflow: diamond
        - name: ci
          secret: SECRET
          task:
            type: echo
            capabilities: [shell]
            payload: {{source: ci}}
          map:
            build: /build/number
      outbound:
        signing_key_file: KEYFILE
        allow_private_targets: true
        backoff_base: 50ms
        backoff_max: 200ms
        poll_period: 50ms
        max_attempts: 10
"""


def say(*parts):
    print("integration_e2e:", *parts, flush=True)


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, KeyError, TypeError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class Receiver(http.server.ThreadingHTTPServer):
    """Answers 500 to its first `failures` requests, then 204; keeps them all."""

    def __init__(self, failures):
        self.failures = failures
        self.received = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            status = 500 if len(self.server.received) < self.server.failures else 204
            self.server.received.append((dict((k.lower(), v) for k, v in self.headers.items()), body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def signed(body, delivery, timestamp=None, secret=SECRET):
    data = json.dumps(body).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + data, hashlib.sha256).hexdigest()
    return data, {"Content-Type": "application/json", "X-Hive-Timestamp": ts, "X-Hive-Signature": signature,
                  "X-Hive-Delivery": delivery}


def post_raw(port, path, data, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=data, headers=headers)
        response = connection.getresponse()
        text = response.read()
        return response.status, (json.loads(text) if text else None)
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-integration-e2e-")
    key_file = os.path.join(workdir, "signing.key")
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("e2e-signing-key-of-at-least-32-bytes-long\n")
    config = CONFIG.replace("SECRET", SECRET).replace("KEYFILE", key_file)
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), config, "integration_e2e")
    receiver = Receiver(failures=2)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    agent = None
    failures = []
    try:
        hive.start()
        api = Api(hive.port, attempts=3)
        agent = subprocess.Popen(
            ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
             "--name", "py-1", "--capabilities", "shell", "--concurrency", "4"],
            stdout=open(os.path.join(workdir, "agent.log"), "ab"), stderr=subprocess.STDOUT)

        status, sub = api.request("POST", "/api/v2/integrations/subscriptions",
                                  {"url": "http://127.0.0.1:%d/events" % receiver.server_address[1],
                                   "topics": ["workflows.*"]})
        assert status == 201, (status, sub)
        status, answer = api.request("POST", "/api/v2/workflows", DIAMOND)
        assert status == 201, (status, answer)

        data, headers = signed({"reason": "e2e"}, "deploy-1")
        status, first = post_raw(hive.port, "/api/v2/integrations/webhooks/deploy", data, headers)
        assert status == 202, (status, first)
        run_id = first["run"]["id"]
        status, again = post_raw(hive.port, "/api/v2/integrations/webhooks/deploy", data, headers)
        if status != 202 or again["run"]["id"] != run_id:
            failures.append("a redelivery answered %s %r, not the first run %s" % (status, again, run_id))
        bad, bad_headers = signed({"reason": "e2e"}, "deploy-2", secret="not-the-secret-0123456789")
        stale, stale_headers = signed({"reason": "e2e"}, "deploy-3", timestamp=int(time.time()) - 600)
        for what, body, h in (("bad signature", bad, bad_headers), ("stale timestamp", stale, stale_headers)):
            status, _ = post_raw(hive.port, "/api/v2/integrations/webhooks/deploy", body, h)
            if status != 401:
                failures.append("%s answered %s, not 401" % (what, status))

        path = "/api/v2/workflows/diamond/runs/" + run_id
        wait_for("the run to finish", lambda: api.request("GET", path)[1]["status"] != "running")
        run = api.request("GET", path)[1]
        say("run", run_id, run["status"])
        if run["status"] != "succeeded":
            failures.append("the webhook's run ended %s" % run["status"])
        runs = api.request("GET", "/api/v2/workflows/diamond/runs")[1]["items"]
        if len(runs) != 1:
            failures.append("%d runs of diamond, expected 1" % len(runs))

        def accepted():
            with receiver.lock:
                return [json.loads(body) for _, body, status in receiver.received if status == 204]
        wait_for("the run's success at the receiver",
                 lambda: any(e["event"].get("event") == "workflow.run.succeeded" for e in accepted()), 30)
        time.sleep(0.5)
        with receiver.lock:
            received = list(receiver.received)
        per_delivery = {}
        for headers_in, body, status in received:
            ts = headers_in["x-hive-timestamp"]
            expected = "sha256=" + hmac.new(sub["secret"].encode(), ts.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers_in["x-hive-signature"], expected):
                failures.append("a delivery's signature does not verify")
            if status == 204:
                per_delivery[headers_in["x-hive-delivery"]] = per_delivery.get(headers_in["x-hive-delivery"], 0) + 1
        say("receiver got", len(received), "requests,", len(per_delivery), "accepted deliveries")
        if any(count != 1 for count in per_delivery.values()):
            failures.append("a delivery was accepted more than once: %r" % per_delivery)
        if sum(1 for _, _, s in received if s == 500) != 2:
            failures.append("the receiver's two failures were not retried")

        # A hot swap of integration_engine: the next generation has the
        # subscription and the first outcome of deploy-1 from the store.
        code, text = hive.reload("integration_engine")
        say("swap:", code, text)
        if code != 0:
            failures.append("hive plugins reload integration_engine: %s %s" % (code, text))
        data, headers = signed({"reason": "e2e"}, "deploy-1")
        status, after = post_raw(hive.port, "/api/v2/integrations/webhooks/deploy", data, headers)
        if status != 202 or after["run"]["id"] != run_id:
            failures.append("after the swap, deploy-1 answered %s %r" % (status, after))
        subscriptions = api.request("GET", "/api/v2/integrations/subscriptions")[1]["items"]
        if [s["id"] for s in subscriptions] != [sub["id"]]:
            failures.append("after the swap the subscriptions are %r" % subscriptions)

        data, headers = signed({"build": {"number": 42}}, "ci-1")
        status, answer = post_raw(hive.port, "/api/v2/integrations/webhooks/ci", data, headers)
        assert status == 202, (status, answer)
        task_path = "/api/v2/tasks/" + answer["task"]["id"]
        wait_for("the webhook's task to finish", lambda: api.request("GET", task_path)[1]["status"] == "succeeded")
        task = api.request("GET", task_path)[1]
        if task["payload"] != {"source": "ci", "build": 42}:
            failures.append("the task's payload is %r" % task["payload"])
        say("task", task["id"], task["status"], task["payload"])
        report = hive.sanitizer_report()
        if report:
            failures.append("sanitizer report:\n" + report)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait()
        code = hive.stop()
        receiver.shutdown()
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
