#!/usr/bin/env python3
"""End to end: resource_manager watches process agents' jobs in the real hive.

A hive with task_execution_engine (two process agents) and resource_manager:
  - a job of agent `sleeper` (3 s) is listed by GET /api/v2/resources while it
    runs, with its process tree's resident memory, CPU and open files, and
    its summary is kept once it finished;
  - a job of agent `hog`, which allocates 200 MiB against a 64 MiB
    memory_bytes quota, is killed: its task fails with an error naming the
    quota and the resident bytes seen, the task's progress.resources shows its
    sampled memory (and a running job's task shows its figures while it runs),
    GET /api/v2/resources/tasks/{id} shows
    the peak and why it was stopped, and /metrics counts the kill;
  - concurrency limits (task_manager's concurrency.capabilities): with gpu: 2,
    six tasks needing gpu never run more than two at once, though their agent
    may run four, and all of them succeed;
  - the routes need observability:read (checked in the unit tests) and serve
    problem+json for an unknown task;
  - admission control: with max_waiting 8, eight tasks no agent can take
    close the door: POST /api/v2/tasks answers 503 problem+json with
    Retry-After, naming the limit, and stores nothing; GET /api/v2/resources
    and /metrics say so; the queue age monitoring_engine keeps is read; once a
    waiting task is cancelled the next submission is 201.

Usage: resources_quota_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, HiveProcess, finish, wait_for  # noqa: E402

QUOTA = 64 << 20
# Above what the concurrency check leaves waiting (four gpu tasks at most), so
# that it never closes the door itself.
WAITING = 8

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
      concurrency:
        capabilities: {{gpu: 2}}
  orchestrator:
    config:
      node: node0
      usage_period: 500ms
  task_execution_engine:
    config:
      agents:
        - name: sleeper
          command: ["/bin/sh", "-c", "cat >/dev/null; sleep 3; echo '{{\\"slept\\":true}}'"]
          capabilities: [slow]
          workspace: WORK/sleeper
          timeout: 60s
        - name: gpu
          command: ["/bin/sh", "-c", "cat >/dev/null; sleep 1; echo '{{}}'"]
          capabilities: [gpu]
          max_concurrency: 4
          workspace: WORK/gpu
          timeout: 60s
        - name: hog
          command: ["/usr/bin/python3", "-c", "import sys, time; sys.stdin.read(); b = b'x' * (200 << 20); time.sleep(60)"]
          capabilities: [hog]
          workspace: WORK/hog
          timeout: 60s
  resource_manager:
    config:
      admission:
        max_waiting: WAITING
        max_queue_age: 1h
        interval: 100ms
        retry_after_seconds: 2
      agents:
        hog:
          memory_bytes: QUOTA
  monitoring_engine:
    config:
      health_period: 200ms
"""


def say(*parts):
    print("resources_quota_e2e:", *parts, flush=True)



def metrics(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return text


def admission(api, port, failures):
    """WAITING tasks nobody can take close the door (max_waiting); cancelling one opens it."""
    waiting = []
    for n in range(WAITING):
        status, task = api.request("POST", "/api/v2/tasks", {"type": "stuck", "capabilities": ["nobody"]})
        assert status == 201, "submit %d answered %d: %s" % (n, status, task)
        waiting.append(task["id"])
    state = wait_for("admission control to close", lambda: (lambda a: a if not a["open"] else None)(
        api.request("GET", "/api/v2/resources")[1]["admission"]), timeout=10)
    say("admission:", json.dumps(state))
    if state.get("limit") != "max_waiting" or state["signals"].get("waiting") != WAITING:
        failures.append("admission closed for another reason: %s" % state)
    try:
        aged = wait_for("admission control to read the queue age (monitoring_engine's series)", lambda: (
            lambda a: a if a["signals"].get("queue_age_seconds", 0) > 0 else None)(
            api.request("GET", "/api/v2/resources")[1]["admission"]), timeout=10)
        say("queue age read: %.2f s" % aged["signals"]["queue_age_seconds"])
    except AssertionError as error:
        failures.append(str(error))

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/api/v2/tasks", body=json.dumps({"type": "late", "capabilities": ["nobody"]}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    say("refused submission: %d Retry-After=%s %s" % (response.status, response.getheader("Retry-After"), body))
    if response.status != 503 or response.getheader("Retry-After") != "2" or \
            not response.getheader("Content-Type", "").startswith("application/problem+json") or \
            ("%d tasks wait to be claimed, the limit (max_waiting) is %d" % (WAITING, WAITING)) not in body:
        failures.append("a submission while saturated: %d %s %s" % (response.status, response.getheaders(), body))
    pending = api.request("GET", "/api/v2/tasks?capability=nobody")[1]["items"]
    if sorted(t["id"] for t in pending) != sorted(waiting):
        failures.append("the refused task was stored: %s" % [t["id"] for t in pending])
    text = metrics(port)
    for line in ('hive_admission_refused_total{limit="max_waiting"} 1', "hive_admission_closed 1"):
        if line not in text:
            failures.append("/metrics lacks %s" % line)

    status, cancelled = api.request("POST", "/api/v2/tasks/%s/cancel" % waiting[0])
    assert status == 200, "cancel answered %d: %s" % (status, cancelled)
    wait_for("admission control to open", lambda: api.request("GET", "/api/v2/resources")[1]["admission"]["open"],
             timeout=10)
    status, task = api.request("POST", "/api/v2/tasks", {"type": "late", "capabilities": ["nobody"]})
    if status != 201:
        failures.append("a submission once admitted again answered %d: %s" % (status, task))


def concurrency(api, failures):
    """Six tasks needing gpu, limit 2, an agent that may run 4: never more than 2 at once."""
    ids = []
    for n in range(6):
        status, task = api.request("POST", "/api/v2/tasks", {"type": "render", "capabilities": ["gpu"]})
        assert status == 201, "submit %d answered %d: %s" % (n, status, task)
        ids.append(task["id"])
    most, deadline = 0, time.time() + 60
    while time.time() < deadline:
        items = api.request("GET", "/api/v2/tasks?capability=gpu&limit=100")[1]["items"]
        statuses = [t["status"] for t in items if t["id"] in ids]
        most = max(most, sum(1 for s in statuses if s in ("assigned", "running")))
        if statuses.count("succeeded") == len(ids):
            break
        time.sleep(0.05)
    say("gpu tasks at once, at most: %d; statuses: %s" % (most, statuses))
    if most != 2:
        failures.append("with concurrency.capabilities.gpu 2, %d gpu tasks ran at once" % most)
    if statuses.count("succeeded") != len(ids):
        failures.append("the gpu tasks did not all succeed: %s" % statuses)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-resources-")
    os.chmod(workdir, 0o711)  # process agents' jobs may run as the sandbox uid
    config = CONFIG.replace("WORK", os.path.join(workdir, "workspace")).replace("QUOTA", str(QUOTA)) \
        .replace("WAITING", str(WAITING))
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), config, "resources_quota_e2e")
    failures = []
    try:
        hive.start()
        api = Api(hive.port)

        status, sleeper = api.request("POST", "/api/v2/tasks", {"type": "nap", "capabilities": ["slow"]})
        assert status == 201, "submit answered %d: %s" % (status, sleeper)

        def sampled():
            jobs = api.request("GET", "/api/v2/resources")[1].get("jobs", [])
            return next((j for j in jobs if j["task_id"] == sleeper["id"] and j["processes"] >= 1), None)
        job = wait_for("the sleeper's job in GET /api/v2/resources", sampled)
        say("running job sampled:", json.dumps(job))
        if job["agent"] != "sleeper" or job["resident_bytes"] <= 0 or job["open_files"] <= 0:
            failures.append("the running job's figures are empty: %s" % job)
        # Where the host lets Hive make cgroups (task_execution_engine says so), the job has its own.
        with open(hive.log.name, errors="replace") as f:
            grouped = any("job cgroups: each job in a cgroup v2 of its own" in line for line in f)
        say("job cgroups %s; the job's: %s" % ("used" if grouped else "not used here", job.get("cgroup")))
        if grouped and "/hive-jobs/job-" not in job.get("cgroup", ""):
            failures.append("the job ran in no cgroup of its own: %s" % job)
        # The same figures on the task itself while it runs (usage_period).
        shown = wait_for("the sleeper's figures on its task", lambda: (lambda t: t if t["status"] == "running" and (
            (t.get("progress") or {}).get("resources") or {}).get("processes", 0) >= 1 else None)(
                api.request("GET", "/api/v2/tasks/" + sleeper["id"])[1]), timeout=10)
        say("running task's progress:", json.dumps(shown["progress"]))

        status, hog = api.request("POST", "/api/v2/tasks", {"type": "hog", "capabilities": ["hog"],
                                                            "max_attempts": 1})
        assert status == 201, "submit answered %d: %s" % (status, hog)
        ended = wait_for("the hog's task to end", lambda: (lambda t: t if t["status"] in (
            "failed", "dead", "succeeded") else None)(api.request("GET", "/api/v2/tasks/" + hog["id"])[1]))
        say("hog task %s: %s" % (ended["status"], ended["error"]))
        if ended["status"] == "succeeded" or "memory quota exceeded" not in ended["error"] or \
                "memory_bytes is %d" % QUOTA not in ended["error"]:
            failures.append("the hog's task did not fail naming the memory quota: %s %r" %
                            (ended["status"], ended["error"]))

        on_task = (ended.get("progress") or {}).get("resources") or {}
        say("hog task's progress.resources:", json.dumps(on_task))
        if on_task.get("peak_resident_bytes", 0) <= QUOTA or \
                "memory quota exceeded" not in on_task.get("stopped_for", ""):
            failures.append("the hog's task does not show its sampled memory and the quota: %s" % on_task)

        status, summary = api.request("GET", "/api/v2/resources/tasks/" + hog["id"])
        say("hog summary:", json.dumps(summary))
        if status != 200 or summary.get("peak_resident_bytes", 0) <= QUOTA or \
                "memory quota exceeded" not in summary.get("stopped_for", "") or "ended_at_ms" not in summary:
            failures.append("GET /api/v2/resources/tasks/{id} of the hog: %d %s" % (status, summary))

        wait_for("the sleeper to finish", lambda: api.request("GET", "/api/v2/tasks/" + sleeper["id"])[1][
            "status"] == "succeeded")
        finished = wait_for("the sleeper's summary", lambda: next(
            (j for j in api.request("GET", "/api/v2/resources")[1]["finished"] if j["task_id"] == sleeper["id"]),
            None), timeout=10)
        if finished.get("stopped_for") or finished["peak_resident_bytes"] <= 0:
            failures.append("the sleeper's summary: %s" % finished)

        status, problem = api.request("GET", "/api/v2/resources/tasks/no-such-task")
        if status != 404:
            failures.append("an unknown task answered %d: %s" % (status, problem))

        concurrency(api, failures)
        admission(api, hive.port, failures)

        text = metrics(hive.port)
        kills = 'hive_resource_quota_kills_total{agent="hog",quota="memory_bytes"} 1'
        if kills not in text:
            failures.append("/metrics lacks %s" % kills)
    except AssertionError as error:
        failures.append(str(error))
    finally:
        code = hive.stop()
        if code != 0:
            failures.append("hive exited with %s" % code)
        report = hive.sanitizer_report()
        if report:
            failures.append("sanitizer report:\n" + report)
    finish("resources_quota_e2e", failures, workdir)


if __name__ == "__main__":
    main()
