#!/usr/bin/env python3
"""End to end: GET /metrics of a busy real hive passes `promtool check metrics`.

A hive with the platform's plugins and monitoring_engine (SQLite, in-process
bus, one process agent) and two remote agents (examples/agents/hive_agent.py)
runs --tasks tasks submitted over HTTP while other routes are hit (lists, a
404, the OpenAPI document). Then /metrics is scraped twice:
  - Prometheus text 0.0.4 (no Accept): `promtool check metrics` reports
    nothing (it lints names, units, HELP, counters' _total);
  - OpenMetrics (Accept: application/openmetrics-text): parsed by
    prometheus_client's strict OpenMetrics parser (Debian
    python3-prometheus-client), ends in `# EOF`, and carries the same samples
    as the text format.
Both: every family has HELP and TYPE, no label value is a task id or any id
the test was handed, and the HTTP series carry route templates. Tasks no
agent can run, under 3 capability sets, show in hive_tasks_queued with at
most queue_depth_series (2) sets of their own and the rest under "(other)".
The task series recorded from the task events (submitted, finished by
status, queue wait and run time histograms, oldest waiting task by set) and
the agent series (by status and runtime, breaker state) add up to what the
test did.

Usage: monitoring_metrics_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")


def say(*parts):
    print("monitoring_metrics_e2e:", *parts, flush=True)


def scrape(port, accept=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/metrics", headers={"Accept": accept} if accept else {})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, response.getheader("Content-Type"), body


def families(text):
    """{family: {"help": bool, "type": str}} and the sample lines of a text exposition."""
    found, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            found.setdefault(line.split(" ")[2], {})["help"] = True
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            found.setdefault(parts[2], {})["type"] = parts[3]
        elif line and not line.startswith("#"):
            samples.append(line)
    return found, samples


def label_values(sample):
    return re.findall(r'="((?:[^"\\]|\\.)*)"', sample.split("} ")[0] if "{" in sample else "")


def values(text):
    """{sample name and labels: value} of a text exposition."""
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def total(samples, prefix):
    return sum(v for k, v in samples.items() if k == prefix or k.startswith(prefix + "{"))


def check_task_and_agent_series(text, finished, failures):
    """`finished` tasks ran to the end (every 10th failed on purpose), 8 more wait."""
    samples = values(text)
    expected = {
        "hive_tasks_submitted_total": finished + 8,
        'hive_tasks_finished_total{status="failed"}': (finished + 9) // 10,
        'hive_tasks_finished_total{status="succeeded"}': finished - (finished + 9) // 10,
        'hive_tasks_finished_total{status="dead"}': 0,
        "hive_task_queue_wait_seconds_count": finished,
        'hive_agents_circuit{state="closed"}': 3,
        "hive_agents_went_offline_total": 0,
        "hive_task_events_unreadable_total": 0,
        "hive_tasks_untracked_total": 0,
    }
    for name, want in expected.items():
        if samples.get(name) != want:
            failures.append("%s is %s, expected %s" % (name, samples.get(name), want))
    ran = total(samples, "hive_task_run_seconds_count")
    if ran != finished:
        failures.append("hive_task_run_seconds counts %s runs, expected %d" % (ran, finished))
    by_runtime = {runtime: sum(v for k, v in samples.items() if k.startswith("hive_agents{") and
                               'runtime="%s"' % runtime in k) for runtime in ("remote", "process")}
    if by_runtime != {"remote": 2, "process": 1}:
        failures.append("hive_agents by runtime: %s, expected 2 remote and 1 process" % by_runtime)
    ages = {k: v for k, v in samples.items() if k.startswith("hive_tasks_queue_age_seconds{")}
    say("task series: submitted %s, run %s, queue ages %s, agents %s" %
        (samples.get("hive_tasks_submitted_total"), ran, ages, by_runtime))
    if len(ages) > 3 or 'hive_tasks_queue_age_seconds{capabilities="(other)"}' not in ages:
        failures.append("hive_tasks_queue_age_seconds is not bounded to 2 capability sets + (other): %s" % ages)
    if max(ages.values() or [0]) < 1:
        failures.append("the tasks nobody takes have not waited 1 s: %s" % ages)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    promtool = shutil.which("promtool")
    if not promtool:
        sys.exit("monitoring_metrics_e2e: promtool not found (Debian package prometheus; scripts/deps)")
    from prometheus_client.openmetrics import parser as openmetrics  # python3-prometheus-client

    workdir = tempfile.mkdtemp(prefix="hive-monitoring-")
    os.chmod(workdir, 0o711)  # process agents' jobs run as the sandbox uid
    port = free_port()
    config = os.path.join(workdir, "hive.yaml")
    script = 'task=$(cat); echo \'{"ok":true}\''
    with open(config, "w") as f:
        f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {workdir}/data
  control_socket: ""
  drain_deadline: 10s
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config:
      sweep_period: 200ms
  orchestrator:
    config:
      heartbeat_interval: 1s
      node: node0
  task_execution_engine:
    config:
      agents:
        - name: proc0
          command: ["/bin/sh", "-c", {script}]
          capabilities: [beta]
          workspace: {workdir}/workspace/proc0
          max_concurrency: 2
          timeout: 30s
  monitoring_engine:
    config:
      health_period: 1s
      queue_depth_series: 2
""".format(plugins=os.path.abspath(args.plugins), workdir=workdir, port=port,
           script=json.dumps(script.replace("$", "$$"))))
    log = open(os.path.join(workdir, "hive.log"), "ab")
    hive = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
    agents = []
    failures = []
    try:
        wait_ready(hive, port, log.name, "monitoring_metrics_e2e")
        for name in ("remote0", "remote1"):
            agent_log = open(os.path.join(workdir, name + ".log"), "ab")
            agents.append(subprocess.Popen(
                ["/usr/bin/python3", AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % port,
                 "--name", name, "--capabilities", "alpha", "--concurrency", "4"],
                stdout=agent_log, stderr=subprocess.STDOUT))
        api = Api(port)
        ids = []
        for n in range(args.tasks):
            capability = "alpha" if n % 2 == 0 else "beta"
            payload = {"n": n, "fail": "on purpose", "retryable": False} if n % 10 == 0 else {"n": n}
            status, task = api.request("POST", "/api/v2/tasks", {"type": "demo", "capabilities": [capability],
                                                                 "payload": payload, "max_attempts": 1})
            if status != 201:
                sys.exit("monitoring_metrics_e2e: submit answered %d: %s" % (status, task))
            ids.append(task["id"])
            if n % 20 == 0:
                api.request("GET", "/api/v2/tasks?limit=5")
                api.request("GET", "/api/v2/tasks/" + task["id"])
                api.request("GET", "/api/v2/tasks/no-such-task-%d" % n)
                api.request("GET", "/api/v2/agents")
        api.request("GET", "/api/v2/openapi.json")
        api.request("GET", "/no/such/route")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # Every task, not the last few: a queue still holding tasks would
            # blur the counts of the stuck tasks below.
            if total(values(scrape(port)[2]), "hive_tasks_finished_total") >= len(ids):
                break
            time.sleep(0.5)
        else:
            failures.append("tasks did not finish within 120 s")
        # Tasks nobody can run, under 3 capability sets: hive_tasks_queued counts
        # them, with at most queue_depth_series (2) sets + "(other)" as labels.
        for capability, count in (("nobody1", 5), ("nobody2", 2), ("nobody3", 1)):
            for _ in range(count):
                status, _ = api.request("POST", "/api/v2/tasks", {"type": "stuck", "capabilities": [capability]})
                if status != 201:
                    failures.append("submitting a %s task answered %d" % (capability, status))
        deadline = time.monotonic() + 15
        queued = {}
        while time.monotonic() < deadline:
            queued = {line.split("} ")[0]: float(line.split()[-1]) for line in scrape(port)[2].splitlines()
                      if line.startswith("hive_tasks_queued{")}
            if sum(queued.values()) == 8:
                break
            time.sleep(0.5)
        say("queue depth series:", queued)
        if sum(queued.values()) != 8:
            failures.append("hive_tasks_queued sums to %s, not the 8 tasks waiting" % sum(queued.values()))
        if len(queued) > 3 or 'hive_tasks_queued{capabilities="(other)"' not in queued:
            failures.append("hive_tasks_queued is not bounded to 2 capability sets + (other): %s" % queued)
        # Events and the agents' sweep arrive asynchronously: the figures must
        # settle on the right values, and the stuck tasks' age must grow.
        deadline = time.monotonic() + 15
        while True:
            problems = []
            check_task_and_agent_series(scrape(port)[2], len(ids), problems)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        failures.extend(problems)
        agent_ids = [a["id"] for a in api.request("GET", "/api/v2/agents")[1].get("items", [])]
        say("%d tasks submitted; agents %s" % (len(ids), agent_ids))

        status, content_type, text = scrape(port)
        if status != 200 or not content_type.startswith("text/plain; version=0.0.4"):
            failures.append("text scrape: %d %s" % (status, content_type))
        with open(os.path.join(workdir, "metrics.txt"), "w") as f:
            f.write(text)
        lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        say("promtool check metrics (text 0.0.4): exit %d, %d lines, %d series" %
            (lint.returncode, len(text.splitlines()), len(families(text)[1])))
        if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
            failures.append("promtool check metrics:\n" + lint.stdout + lint.stderr)

        status, content_type, om = scrape(port, "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
        if status != 200 or not content_type.startswith("application/openmetrics-text; version=1.0.0"):
            failures.append("OpenMetrics scrape: %d %s" % (status, content_type))
        if not om.endswith("# EOF\n"):
            failures.append("OpenMetrics exposition does not end with # EOF")
        try:
            parsed = list(openmetrics.text_string_to_metric_families(om))
            say("OpenMetrics parser: %d families" % len(parsed))
            for family in parsed:
                if family.type == "counter" and any(not s.name.endswith("_total") and not s.name.endswith(
                        "_created") for s in family.samples):
                    failures.append("OpenMetrics counter %s has a sample without _total" % family.name)
        except Exception as error:  # the parser's ValueError names the line
            failures.append("OpenMetrics parser refused the exposition: %s" % error)

        for name, text_form in (("text", text), ("OpenMetrics", om)):
            found, samples = families(text_form)
            for family, seen in sorted(found.items()):
                if not seen.get("help") or not seen.get("type"):
                    failures.append("%s: family %s lacks HELP or TYPE" % (name, family))
            forbidden = set(ids) | set(agent_ids)
            for sample in samples:
                for value in label_values(sample):
                    if value in forbidden or any(i in value for i in ids):
                        failures.append("%s: an id in a label: %s" % (name, sample))
            routes = {v for s in samples if s.startswith("hive_http_requests_total")
                      for v in re.findall(r'route="([^"]*)"', s)}
            if "/api/v2/tasks/{id}" not in routes:
                failures.append("%s: no hive_http_requests_total for the route template /api/v2/tasks/{id}: %s" %
                                (name, sorted(routes)))
            if not any(s.startswith("hive_http_request_duration_seconds_bucket{") and 'route="/api/v2/tasks"' in s
                       for s in samples):
                failures.append("%s: no request duration histogram by route" % name)
        text_samples = {s.rsplit(" ", 1)[0] for s in families(text)[1]}
        om_samples = {s.rsplit(" ", 1)[0] for s in families(om)[1]}
        missing = {s for s in text_samples if s not in om_samples and s.split("{")[0] + "_total" not in
                   {o.split("{")[0] for o in om_samples}}
        if missing:
            failures.append("OpenMetrics lacks samples of the text format: %s" % sorted(missing)[:5])

        # A remote agent killed: after the heartbeat window it is offline,
        # counted once, and no longer among the agents the node serves.
        agents[1].kill()
        agents[1].wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            samples = values(scrape(port)[2])
            remote = sum(v for k, v in samples.items() if k.startswith("hive_agents{") and 'runtime="remote"' in k)
            if samples.get("hive_agents_went_offline_total") == 1 and remote == 1:
                say("a killed agent went offline: hive_agents_went_offline_total 1, 1 remote agent left")
                break
            time.sleep(0.5)
        else:
            failures.append("a killed agent: hive_agents_went_offline_total %s, remote agents %s (expected 1, 1)" %
                            (samples.get("hive_agents_went_offline_total"), remote))
    except AssertionError as error:
        failures.append(str(error))
    finally:
        for agent in agents:
            agent.terminate()
            agent.wait(10)
        if hive.poll() is None:
            hive.send_signal(signal.SIGTERM)
            try:
                hive.wait(30)
            except subprocess.TimeoutExpired:
                hive.kill()
    for failure in failures:
        say("FAIL:", failure)
    if failures:
        say("kept", workdir)
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)
    say("ok")


if __name__ == "__main__":
    main()
