#!/usr/bin/env python3
"""End to end: /readyz tells the truth while PostgreSQL or Redis is down.

A hive on the production shape (storage_postgres, communication_engine on
Redis, task_manager, orchestrator, a process agent, monitoring_engine with its
default health_period of 5 s) runs against its own PostgreSQL and Redis
(scripts/test-servers with a private HIVE_TEST_SERVERS_DIR, so that killing
them disturbs no other test). A submitter keeps POSTing tasks the whole time.

  1. kill -9 redis-server → GET /readyz is 503 within --within (10 s), its
     problem+json names communication_engine in `checks`;
     /api/v2/observability/health shows it unhealthy with the error;
  2. redis-server again on the same port → /readyz 200 within 10 s;
  3. the same with PostgreSQL (kill -9 of the postmaster, then pg_ctl start on
     the same port): 503 naming storage_postgres, then 200;
  4. every task acknowledged with 201 — before, during and after the outages —
     still exists and reaches a terminal state: nothing acknowledged is lost.

Usage: monitoring_readiness_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_SERVERS = os.path.join(ROOT, "scripts", "test-servers")
TERMINAL = ("succeeded", "failed", "dead", "cancelled")


def say(*parts):
    print("monitoring_readiness_e2e:", *parts, flush=True)


class Servers:
    """PostgreSQL and Redis of this test only, killed and restarted at will."""

    def __init__(self, directory):
        self.dir = directory
        self.env = dict(os.environ, HIVE_TEST_SERVERS_DIR=directory)
        out = subprocess.run([TEST_SERVERS, "start"], env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("monitoring_readiness_e2e: test-servers start failed: " + out.stderr)
        self.exports = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines()
                            if line.startswith("export "))
        self.redis_port = int(open(os.path.join(directory, "redis.port")).read())
        self.pg_port = int(open(os.path.join(directory, "pg.port")).read())
        self.pg_bin = sorted(d for d in (os.path.join("/usr/lib/postgresql", v, "bin")
                                         for v in os.listdir("/usr/lib/postgresql")) if os.path.isdir(d))[-1]

    def kill_redis(self):
        pid = int(open(os.path.join(self.dir, "redis.pid")).read())
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)

    def start_redis(self):
        subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--dir",
                        os.path.join(self.dir, "redis"), "--daemonize", "yes", "--pidfile",
                        os.path.join(self.dir, "redis.pid"), "--logfile", os.path.join(self.dir, "redis.log"),
                        "--appendonly", "yes", "--save", ""], check=True, stdout=subprocess.DEVNULL)

    def kill_postgres(self):
        pid = int(open(os.path.join(self.dir, "pg", "postmaster.pid")).readline())
        os.kill(pid, signal.SIGKILL)  # a crash: its backends exit when they notice
        wait_gone(pid)

    def start_postgres(self):
        command = [os.path.join(self.pg_bin, "pg_ctl"), "-D", os.path.join(self.dir, "pg"), "-l",
                   os.path.join(self.dir, "pg-socket", "postgres.log"), "-w", "-t", "60", "-o",
                   "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300" %
                   (self.pg_port, os.path.join(self.dir, "pg-socket")), "start"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--"] + command
        # The killed postmaster's children may hold the port for a moment.
        for _ in range(50):
            if subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError("PostgreSQL did not start again on port %d" % self.pg_port)

    def stop(self):
        subprocess.run([TEST_SERVERS, "stop"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_gone(pid, limit=10):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


class Submitter(threading.Thread):
    """POSTs a task every 50 ms; remembers every id acknowledged with 201."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.api = Api(port, attempts=1)
        self.acknowledged = []
        self.refused = 0
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            try:
                status, body = self.api.request("POST", "/api/v2/tasks", {"type": "demo", "capabilities": ["sh"],
                                                                         "payload": {"n": n}, "timeout_seconds": 5,
                                                                         "max_attempts": 10}, timeout=15)
                if status == 201:
                    self.acknowledged.append(body["id"])
                else:
                    self.refused += 1
            except Exception:  # a refused connection or a timeout is not an acknowledgement
                self.refused += 1
            time.sleep(0.05)


def readyz(api):
    try:
        return api.request("GET", "/readyz", timeout=5)
    except Exception as error:
        return 0, {"error": str(error)}


def wait_readyz(api, want, within, who):
    """Seconds until /readyz answers `want`; fails past `within`."""
    begin = time.monotonic()
    while time.monotonic() - begin < within:
        status, body = readyz(api)
        if status == want:
            return time.monotonic() - begin, body
        time.sleep(0.1)
    status, body = readyz(api)
    raise AssertionError("/readyz is %d, not %d, %.0f s after %s: %s" % (status, want, within, who, body))


def outage(api, servers, name, plugin, kill, restart, within, failures):
    kill()
    took, body = wait_readyz(api, 503, within, "killing " + name)
    checks = [c.get("name") for c in body.get("checks", [])]
    say("%s killed: /readyz 503 after %.1f s: %s" % (name, took, body.get("detail")))
    if plugin not in checks:
        failures.append("%s down: /readyz checks %s do not name %s" % (name, checks, plugin))
    status, detail = api.request("GET", "/api/v2/observability/health")
    states = {p["name"]: p for p in detail.get("plugins", [])}
    if status != 200 or states.get(plugin, {}).get("healthy") is not False or not states[plugin].get("error"):
        failures.append("%s down: /api/v2/observability/health says %s" % (name, states.get(plugin)))
    restart()
    took, _ = wait_readyz(api, 200, within, "restarting " + name)
    say("%s restarted: /readyz 200 after %.1f s" % (name, took))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--within", type=float, default=10.0)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="hive-readiness-")
    os.chmod(workdir, 0o711)  # the sandboxed process agent must reach its workspace
    servers = Servers(os.path.join(workdir, "servers"))
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
    required: true
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_postgres:
    required: true
    config:
      url: {pg}
      schema: readiness
  communication_engine:
    required: true
    config:
      transport: redis
      redis:
        url: {redis}
  task_manager:
    config: {{}}
  orchestrator:
    config:
      node: node1
  task_execution_engine:
    config:
      agents:
        - name: sh
          command: ["/bin/sh", "-c", {script}]
          capabilities: [sh]
          workspace: {workdir}/workspace
          max_concurrency: 4
          timeout: 30s
  monitoring_engine:
    config: {{}}
""".format(plugins=os.path.abspath(args.plugins), workdir=workdir, port=port,
           pg=json.dumps(servers.exports["HIVE_TEST_POSTGRES_URL"]),
           redis=json.dumps(servers.exports["HIVE_TEST_REDIS_URL"]), script=json.dumps(script.replace("$", "$$"))))
    log = open(os.path.join(workdir, "hive.log"), "ab")
    hive = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
    failures = []
    submitter = None
    try:
        wait_ready(hive, port, log.name, "monitoring_readiness_e2e")
        api = Api(port)
        # A first poll must have seen every plugin healthy.
        wait_readyz(api, 200, 15, "start-up")
        submitter = Submitter(port)
        submitter.start()
        time.sleep(2)
        outage(api, servers, "Redis", "communication_engine", servers.kill_redis, servers.start_redis,
               args.within, failures)
        time.sleep(2)
        outage(api, servers, "PostgreSQL", "storage_postgres", servers.kill_postgres, servers.start_postgres,
               args.within, failures)
        time.sleep(2)
        submitter.halt.set()
        submitter.join(30)
        ids = submitter.acknowledged
        say("%d tasks acknowledged, %d submissions refused or failed" % (len(ids), submitter.refused))
        deadline = time.monotonic() + 120
        unfinished = list(ids)
        while unfinished and time.monotonic() < deadline:
            still = []
            for task_id in unfinished:
                status, task = api.request("GET", "/api/v2/tasks/" + task_id)
                if status == 404:
                    failures.append("acknowledged task %s is lost (404)" % task_id)
                elif status != 200 or task["status"] not in TERMINAL:
                    still.append(task_id)
            unfinished = still
            if unfinished:
                time.sleep(1)
        if unfinished:
            states = [api.request("GET", "/api/v2/tasks/" + i)[1] for i in unfinished[:3]]
            failures.append("%d acknowledged tasks not finished within 120 s, e.g. %s" %
                            (len(unfinished), json.dumps(states)[:1500]))
        if not ids:
            failures.append("no task was acknowledged")
    except AssertionError as error:
        failures.append(str(error))
    finally:
        if submitter:
            submitter.halt.set()
        if hive.poll() is None:
            hive.send_signal(signal.SIGTERM)
            try:
                hive.wait(60)
            except subprocess.TimeoutExpired:
                hive.kill()
        servers.stop()
    for failure in failures:
        say("FAIL:", failure)
    if failures:
        with open(log.name, "rb") as f:
            print(f.read().decode(errors="replace")[-3000:])
        say("kept", workdir)
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)
    say("ok")


if __name__ == "__main__":
    main()
