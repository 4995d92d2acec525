#!/usr/bin/env python3
"""End to end: a W3C traceparent submitted with a task travels with it and
its spans reach an OTLP/HTTP collector.

A real hive (task_manager, orchestrator, a process agent that echoes its
stdin, a remote agent: examples/agents/hive_agent.py wrapped to echo the
traceparent of the task.assign it received) and monitoring_engine exporting
spans to a local receiver:
  - a task submitted with `traceparent` keeps its trace (GET
    /api/v2/tasks/{id}), under the api's span of the request; the process
    agent got it in the task on its stdin and as TRACEPARENT in its
    environment, the remote agent in its task.assign;
  - a span of each store transaction of the task (store.transaction, with
    transaction_spans: all: its creation, a child of the request's span and
    within it, its assignment, its end);
  - the api's span of each POST (a server span, child of the submitted
    span, with the status code) is exported;
  - the receiver gets OTLP JSON: the task span (child of the submitted span,
    same trace id), a task.dispatch span per assignment and a task.run span
    per attempt (children of the task span, naming the agent);
  - the process agent's job line in hive's log carries the trace id;
  - a task submitted without one gets a new, well-formed traceparent;
  - with the receiver gone, exports fail and are counted; hive goes on.

Usage: monitoring_traces_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, HiveProcess, finish, free_port, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# The process agent answers {"env": $TRACEPARENT, "stdin": <the task it read>}
# ($$: a literal $ in Hive's config).
ECHO_SCRIPT = """printf '{"env":"%s","stdin":' "$TRACEPARENT"; cat; echo '}'"""

ECHO_AGENT = """import os, sys
sys.path.insert(0, %r)
import hive_agent
_work = hive_agent.Agent.work
async def work(self, task, lease_token):
    payload = dict(task.get("payload") or {}, traceparent=task.get("traceparent"))
    return await _work(self, dict(task, payload=payload), lease_token)
hive_agent.Agent.work = work
sys.exit(hive_agent.main())
""" % os.path.join(ROOT, "examples", "agents")

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: 10s
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
      sweep_period: 200ms
      transaction_spans: all
  orchestrator:
    config:
      node: node0
  task_execution_engine:
    config:
      agents:
        - name: echo
          command: ECHO_COMMAND
          capabilities: [echo]
          workspace: WORK/echo
          timeout: 30s
  monitoring_engine:
    config:
      tracing:
        endpoint: http://127.0.0.1:OTLP/v1/traces
        period: 200ms
        timeout: 1s
"""


class Receiver(http.server.BaseHTTPRequestHandler):
    batches = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.batches.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def say(*parts):
    print("monitoring_traces_e2e:", *parts, flush=True)


def spans():
    return [s for _, _, b in Receiver.batches for r in b["resourceSpans"] for sc in r["scopeSpans"]
            for s in sc["spans"]]



def attributes(span):
    return {a["key"]: a["value"]["stringValue"] for a in span["attributes"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-traces-")
    os.chmod(workdir, 0o711)
    otlp_port = free_port()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", otlp_port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = CONFIG.replace("WORK", os.path.join(workdir, "workspace")).replace("OTLP", str(otlp_port)).replace(
        "ECHO_COMMAND", json.dumps(["/bin/sh", "-c", ECHO_SCRIPT.replace("$", "$$")]).replace("{", "{{").replace(
            "}", "}}"))  # HiveProcess formats the text
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), config, "monitoring_traces_e2e")
    agent = None
    failures = []
    try:
        hive.start()
        api = Api(hive.port)
        with open(os.path.join(workdir, "echo_agent.py"), "w") as f:
            f.write(ECHO_AGENT)
        agent = subprocess.Popen(["/usr/bin/python3", os.path.join(workdir, "echo_agent.py"), "--url",
                                  "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port, "--name", "remote",
                                  "--capabilities", "remote"], stdout=open(os.path.join(workdir, "agent.log"), "ab"),
                                 stderr=subprocess.STDOUT)
        ids, traces = {}, {}
        for capability in ("echo", "remote"):
            status, task = api.request("POST", "/api/v2/tasks", {"type": "traced", "capabilities": [capability],
                                                                 "max_attempts": 1},
                                       headers={"traceparent": TRACE})
            assert status == 201, "submit answered %d: %s" % (status, task)
            # The same trace; its parent is the api's span of this request.
            traces[capability] = task.get("traceparent", "")
            if not re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", traces[capability]) or \
                    traces[capability][3:35] != TRACE[3:35] or traces[capability][36:52] == TRACE[36:52]:
                failures.append("the %s task does not carry the trace under the api's span: %s" % (capability, task))
            ids[capability] = task["id"]
        status, plain = api.request("POST", "/api/v2/tasks", {"type": "plain", "capabilities": ["echo"]})
        generated = plain.get("traceparent", "")
        if not re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", generated) or generated[3:35] == TRACE[3:35]:
            failures.append("a task without traceparent got %r, not a new one" % generated)

        done = {c: wait_for("the %s task to succeed" % c, lambda i=i: (lambda t: t if t["status"] == "succeeded"
                                                                       else None)(api.request("GET",
                                                                                              "/api/v2/tasks/" + i)[1]))
                for c, i in ids.items()}
        echoed = done["echo"].get("result") or {}
        stdin_trace = (echoed.get("stdin") or {}).get("traceparent")
        if echoed.get("env") != traces["echo"]:
            failures.append("the process agent's TRACEPARENT is %r" % echoed.get("env"))
        assign_trace = ((done["remote"].get("result") or {}).get("echo") or {}).get("traceparent")
        say("process agent's stdin traceparent %s, TRACEPARENT %s; remote agent's task.assign traceparent %s" %
            (stdin_trace, echoed.get("env"), assign_trace))
        if stdin_trace != traces["echo"]:
            failures.append("the process agent's stdin task lacks the traceparent: %s" % done["echo"].get("result"))
        if assign_trace != traces["remote"]:
            failures.append("the remote agent's task.assign lacks the traceparent: %s" % done["remote"].get("result"))

        trace_id, parent = TRACE[3:35], TRACE[36:52]
        # The process agent's job line in hive's log names the trace.
        with open(hive.log.name, errors="replace") as f:
            job_lines = [line.rstrip() for line in f if "job echo/" + ids["echo"] in line]
        say("job line: %s" % job_lines)
        if not job_lines or "trace_id=" + trace_id not in job_lines[-1]:
            failures.append("the job's log line does not carry the trace id: %r" % job_lines)
        for capability, task_id in ids.items():
            def found(task_id=task_id):
                mine = [s for s in spans() if attributes(s).get("hive.task.id") == task_id]
                top = [s for s in mine if s["name"] == "task traced"]
                runs = [s for s in mine if s["name"] == "task.run traced"]
                dispatches = [s for s in mine if s["name"] == "task.dispatch traced"]
                events = {attributes(s).get("hive.task.event"): s for s in mine if s["name"] == "store.transaction"}
                requests = [s for s in spans() if s["name"] == "POST /api/v2/tasks" and
                            s["spanId"] == traces[capability][36:52]]
                done = top and runs and dispatches and requests and "task.succeeded" in events
                return (top, runs, dispatches, requests, events) if done else None
            top, runs, dispatches, requests, events = wait_for("the spans of the %s task" % capability, found,
                                                               timeout=15)
            say("%s: store transactions %s" % (capability, sorted(events)))
            created = events.get("task.created")
            if created is None or created["parentSpanId"] != requests[0]["spanId"] or \
                    int(created["endTimeUnixNano"]) > int(requests[0]["endTimeUnixNano"]) or \
                    not {"task.assigned", "task.succeeded"} <= set(events):
                failures.append("the store transactions' spans (created under the request's span, assigned, "
                                "succeeded): %s" % events)
            say("%s: the request's span %s" % (capability, json.dumps(requests[0])))
            if requests[0]["traceId"] != trace_id or requests[0]["parentSpanId"] != parent or \
                    requests[0]["kind"] != 2 or attributes(requests[0]).get("http.response.status_code") != "201":
                failures.append("the request's span is not a server span under the submitted one: %s" % requests[0])
            say("%s: %d task span, %d run span(s), %d dispatch span(s): %s" % (
                capability, len(top), len(runs), len(dispatches), json.dumps(runs[0])))
            if dispatches[0]["traceId"] != trace_id or dispatches[0]["parentSpanId"] != top[0]["spanId"] or \
                    not attributes(dispatches[0]).get("hive.agent") or \
                    int(dispatches[0]["endTimeUnixNano"]) > int(runs[0]["startTimeUnixNano"]):
                failures.append("the dispatch span is not a child of the task span ending before the run: %s"
                                % dispatches[0])
            if top[0]["traceId"] != trace_id or top[0]["parentSpanId"] != requests[0]["spanId"] or \
                    top[0]["status"]["code"] != 1:
                failures.append("the task span is not a child of the request's span: %s" % top[0])
            if runs[0]["traceId"] != trace_id or runs[0]["parentSpanId"] != top[0]["spanId"] or \
                    not attributes(runs[0]).get("hive.agent"):
                failures.append("the run span is not a child of the task span: %s" % runs[0])
            if int(top[0]["endTimeUnixNano"]) < int(runs[0]["endTimeUnixNano"]):
                failures.append("the task span ends before its run")
        path, content_type, _ = Receiver.batches[0]
        if path != "/v1/traces" or not content_type.startswith("application/json"):
            failures.append("posted to %s as %s" % (path, content_type))

        receiver.shutdown()
        receiver.server_close()
        api.request("POST", "/api/v2/tasks", {"type": "after", "capabilities": ["echo"]},
                    headers={"traceparent": TRACE})

        def failed_exports():
            connection = http.client.HTTPConnection("127.0.0.1", hive.port, timeout=10)
            connection.request("GET", "/metrics")
            text = connection.getresponse().read().decode()
            connection.close()
            value = re.search(r"^hive_trace_export_failures_total (\S+)$", text, re.M)
            return value and float(value.group(1)) >= 1
        wait_for("an export failure to be counted with the collector gone", failed_exports, timeout=20)
        if api.request("GET", "/readyz")[0] != 200:
            failures.append("hive is not ready with its collector gone")
    except AssertionError as error:
        failures.append(str(error))
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        code = hive.stop()
        if code != 0:
            failures.append("hive exited with %s" % code)
    finish("monitoring_traces_e2e", failures, workdir)


if __name__ == "__main__":
    main()
