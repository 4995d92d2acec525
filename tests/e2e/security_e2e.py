#!/usr/bin/python3
"""End to end: security_manager in the real `hive` with every in-tree plugin
that starts on SQLite, the api listening on 0.0.0.0 (allowed because a
hive.auth/1 provider runs).

Checks, in order:
  1. `hive auth keys create` makes the first admin key while no hive runs
     (the key alone on stdout).
  2. hive starts on 0.0.0.0; /livez, /readyz, /health answer without a key;
     every other route answers 401 problem+json with WWW-Authenticate when no
     or a bad key is sent, from loopback too (no implicit trust).
  3. The route table: every HTTP route of GET /api/v2/openapi.json names a
     permission (x-hive-permission) unless it is /livez, /readyz or /health.
  4. The RBAC matrix: a key per built-in role (made over the API), then every
     route x every role: 403 when the role lacks the route's permission
     (GET /api/v2/security/roles), otherwise anything but 401/403.
  5. WebSocket routes: /api/v2/agents/connect upgrades with an agent key and
     refuses a viewer key (403) and no key (401); /api/v2/ws needs events:read.
  6. Keys made and revoked by the CLI while hive runs apply within
     refresh_interval; a revocation over the API applies at once; listing never
     shows a secret.
  7. No secret leaks: no key's secret appears in any file of the data
     directory (SQLite database and WAL included), in hive's log or in the
     CLI's stderr.
  8. SIGTERM: exit status 0, no sanitizer report.
  10. (before 9) The audit log holds refused and state-changing requests and
      key changes, no allowed read and no secret; `hive audit verify` (while
      hive runs) finds the chain intact.
  9. (before 8) A config reload that removes security_manager leaves every
     permissioned route answering 503, not served unchecked.
  11. (before 10) Tenants (hive.tenancy/1): with keys of tenants acme and
     globex, each sees only its own tasks (list, get, cancel, the durable
     event log, /api/v2/ws events live and replayed); another tenant's task is
     404; an Idempotency-Key is per tenant; the stats, which span tenants, are
     403 to them; the admin sees every tenant's tasks.
  12. (after 11) Tenants' tasks run on their own agents: a remote agent
     (examples/agents/hive_agent.py) per tenant, acme, globex and the default
     one, each with an agent key of its tenant and the same capability; each
     tenant's tasks are run by its own agent only, the agents carry their
     tenant, and an acme key cannot take over globex's agent id.
  13. (after 12) Tenants beyond tasks, through the real security_manager:
     acme and globex register a workflow of one name (two workflows), start a
     run each with one Idempotency-Key (two runs); another tenant's run and
     batch are 404 and unlisted; the run's step task and a batch's chunk
     tasks are the tenant's (listed by it, 404 to the other); the admin sees
     both tenants' runs and batches.
  14. (after 13) Messages between agents, per tenant: agents of acme, globex
     and the default tenant on real WebSockets, each with its agent key and
     the same role; a tenant's client reaches its own agent (202) and not
     another tenant's (404); a role broadcast reaches the sender's tenant's
     agents only; an agent cannot message another tenant's agent; each
     tenant's GET /api/v2/messages lists its own messages only.
  15. (after 14) Projects: an acme operator creates project site; a key bound
     to it submits tasks that join it and sees no other task of acme; globex
     does not see acme's site; the bound key's /api/v2/ws replay holds site's
     events only; the export, followed through its Link headers,
     holds the project, its tasks, their events and the bound key's audit
     entries; the erasure deletes the tasks, turns their events into
     tombstones (no event holds the tasks' payload marker any more), revokes
     the bound key, keeps acme's other task and is audited.

    security_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]

Exit status 0 when every check passed.
"""
import argparse
import asyncio
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import websockets

PUBLIC = {"/livez", "/readyz", "/health"}
# Without a permission by design, each for its reason: the dashboard's page and
# files hold no data, its session route says only whether a key is needed
# (docs/dashboard.md); an inbound webhook
# is authenticated by its HMAC signature, not a key (docs/integrations.md).
NO_KEY = PUBLIC | {"/", "/dashboard", "/dashboard/", "/dashboard/{file}", "/dashboard/assets/{file}",
                   "/api/v2/dashboard/session", "/api/v2/integrations/webhooks/{name}", "/api/v2/hooks/{name}"}
# Everything in-tree that runs on SQLite without a server of its own.
WANTED = ("storage_sqlite", "communication_engine", "security_manager", "security_engine", "api", "task_manager", "orchestrator",
          "task_execution_engine", "monitoring_engine", "workflow_engine", "communication_manager", "context_manager",
          "integration_engine", "data_processing_engine", "resource_manager", "optimization_engine", "dashboard")
ROLES = ("admin", "operator", "submitter", "agent", "viewer")
REFRESH_S = 0.5

failures = []


def say(*parts):
    print("security:", *parts, flush=True)


def check(condition, what):
    if not condition:
        failures.append(what)
        say("FAIL:", what)
    return condition


def sanitizer_env():
    env = dict(os.environ)
    options = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o]
    if not any(o.startswith("intercept_tls_get_addr=") for o in options):
        options.append("intercept_tls_get_addr=0")
    env["ASAN_OPTIONS"] = ":".join(options)
    return env


class Client:
    def __init__(self, port):
        self.port = port
        self.connection = None

    def request(self, method, path, key=None, body=None, headers=None):
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        data = None
        if body is not None:
            data = body if isinstance(body, str) else json.dumps(body)
            h["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.connection.request(method, path, body=data, headers=h)
                response = self.connection.getresponse()
                text = response.read()
                if (response.getheader("Connection") or "").lower() == "close":
                    self.close()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, text
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def upgrade(port, path, key, protocol):
    """The status of a WebSocket upgrade request (101 when accepted)."""
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Protocol: " + protocol]
    if key:
        lines.append("Authorization: Bearer " + key)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = s.recv(4096).decode(errors="replace")
    return int(head.split(" ", 2)[1])


class Hive:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.plugins = os.path.join(workdir, "plugins")
        self.data = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "hive.yaml")
        self.log_path = os.path.join(workdir, "hive.log")
        self.cli_errors = []  # every CLI stderr, for the leak check
        self.process = None
        self.port = None
        os.makedirs(self.plugins)
        self.present = []
        for name in WANTED:
            files = glob.glob(os.path.join(args.plugins, name + "-*.so"))
            if not files:
                if name in ("storage_sqlite", "security_manager", "api", "task_manager"):
                    raise SystemExit("security: no %s-*.so in %s" % (name, args.plugins))
                continue
            for path in files:
                shutil.copy(path, self.plugins)
            self.present.append(name)
        sections = {
            "api": "    config:\n      listen: 0.0.0.0:0\n      allow_insecure: true\n      access_log: true\n",
            # Limits far above what the matrix sends: this test is about who may do what, not how often
            # (security_limits_e2e.py is); the limiter still runs on every request.
            "security_manager": "    config:\n      refresh_interval: %dms\n      rate_limits:\n"
                                "        read: {rate: 1000/s, burst: 10000}\n"
                                "        write: {rate: 1000/s, burst: 10000}\n"
                                "        failed_auth: {rate: 1000/s, burst: 10000}\n" % int(REFRESH_S * 1000),
            "task_execution_engine": "    config:\n      agents: []\n",
        }
        text = "hive:\n  plugin_dirs: [%s]\n  data_dir: %s\n  control_socket: %s\n  log_level: info\n" % (
            self.plugins, self.data, os.path.join(workdir, "hive.sock"))
        text += "plugins:\n"
        for name in self.present:
            text += "  %s:\n" % name + sections.get(name, "    config: {}\n")
        with open(self.config, "w") as f:
            f.write(text)

    def cli(self, *arguments):
        done = subprocess.run([self.args.hive, "auth", "keys"] + list(arguments) + ["-c", self.config],
                              capture_output=True, text=True, timeout=120, env=sanitizer_env())
        self.cli_errors.append(done.stderr)
        return done

    def start(self, timeout=120):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([self.args.hive, "run", "-c", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=sanitizer_env())
        port_file = os.path.join(self.data, "api", "port")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("security: hive exited with %s; see %s" % (self.process.returncode, self.log_path))
            if self.port is None and os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                self.port = int(text) if text.isdigit() else None
            if self.port is not None:
                try:
                    if Client(self.port).request("GET", "/readyz")[0] == 200:
                        return
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.1)
        raise SystemExit("security: hive not ready within %d s; see %s" % (timeout, self.log_path))

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class EventFollower(threading.Thread):
    """/api/v2/ws with `key`, subscribed to `tasks` (from `since` when given):
    the task ids of every event it gets until stop()."""

    def __init__(self, port, key, since=None):
        super().__init__(daemon=True)
        self.port, self.key, self.since = port, key, since
        self.task_ids = []
        self.last_id = None
        self.subscribed = threading.Event()
        self.stopping = False

    def run(self):
        asyncio.run(self.follow())

    async def follow(self):
        async with websockets.connect("ws://127.0.0.1:%d/api/v2/ws" % self.port, subprotocols=["hive.v1"],
                                      extra_headers={"Authorization": "Bearer " + self.key}) as ws:
            subscribe = {"type": "subscribe", "id": "s", "topic": "tasks"}
            if self.since:
                subscribe["payload"] = {"since": self.since}
            await ws.send(json.dumps(subscribe))
            while not self.stopping:
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                except asyncio.TimeoutError:
                    continue
                if message.get("type") == "subscribed":
                    self.subscribed.set()
                elif message.get("type") == "event":
                    self.last_id = message["id"]
                    self.task_ids.append(message["payload"]["task"]["id"])

    def stop(self):
        self.stopping = True
        self.join(10)


def check_tenants(api, port, admin, keys):
    """11. Tenant isolation across list, get, cancel, the event log and the WebSocket."""
    tenant_keys = {}
    for tenant in ("acme", "globex"):
        status, _, text = api.request("POST", "/api/v2/security/keys", key=admin,
                                      body={"name": "t-" + tenant, "role": "submitter", "tenant": tenant})
        check(status == 201, "a submitter key of tenant %s: %d %s" % (tenant, status, text[:200]))
        tenant_keys[tenant] = json.loads(text)["key"]
        keys.append(tenant_keys[tenant])
    followers = {tenant: EventFollower(port, key) for tenant, key in tenant_keys.items()}
    for follower in followers.values():
        follower.start()
        check(follower.subscribed.wait(10), "a tenant's key follows /api/v2/ws")
    before = json.loads(api.request("GET", "/api/v2/tasks/events?limit=1", key=admin)[2])["last_id"]
    mine = {}
    for tenant, key in tenant_keys.items():
        mine[tenant] = []
        for n in range(3):
            status, _, text = api.request("POST", "/api/v2/tasks", key=key, body={"type": "t", "payload": {"n": n}},
                                          headers={"Idempotency-Key": "same-key-%d" % n})
            check(status in (200, 201, 202), "%s submits a task: %d %s" % (tenant, status, text[:200]))
            task = json.loads(text)
            check(task.get("tenant") == tenant, "the task carries tenant %s: %r" % (tenant, task.get("tenant")))
            mine[tenant].append(task["id"])
    check(not set(mine["acme"]) & set(mine["globex"]),
          "the same Idempotency-Key in two tenants makes two tasks, not one")
    for tenant, key in tenant_keys.items():
        other = "globex" if tenant == "acme" else "acme"
        listed = {t["id"] for t in json.loads(api.request("GET", "/api/v2/tasks?limit=1000", key=key)[2])["items"]}
        check(listed == set(mine[tenant]), "%s lists its 3 tasks and no other: %s" % (tenant, sorted(listed)))
        check(api.request("GET", "/api/v2/tasks/" + mine[tenant][0], key=key)[0] == 200, "%s gets its task" % tenant)
        for path in ("/api/v2/tasks/" + mine[other][0],):
            status, _, text = api.request("GET", path, key=key)
            check(status == 404, "%s gets %s's task: 404, got %d" % (tenant, other, status))
        status = api.request("POST", "/api/v2/tasks/%s/cancel" % mine[other][1], key=key)[0]
        check(status == 404, "%s cancels %s's task: 404, got %d" % (tenant, other, status))
        check(api.request("GET", "/api/v2/tasks/stats", key=key)[0] == 403, "the stats are 403 to a tenant")
        page = json.loads(api.request("GET", "/api/v2/tasks/events?limit=10000&after=%d" % before, key=key)[2])
        seen = {item["data"]["task"]["id"] for item in page["items"] if "task" in item["data"]}
        check(seen == set(mine[tenant]), "%s's event log holds its tasks only: %s" % (tenant, sorted(seen)))
    status = api.request("GET", "/api/v2/tasks/" + mine["globex"][1], key=admin)[0]
    check(status == 200, "the admin gets any tenant's task: %d" % status)
    listed = {t["id"] for t in json.loads(api.request("GET", "/api/v2/tasks?limit=1000", key=admin)[2])["items"]}
    check(set(mine["acme"]) | set(mine["globex"]) <= listed, "the admin lists every tenant's tasks")
    listed = {t["id"] for t in json.loads(api.request("GET", "/api/v2/tasks?tenant=acme&limit=1000",
                                                      key=admin)[2])["items"]}
    check(listed == set(mine["acme"]), "the admin filters by ?tenant=acme")
    everything = set(mine["acme"]) | set(mine["globex"])
    check(until(lambda: set(followers["acme"].task_ids) >= set(mine["acme"]) and
                set(followers["globex"].task_ids) >= set(mine["globex"])), "each follower got its tenant's events")
    time.sleep(0.5)  # anything that should not arrive has had time to
    for tenant, follower in followers.items():
        follower.stop()
        foreign = set(follower.task_ids) & (everything - set(mine[tenant]))
        check(not foreign, "%s's WebSocket got no other tenant's event: %s" % (tenant, sorted(foreign)))
    # Replayed events are filtered too: follow acme again from the start of the history.
    replay = EventFollower(port, tenant_keys["acme"], since="0")
    replay.start()
    check(replay.subscribed.wait(10), "a replaying follower subscribes")
    check(until(lambda: set(replay.task_ids) >= set(mine["acme"])), "the replay gives acme its tasks' events")
    replay.stop()
    foreign = set(replay.task_ids) & set(mine["globex"])
    check(not foreign, "acme's replay holds no globex event: %s" % sorted(foreign))
    say("tenants: acme and globex see their 3 tasks each (list, get, event log, WebSocket live and replayed), "
        "404 for the other's, the admin sees all")


def check_tenant_objects(api, admin, keys):
    """Workflows, runs and batches of two tenants, with their keys (plugins act for the tenant)."""
    tenant_keys = {}
    for tenant in ("acme", "globex"):
        status, _, text = api.request("POST", "/api/v2/security/keys", key=admin,
                                      body={"name": "w-" + tenant, "role": "submitter", "tenant": tenant})
        check(status == 201, "a submitter key of tenant %s: %d %s" % (tenant, status, text[:200]))
        tenant_keys[tenant] = json.loads(text)["key"]
        keys.append(tenant_keys[tenant])
    definition = {"name": "nightly", "steps": [
        {"name": "only", "task": {"type": "tenant-e2e", "capabilities": ["tenant-e2e-none"], "payload": {}}}]}
    runs, batches = {}, {}
    for tenant, key in tenant_keys.items():
        status, _, text = api.request("POST", "/api/v2/workflows", key=key, body=definition)
        check(status == 201, "%s registers workflow nightly: %d %s" % (tenant, status, text[:200]))
        check(json.loads(text).get("version") == 1, "%s's nightly is its own, version 1" % tenant)
        status, _, text = api.request("POST", "/api/v2/workflows/nightly/runs", key=key, body={},
                                      headers={"Idempotency-Key": "tenant-e2e"})
        check(status == 201, "%s starts a run: %d %s" % (tenant, status, text[:200]))
        runs[tenant] = json.loads(text)["id"]
        check(json.loads(text).get("tenant") == tenant, "%s's run carries its tenant" % tenant)
        status, _, text = api.request("POST", "/api/v2/batches", key=key, body={
            "input": {"items": [1, 2, 3]}, "chunk_size": 1, "parallelism": 3,
            "task": {"type": "tenant-e2e", "capabilities": ["tenant-e2e-none"]}})
        check(status == 201, "%s starts a batch: %d %s" % (tenant, status, text[:200]))
        batches[tenant] = json.loads(text)["id"]
    check(runs["acme"] != runs["globex"], "one Idempotency-Key in two tenants starts two runs")
    check(api.request("GET", "/api/v2/workflows/nightly", key=admin)[0] == 404,
          "the default tenant has no workflow nightly")

    def ids(path, key):
        status, _, text = api.request("GET", path, key=key)
        check(status == 200, "GET %s: %d %s" % (path, status, text[:200]))
        return {item["id"] for item in json.loads(text)["items"]}

    def step_task(tenant):
        status, _, text = api.request("GET", "/api/v2/workflows/runs/" + runs[tenant], key=tenant_keys[tenant])
        return json.loads(text)["steps"][0].get("task_id") if status == 200 else None

    check(until(lambda: step_task("acme") and step_task("globex")), "each run's step has its task")
    for tenant, key in tenant_keys.items():
        other = "globex" if tenant == "acme" else "acme"
        for path in ("/api/v2/workflows/runs/" + runs[other], "/api/v2/batches/" + batches[other],
                     "/api/v2/batches/%s/results" % batches[other], "/api/v2/tasks/" + step_task(other)):
            status = api.request("GET", path, key=key)[0]
            check(status == 404, "%s reads %s: 404, got %d" % (tenant, path, status))
        status = api.request("POST", "/api/v2/workflows/runs/%s/cancel" % runs[other], key=key)[0]
        check(status == 404, "%s cancels the other's run: 404, got %d" % (tenant, status))
        check(ids("/api/v2/workflows/runs", key) == {runs[tenant]}, "%s lists its run only" % tenant)
        check(ids("/api/v2/batches", key) == {batches[tenant]}, "%s lists its batch only" % tenant)
        status, _, text = api.request("GET", "/api/v2/tasks/" + step_task(tenant), key=key)
        check(status == 200 and json.loads(text).get("tenant") == tenant,
              "the run's step task is %s's: %d %s" % (tenant, status, text[:200]))
        check(until(lambda: len([t for t in json.loads(api.request("GET", "/api/v2/tasks?limit=1000", key=key)[2])
                                 ["items"] if t["type"] == "tenant-e2e"]) == 4),
              "%s lists its run's task and its batch's 3 chunk tasks" % tenant)
    check(ids("/api/v2/workflows/runs", admin) >= set(runs.values()), "the admin lists both tenants' runs")
    check(ids("/api/v2/batches", admin) >= set(batches.values()), "the admin lists both tenants' batches")
    for tenant, key in tenant_keys.items():
        api.request("POST", "/api/v2/workflows/runs/%s/cancel" % runs[tenant], key=key)
        api.request("POST", "/api/v2/batches/%s/cancel" % batches[tenant], key=key)
    say("tenants beyond tasks: one workflow name in two tenants, runs, batches and their tasks kept apart "
        "(404, lists), the admin sees both")


def check_tenant_messages(api, port, admin, keys):
    """Messages between agents of three tenants: each reaches its own tenant only."""
    tenants = ("acme", "globex", "")
    agent_keys, client_keys = {}, {}
    for tenant in tenants:
        for role, into in (("agent", agent_keys), ("submitter", client_keys)):
            body = {"name": "msg-%s-%s" % (role, tenant or "default"), "role": role}
            if tenant:
                body["tenant"] = tenant
            status, _, text = api.request("POST", "/api/v2/security/keys", key=admin, body=body)
            check(status == 201, "a %s key of tenant %r: %d %s" % (role, tenant, status, text[:200]))
            into[tenant] = (body["name"], json.loads(text)["key"])
            keys.append(into[tenant][1])

    async def scenario():
        sockets, ids = {}, {}
        for tenant in tenants:
            name, key = agent_keys[tenant]
            ws = await websockets.connect("ws://127.0.0.1:%d/api/v2/agents/connect" % port,
                                          subprotocols=["hive.agent.v1"],
                                          extra_headers={"Authorization": "Bearer " + key})
            await ws.send(json.dumps({"type": "hello", "name": name, "role": "tenancy-worker"}))
            ids[tenant] = (await next_frame(ws, "welcome"))["agent_id"]
            # Frames are handled in order: once this is answered the agent is in the directory.
            await ws.send(json.dumps({"type": "heartbeat"}))
            await next_frame(ws, "heartbeat.ack")
            sockets[tenant] = ws

        def send(tenant, to, body):
            status, _, text = api.request("POST", "/api/v2/messages", key=client_keys[tenant][1],
                                          body={"to": to, "body": body})
            return status, (json.loads(text) if text else {})

        status, answer = send("acme", ids["acme"], {"n": 1})
        check(status == 202 and answer.get("recipients") == [ids["acme"]],
              "acme's client reaches acme's agent: %d %s" % (status, answer))
        for other in ("globex", ""):
            status, _ = send("acme", ids[other], {"n": 2})
            check(status == 404, "acme's client cannot reach %r's agent: 404, got %d" % (other, status))
        status, answer = send("globex", "role:tenancy-worker", {"n": 3})
        check(status == 202 and answer.get("recipients") == [ids["globex"]],
              "a role broadcast reaches the sender's tenant's agents only: %s" % answer)
        await sockets["acme"].send(json.dumps({"type": "message.send", "to": ids["globex"], "body": {},
                                               "ref": "cross"}))
        error = await next_frame(sockets["acme"], "error")
        check(error.get("ref") == "cross" and error.get("reason") == "unknown_recipient",
              "acme's agent cannot message globex's agent: %s" % error)
        got = await next_frame(sockets["acme"], "message")
        check(got.get("body") == {"n": 1}, "acme's agent gets its message: %s" % got)
        got = await next_frame(sockets["globex"], "message")
        check(got.get("body") == {"n": 3}, "globex's agent gets the broadcast: %s" % got)
        for tenant in tenants:
            await sockets[tenant].close()
        return ids

    kept = {}  # frames read while waiting for another type, per socket

    async def next_frame(ws, kind, timeout=10.0):
        waiting = kept.setdefault(id(ws), [])
        for i, frame in enumerate(waiting):
            if frame.get("type") == kind:
                return waiting.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
            if frame.get("type") == kind:
                return frame
            waiting.append(frame)

    ids = asyncio.run(scenario())
    for tenant in tenants:
        status, _, text = api.request("GET", "/api/v2/messages?limit=1000", key=client_keys[tenant][1])
        check(status == 200, "GET /api/v2/messages as %r: %d" % (tenant, status))
        recipients = {item.get("recipient") for item in json.loads(text)["items"]}
        foreign = recipients & {ids[t] for t in tenants if t != tenant}
        check(not foreign, "%r lists no other tenant's message: %s" % (tenant, sorted(foreign)))
    status = api.request("GET", "/api/v2/messages?agent=" + ids["acme"], key=client_keys["globex"][1])[0]
    check(status == 404, "globex asks for acme's agent's messages: 404, got %d" % status)
    say("messages: three tenants' agents on one role, each reached by its own tenant only "
        "(REST, broadcast, agent to agent, the message list)")


def check_tenant_dispatch(api, port, admin, keys):
    """Three agents with one capability, one per tenant: each runs its tenant's tasks only."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "agents",
                          "hive_agent.py")
    agents, submitters = {}, {}
    processes = []
    capability = "tenancy-e2e"
    state_file = tempfile.mktemp(prefix="hive-globex-agent-")
    try:
        for tenant in ("acme", "globex", ""):
            name = "agent-" + (tenant or "default")
            body = {"name": name, "role": "agent"}
            if tenant:
                body["tenant"] = tenant
            status, _, text = api.request("POST", "/api/v2/security/keys", key=admin, body=body)
            check(status == 201, "an agent key of tenant %r: %d %s" % (tenant, status, text[:200]))
            agents[tenant] = (name, json.loads(text)["key"])
            keys.append(agents[tenant][1])
            body = {"name": "submit-" + (tenant or "default"), "role": "submitter"}
            if tenant:
                body["tenant"] = tenant
            status, _, text = api.request("POST", "/api/v2/security/keys", key=admin, body=body)
            check(status == 201, "a submitter key of tenant %r: %d" % (tenant, status))
            submitters[tenant] = json.loads(text)["key"]
            keys.append(submitters[tenant])
            command = ["/usr/bin/python3", script, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % port,
                       "--name", name, "--capabilities", capability, "--concurrency", "4",
                       "--token", agents[tenant][1]]
            if tenant == "globex":
                command += ["--state-file", state_file]
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def connected():
            status, _, text = api.request("GET", "/api/v2/agents?limit=1000", key=admin)
            if status != 200:
                return None
            found = {a["name"]: a for a in json.loads(text)["items"] if a["name"].startswith("agent-")}
            online = {n: a for n, a in found.items() if a["status"] in ("idle", "busy")}
            return online if len(online) == 3 else None
        check(until(lambda: connected() is not None, 20), "the three tenants' agents connect")
        online = connected() or {}
        for tenant, (name, _) in agents.items():
            shown = online.get(name, {}).get("tenant", "")
            check(shown == tenant, "agent %s carries tenant %r, got %r" % (name, tenant, shown))

        submitted = {}
        for tenant, key in submitters.items():
            submitted[tenant] = []
            for n in range(4):
                status, _, text = api.request("POST", "/api/v2/tasks", key=key,
                                              body={"type": "whose", "capabilities": [capability], "payload": {"n": n}})
                check(status == 201, "tenant %r submits: %d %s" % (tenant, status, text[:200]))
                submitted[tenant].append(json.loads(text)["id"])

        def finished(task_id):
            status, _, text = api.request("GET", "/api/v2/tasks/" + task_id, key=admin)
            task = json.loads(text) if status == 200 else {}
            return task if task.get("status") in ("succeeded", "failed", "dead") else None
        every = [t for ids in submitted.values() for t in ids]
        check(until(lambda: all(finished(t) for t in every), 30), "every tenant's tasks finish")
        for tenant, ids in submitted.items():
            ran_on = {(finished(t) or {}).get("result", {}).get("agent") for t in ids}
            check(ran_on == {agents[tenant][0]},
                  "tenant %r's tasks ran on its own agent %s only: %s" % (tenant, agents[tenant][0], ran_on))

        # A key of acme bound to the name agent-globex cannot come back as globex's
        # agent, even with its id and secret: only the tenant check is left to refuse it.
        with open(state_file) as state:
            saved = json.load(state)
        status, _, text = api.request("POST", "/api/v2/security/keys", key=admin,
                                      body={"name": "acme-impostor", "role": "agent", "tenant": "acme",
                                            "agent": "agent-globex"})
        check(status == 201, "an acme agent key for the name agent-globex: %d %s" % (status, text[:200]))
        impostor = json.loads(text)["key"]
        keys.append(impostor)
        refused = asyncio.new_event_loop().run_until_complete(
            hello_as(port, impostor, {"type": "hello", "agent_id": saved["agent_id"], "secret": saved["secret"],
                                      "name": "agent-globex", "capabilities": [capability]}))
        check(refused.get("type") == "error" and "another tenant" in json.dumps(refused),
              "an acme key resuming globex's agent with its secret is refused: %s" % refused)
        say("tenant dispatch: acme, globex and the default tenant's tasks ran on their own agents only")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if os.path.exists(state_file):
            os.unlink(state_file)


async def hello_as(port, key, hello):
    """The first answer to `hello` on /api/v2/agents/connect with `key`, or how the socket closed."""
    async with websockets.connect("ws://127.0.0.1:%d/api/v2/agents/connect" % port, subprotocols=["hive.agent.v1"],
                                  extra_headers={"Authorization": "Bearer " + key}) as ws:
        await ws.send(json.dumps(hello))
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed as closed:
            return {"closed": closed.code}


def check_projects(api, port, admin, keys):
    """A project of tenant acme: bound key, export, erasure (security_manager and task_manager)."""
    def key_for(name, role, tenant, project=None):
        body = {"name": name, "role": role, "tenant": tenant}
        if project:
            body["project"] = project
        status, _, text = api.request("POST", "/api/v2/security/keys", key=admin, body=body)
        check(status == 201, "a %s key of %s%s: %d %s" % (role, tenant, project and "/" + project or "", status,
                                                          text[:200]))
        keys.append(json.loads(text)["key"])
        return keys[-1]

    acme, globex = key_for("p-acme", "operator", "acme"), key_for("p-globex", "operator", "globex")
    status, _, text = api.request("POST", "/api/v2/security/keys", key=admin,
                                  body={"name": "early", "role": "submitter", "tenant": "acme", "project": "site"})
    check(status == 422, "a key of a project that does not exist: 422, got %d" % status)
    status, _, text = api.request("POST", "/api/v2/projects", key=acme, body={"name": "site"})
    check(status == 201, "acme creates project site: %d %s" % (status, text[:200]))
    check(json.loads(text).get("tenant") == "acme", "the project is acme's")
    bound = key_for("p-site", "submitter", "acme", "site")
    marker = "erase-me-%d" % os.getpid()
    site_tasks = []
    for i in range(3):
        status, _, text = api.request("POST", "/api/v2/tasks", key=bound,
                                      body={"type": "project-e2e", "capabilities": ["project-e2e-none"],
                                            "payload": {"m": marker}, "title": marker})
        check(status == 201, "the bound key submits: %d %s" % (status, text[:200]))
        check(json.loads(text).get("project") == "site", "its task joins site")
        site_tasks.append(json.loads(text)["id"])
    status, _, text = api.request("POST", "/api/v2/tasks", key=acme,
                                  body={"type": "project-e2e", "capabilities": ["project-e2e-none"]})
    check(status == 201, "acme submits a task outside the project: %d" % status)
    loose = json.loads(text)["id"]
    status, _, text = api.request("GET", "/api/v2/tasks?limit=1000", key=bound)
    listed = sorted(t["id"] for t in json.loads(text)["items"])
    check(listed == sorted(site_tasks), "the bound key lists site's tasks only: %s" % listed)
    check(api.request("GET", "/api/v2/tasks/" + loose, key=bound)[0] == 404, "acme's other task is 404 to it")
    replay = EventFollower(port, bound, since="0")
    replay.start()
    check(replay.subscribed.wait(10), "the bound key follows /api/v2/ws")
    check(until(lambda: set(replay.task_ids) >= set(site_tasks)), "its replay gives it site's tasks' events")
    replay.stop()
    check(set(replay.task_ids) <= set(site_tasks), "and no other task's: %s" %
          sorted(set(replay.task_ids) - set(site_tasks))[:5])
    check(api.request("GET", "/api/v2/projects/site", key=globex)[0] == 404, "globex does not see acme's site")
    check(api.request("POST", "/api/v2/projects", key=bound, body={"name": "mine"})[0] == 403,
          "a bound key (submitter) cannot create projects")

    lines, url, pages = [], "/api/v2/projects/site/export?limit=4", 0
    while url:
        status, headers, text = api.request("GET", url, key=acme)
        check(status == 200 and headers.get("content-type") == "application/x-ndjson",
              "an export page: %d %s" % (status, text[:200]))
        lines += [json.loads(line) for line in text.decode().splitlines()]
        link = re.match(r"<([^>]*)>; rel=\"next\"", headers.get("link", ""))
        url, pages = link.group(1) if link else None, pages + 1
        check(pages < 100, "the export ends")
    kinds = [line["kind"] for line in lines]
    check(kinds[0] == "project", "the export starts with the project")
    check(sorted(l["task"]["id"] for l in lines if l["kind"] == "task") == sorted(site_tasks),
          "the export holds site's tasks")
    check(kinds.count("task_event") >= 3, "and their events: %d" % kinds.count("task_event"))
    check(sum(1 for l in lines if l["kind"] == "audit" and l["record"]["entry"]["action"] == "POST /api/v2/tasks")
          >= 3, "and the bound key's audited requests")
    say("export of acme/site: %d lines in %d pages (%s)" % (len(lines), pages,
                                                          ", ".join("%d %s" % (kinds.count(k), k)
                                                                    for k in sorted(set(kinds)))))

    status, _, text = api.request("DELETE", "/api/v2/projects/site", key=acme)
    check(status == 200, "acme erases site: %d %s" % (status, text[:300]))
    erased = json.loads(text)
    check(erased.get("erased", {}).get("tasks") == 3 and erased.get("keys_revoked") == 1,
          "3 tasks and 1 key went: %s" % erased)
    check(api.request("GET", "/api/v2/tasks", key=bound)[0] == 401, "the bound key is revoked")
    for task_id in site_tasks:
        check(api.request("GET", "/api/v2/tasks/" + task_id, key=admin)[0] == 404, "an erased task is gone")
    check(api.request("GET", "/api/v2/tasks/" + loose, key=acme)[0] == 200, "acme's other task stays")
    check(api.request("GET", "/api/v2/projects/site", key=acme)[0] == 404, "the project is gone")
    after, tombstones = 0, 0
    while True:
        status, _, text = api.request("GET", "/api/v2/tasks/events?limit=10000&after=%d" % after, key=admin)
        page = json.loads(text)
        check(marker.encode() not in text, "no event holds an erased task's marker")
        tombstones += sum(1 for item in page["items"] if item["type"] == "erased")
        if page["last_id"] == after:
            break
        after = page["last_id"]
    check(tombstones >= 3, "the erased tasks' events are tombstones: %d" % tombstones)
    status, _, text = api.request("GET", "/api/v2/security/audit?limit=1000", key=admin)
    check(any(item["record"]["entry"]["action"] == "project.erase" and item["record"]["entry"]["outcome"] == "done"
              for item in json.loads(text)["items"]), "the erasure is audited")
    say("erased acme/site: %s, %d tombstones in the task event log" % (text and erased, tombstones))


def concrete(path):
    return re.sub(r"\{[^}]+\}", "x-none", path)


def until(condition, limit=10.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="hive-security-e2e-")
    hive = Hive(args, workdir)
    keys = []  # every key made, for the leak check
    try:
        # 1. The first admin key, while no hive runs.
        made = hive.cli("create", "--name", "root", "--role", "admin")
        check(made.returncode == 0, "CLI create without a running hive: %s" % made.stderr[-500:])
        lines = made.stdout.splitlines()
        check(len(lines) == 1 and re.fullmatch(r"hive_[0-9a-f]{16}_[0-9a-f]{64}", lines[0] if lines else ""),
              "the key alone on its line: %r" % made.stdout)
        admin = lines[0]
        keys.append(admin)
        bad = hive.cli("create", "--name", "x", "--role", "root")
        check(bad.returncode == 2 and "role" in bad.stderr, "CLI with an unknown role: %s" % bad.stderr[-300:])

        # 2. hive on 0.0.0.0; public routes public, everything else 401.
        hive.start()
        say("hive on 0.0.0.0:%d with %s" % (hive.port, ", ".join(hive.present)))
        api = Client(hive.port)
        for path in sorted(PUBLIC):
            check(api.request("GET", path)[0] == 200, "GET %s without a key is 200" % path)
        for key in (None, "hive_0000000000000000_" + "0" * 64, "garbage", admin[:-1] + "x"):
            status, headers, text = api.request("GET", "/api/v2/tasks", key=key)
            check(status == 401, "GET /api/v2/tasks with key %r: 401, got %d" % (key and key[:12], status))
            check(headers.get("content-type") == "application/problem+json", "401 is problem+json")
            check(headers.get("www-authenticate", "").startswith("Bearer"), "401 has WWW-Authenticate")
        status, _, text = api.request("GET", "/api/v2/openapi.json", key=admin)
        check(status == 200, "openapi.json with the admin key: %d" % status)
        document = json.loads(text)

        # 3. Every route names a permission unless public.
        routes = []
        for path, item in document["paths"].items():
            for method, operation in item.items():
                permission = operation.get("x-hive-permission", "")
                routes.append((method.upper(), path, permission))
                if not permission:
                    check(path in NO_KEY, "%s %s has no permission and is not public" % (method.upper(), path))
                else:
                    check(re.fullmatch(r"[a-z][a-z0-9_]*:[a-z][a-z0-9_]*", permission) is not None,
                          "%s %s: permission %r is resource:action" % (method.upper(), path, permission))
        say("%d HTTP routes" % len(routes))

        # 4. The RBAC matrix, from the live route table and the live role table.
        status, _, text = api.request("GET", "/api/v2/security/roles", key=admin)
        roles = json.loads(text)["roles"]
        role_keys = {}
        for role in ROLES:
            status, headers, text = api.request("POST", "/api/v2/security/keys", key=admin,
                                                body={"name": "matrix-" + role, "role": role})
            check(status == 201, "create a %s key over the API: %d %s" % (role, status, text[:200]))
            check(headers.get("cache-control") == "no-store", "the key's answer is not cacheable")
            role_keys[role] = json.loads(text)["key"]
            keys.append(role_keys[role])

        def grants(role, permission):
            granted = roles[role]
            return "*" in granted or permission in granted or permission.split(":")[0] + ":*" in granted

        cells = denied = 0
        for method, path, permission in routes:
            if not permission or path == "/api/v2/admin/plugins/{name}/reload":
                continue  # public; a reload of "x-none" is the same 404 as any unknown plugin below
            for role in ROLES:
                body = "{}" if method in ("POST", "PUT", "PATCH") else None
                status = api.request(method, concrete(path), key=role_keys[role], body=body)[0]
                cells += 1
                if grants(role, permission):
                    check(status not in (401, 403), "%s %s as %s (%s granted): %d" % (method, path, role,
                                                                                      permission, status))
                else:
                    denied += 1
                    check(status == 403, "%s %s as %s (lacks %s): 403, got %d" % (method, path, role, permission,
                                                                                  status))
        for role in ROLES:
            status = api.request("POST", "/api/v2/admin/plugins/x-none/reload", key=role_keys[role])[0]
            expected = grants(role, "admin:write")
            check((status == 404) if expected else (status == 403), "reload of an unknown plugin as %s: %d" %
                  (role, status))
        say("RBAC matrix: %d cells, %d of them refused (403)" % (cells, denied))

        # 5. WebSocket routes.
        if "orchestrator" in hive.present:
            check(upgrade(hive.port, "/api/v2/agents/connect", role_keys["agent"], "hive.agent.v1") == 101,
                  "an agent key opens /api/v2/agents/connect")
            check(upgrade(hive.port, "/api/v2/agents/connect", role_keys["viewer"], "hive.agent.v1") == 403,
                  "a viewer key is refused on /api/v2/agents/connect")
            check(upgrade(hive.port, "/api/v2/agents/connect", None, "hive.agent.v1") == 401,
                  "no key is refused on /api/v2/agents/connect")
        check(upgrade(hive.port, "/api/v2/ws", role_keys["viewer"], "hive.v1") == 101, "a viewer follows /api/v2/ws")
        check(upgrade(hive.port, "/api/v2/ws", role_keys["agent"], "hive.v1") == 403, "an agent key may not")
        check(upgrade(hive.port, "/api/v2/ws", None, "hive.v1") == 401, "nobody may, anonymously")

        # 6. The CLI against the running hive's store; revocation over the API.
        made = hive.cli("create", "--name", "ci", "--role", "submitter", "--expires", "30d")
        check(made.returncode == 0, "CLI create while hive runs: %s" % made.stderr[-500:])
        submitter = made.stdout.strip()
        keys.append(submitter)
        started = time.time()
        check(until(lambda: api.request("GET", "/api/v2/tasks", key=submitter)[0] == 200),
              "a CLI-made key works on the running hive")
        say("CLI key accepted after %.2f s (refresh_interval %.1f s)" % (time.time() - started, REFRESH_S))
        submitter_id = submitter.split("_")[1]
        listed = hive.cli("list")
        check(listed.returncode == 0 and submitter_id in listed.stdout, "CLI list shows the key")
        check(submitter.split("_")[2] not in listed.stdout, "CLI list shows no secret")
        revoked = hive.cli("revoke", submitter_id)
        check(revoked.returncode == 0, "CLI revoke: %s" % revoked.stderr[-300:])
        started = time.time()
        check(until(lambda: api.request("GET", "/api/v2/tasks", key=submitter)[0] == 401),
              "a CLI revocation applies to the running hive")
        say("CLI revocation applied after %.2f s" % (time.time() - started))
        check(hive.cli("revoke", "0123456789abcdef").returncode != 0, "CLI revoke of an unknown id fails")

        viewer_id = role_keys["viewer"].split("_")[1]
        check(api.request("DELETE", "/api/v2/security/keys/" + viewer_id, key=admin)[0] == 204, "API revoke")
        check(api.request("GET", "/api/v2/tasks", key=role_keys["viewer"])[0] == 401,
              "an API revocation applies at once")
        status, _, text = api.request("GET", "/api/v2/security/keys", key=admin)
        listing = text.decode()
        check(status == 200 and viewer_id in listing, "GET /api/v2/security/keys lists the keys")
        for key in keys:
            check(key.split("_")[2] not in listing, "the listing holds no secret")

        # 11. Tenants.
        check_tenants(api, hive.port, admin, keys)
        # 12. Tenants' tasks on their own agents.
        check_tenant_dispatch(api, hive.port, admin, keys)
        # 13. Tenants' workflows, runs and batches.
        check_tenant_objects(api, admin, keys)
        # 14. Tenants' messages.
        check_tenant_messages(api, hive.port, admin, keys)
        # 15. Projects: export and erasure.
        check_projects(api, hive.port, admin, keys)

        # 10. The audit log: refusals and changes are in it, no secret; the CLI verifies the chain.
        status, _, text = api.request("GET", "/api/v2/security/audit?limit=1000", key=admin)
        audit = text.decode()
        check(status == 200, "GET /api/v2/security/audit: %d" % status)
        records = [item["record"]["entry"] for item in json.loads(audit)["items"]]
        outcomes = {(r["action"].split(" ")[0], r["outcome"]) for r in records}
        check(("GET", "unauthenticated") in outcomes, "a refused GET is audited")
        check(("POST", "denied") in outcomes, "a forbidden POST is audited")
        check(("key.revoke", "done") in outcomes, "key revocations are audited")
        check(not any(r["action"].startswith("GET") and r["outcome"] == "allowed" for r in records),
              "allowed reads are not audited")
        for key in keys:
            check(key.split("_")[2] not in audit, "the audit log holds no secret")
        verified = subprocess.run([hive.args.hive, "audit", "verify", "-c", hive.config], capture_output=True,
                                  text=True, timeout=120, env=sanitizer_env())
        hive.cli_errors.append(verified.stderr)
        check(verified.returncode == 0 and '"intact":true' in verified.stdout,
              "hive audit verify: %d %s %s" % (verified.returncode, verified.stdout, verified.stderr[-300:]))
        say("audit: %d entries, hive audit verify: %s" % (len(records), verified.stdout.strip()))

        # 9. A config reload that removes security_manager does not open the API.
        with open(hive.config) as f:
            text = f.read()
        without = re.sub(r"  security_manager:\n    config:\n(?:      .*\n)+", "", text)
        check(without != text, "the config without security_manager")
        with open(hive.config, "w") as f:
            f.write(without)
        reload = subprocess.run([hive.args.hive, "config", "reload", "-c", hive.config], capture_output=True,
                                text=True, timeout=120, env=sanitizer_env())
        say("config reload without security_manager: exit %d %s" % (reload.returncode,
                                                                      (reload.stdout + reload.stderr).strip()[:200]))
        status = api.request("GET", "/api/v2/tasks")[0]
        check(status == 503, "without the authenticator a permissioned route is 503, got %d" % status)
        check(api.request("GET", "/livez")[0] == 200, "public routes stay public")

        # 8. A clean stop.
        code = hive.stop()
        check(code == 0, "hive exits 0 on SIGTERM, got %s" % code)
        log = hive.log_text()
        report = re.search(r"(ERROR: \w+Sanitizer|runtime error:).*", log)
        check(report is None, "no sanitizer report: %s" % (report.group(0)[:300] if report else ""))

        # 7. No secret anywhere it could have been written.
        secrets = [key.split("_")[2] for key in keys]
        places = [("hive.log", log.encode())] + [("CLI stderr", e.encode()) for e in hive.cli_errors]
        for root, _, files in os.walk(hive.data):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    places.append((path, f.read()))
        scanned = 0
        for where, content in places:
            scanned += len(content)
            for secret in secrets:
                check(secret.encode() not in content, "secret %s... found in %s" % (secret[:6], where))
        check(any(b"security_keys" in content for _, content in places), "the keys are in the data directory")
        say("no secret in %d bytes of data directory, log and CLI output (%d files)" % (scanned, len(places)))
    finally:
        hive.stop()
        if failures:
            say("work directory kept: %s" % workdir)
        elif not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        say("%d check(s) failed" % len(failures))
        return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
