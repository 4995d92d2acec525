#!/usr/bin/python3
"""End to end: context_manager in the real `hive` (SQLite, security_manager,
api, task_manager, context_manager).

Checks, in order:
  1. REST: POST entries -> 201 with id and Location; bad scope, unknown field,
     empty text -> 422 problem+json; text or metadata over the limits -> 413
     problem+json; nothing stored by a refused request. GET one, the list
     (oldest first, cursor), DELETE one -> 204 then 404.
  2. Permissions: a key whose role grants only contexts:read searches and reads
     but its POST and DELETE are 403.
  3. Search: ?q=&k= answers items {id, text, score} best first; the entry whose
     words the query repeats is first; k bounds the answer; bad k or mode -> 422.
  3b. Agent protocol, a real agent on a WebSocket: context.put -> context.stored
     (author agent:<name>), context.query -> context.result with it first, a
     frame without scope -> error invalid_frame with the agent's ref.
  4. SIGTERM saves the graph; the next start loads it (log: "loaded 1").
  5. kill -9 after 40 more writes (the graph file is saved hourly, so it is
     40 entries behind): the next start loads the file and repairs it from the
     store; GET /api/v2/contexts/{scope} shows as many vectors as the store
     holds entries, and every entry's own text finds it first (semantic only).
  6. A torn graph file: rebuilt from the store at start, same answers.
  6b. Compression: run:big gets 130 entries over a budget of 120; the example
     agent (examples/agents/hive_agent.py, capability summarize) gets ONE
     context.summarize task; its summary replaces the oldest 70 entries in
     search, and they stay readable with ?archived=true and by id.
  7. SIGTERM: exit status 0, no sanitizer report.

    context_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins --tests-dir tests/e2e [--keep]
"""
import argparse
import os
import socket
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
plugins:
  storage_sqlite:
    config: {{}}
  security_manager:
    config:
      roles:
        context_reader: ["contexts:read"]
      rate_limits:
        read: {{rate: 10000/s, burst: 10000}}
        write: {{rate: 10000/s, burst: 10000}}
  api:
    config:
      listen: 127.0.0.1:0
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
  orchestrator:
    config:
      heartbeat_interval: 1s
      missed_heartbeats: 60
  context_manager:
    config:
      max_text_bytes: 2048
      max_metadata_bytes: 256
      index_save_period: 1h
      budget: {{max_entries: 120, max_tokens: 0, check_period: 200ms}}
"""

SCOPE = "project:e2e"
failures = []


def say(*parts):
    print("context:", *parts, flush=True)


def check(condition, what):
    if not condition:
        failures.append(what)
        say("FAIL:", what)
    return condition


class Client:
    def __init__(self, api, key):
        self.api, self.key = api, key

    def __call__(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.key}
        return self.api.request(method, path, body, headers)


def search(client, query, k=10, mode=None):
    path = "/api/v2/contexts/%s/search?q=%s&k=%d" % (SCOPE, urllib.parse.quote(query), k)
    if mode:
        path += "&mode=" + mode
    return client("GET", path)


def all_entries(client):
    items, cursor = [], None
    while True:
        path = "/api/v2/contexts/%s/entries?limit=100" % SCOPE + ("&cursor=" + cursor if cursor else "")
        status, body = client("GET", path)
        if status != 200:
            raise SystemExit("context: listing answered %s %s" % (status, body))
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def log_lines(hive, needle):
    with open(hive.log.name, errors="replace") as f:
        return [line for line in f if needle in line]


def text_of(i):
    # Distinct rare words per entry, so that each entry's own text finds it first.
    return "observation %d: worker w%d saw queue q%d backlog %d on node n%d" % (i, i, i * 7, i * 13, i % 5)


def matches_store(client, what):
    entries = all_entries(client)
    status, described = client("GET", "/api/v2/contexts/" + SCOPE)
    check(status == 200 and described["entries"] == len(entries) and described["vectors"] == len(entries),
          "%s: the index holds what the store holds (%d entries): %s" % (what, len(entries), described))
    misses = []
    for entry in entries:
        status, body = search(client, entry["text"], 1, "semantic")
        if status != 200 or not body["items"] or body["items"][0]["id"] != entry["id"]:
            misses.append(entry["id"])
    check(not misses, "%s: every entry's text finds it first in the graph; missed %s" % (what, misses[:5]))
    return len(entries)


def restart(hive):
    port_file = os.path.join(hive.data, "api", "port")
    if os.path.exists(port_file):
        os.remove(port_file)
    hive.port = None
    hive.start()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--tests-dir", required=True, help="tests/e2e, for e2e_http.py")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.tests_dir))
    from e2e_http import Api, HiveProcess  # noqa: E402
    from agents_e2e import RawAgent  # noqa: E402

    class KeyedAgent(RawAgent):
        """RawAgent's socket, upgraded with an API key (security_manager is on)."""

        def __init__(self, port, key):
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
            self.sock.sendall(("GET /api/v2/agents/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: hive.agent.v1\r\n"
                               "Authorization: Bearer %s\r\n\r\n" % key).encode())
            self.buffer = b""
            while b"\r\n\r\n" not in self.buffer:
                self.buffer += self.sock.recv(4096)
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101"):
                raise SystemExit("context: the agent socket was refused: %r" % head[:200])

        def next(self, kind):
            while True:
                frame = self.read()
                if frame["type"] == kind or frame["type"] == "error":
                    return frame

    args.hive, args.plugins = os.path.abspath(args.hive), os.path.abspath(args.plugins)
    workdir = tempfile.mkdtemp(prefix="hive-context-e2e-")
    hive = HiveProcess(args.hive, workdir, args.plugins, CONFIG, "context")
    try:
        created = subprocess.run([args.hive, "auth", "keys", "create", "--name", "root", "--role", "admin", "-c",
                                  hive.config], capture_output=True, text=True, timeout=120)
        if not check(created.returncode == 0, "admin key: %s" % created.stderr):
            return 1
        admin_key = created.stdout.strip()
        hive.start()
        admin = Client(Api(hive.port), admin_key)

        # 1. REST and its refusals.
        ids = []
        for i in range(60):
            status, body = admin("POST", "/api/v2/contexts/%s/entries" % SCOPE,
                                 {"text": text_of(i), "metadata": {"i": i}})
            if not check(status == 201 and len(body.get("id", "")) == 16, "POST %d: %s %s" % (i, status, body)):
                return 1
            ids.append(body["id"])
        check(body["author"].startswith("key:"), "the author is the caller's principal: %s" % body["author"])
        for path, payload, code in [
                ("/api/v2/contexts/bad/entries", {"text": "x"}, 422),
                ("/api/v2/contexts/team:x/entries", {"text": "x"}, 422),
                ("/api/v2/contexts/%s/entries" % SCOPE, {"text": "x", "colour": 1}, 422),
                ("/api/v2/contexts/%s/entries" % SCOPE, {"text": ""}, 422),
                ("/api/v2/contexts/%s/entries" % SCOPE, {"text": "y" * 3000}, 413),
                ("/api/v2/contexts/%s/entries" % SCOPE, {"text": "y", "metadata": {"m": "z" * 300}}, 413)]:
            status, body = admin("POST", path, payload)
            check(status == code and isinstance(body, dict) and body.get("status") == code,
                  "POST %s %s -> %s problem+json: %s %s" % (path, str(payload)[:40], code, status, body))
        status, body = admin("GET", "/api/v2/contexts/%s/entries/%s" % (SCOPE, ids[3]))
        check(status == 200 and body["text"] == text_of(3) and body["metadata"] == {"i": 3},
              "GET one: %s %s" % (status, body))
        status, body = admin("GET", "/api/v2/contexts/%s/entries?limit=2" % SCOPE)
        check(status == 200 and [e["id"] for e in body["items"]] == ids[:2] and body.get("next_cursor"),
              "the list is oldest first with a cursor: %s" % body)
        status, _ = admin("DELETE", "/api/v2/contexts/%s/entries/%s" % (SCOPE, ids[5]))
        check(status == 204, "DELETE one: %s" % status)
        status, body = admin("GET", "/api/v2/contexts/%s/entries/%s" % (SCOPE, ids[5]))
        check(status == 404 and body.get("status") == 404, "a deleted entry is 404: %s %s" % (status, body))
        check(len(all_entries(admin)) == 59, "59 entries after one delete and six refusals")

        # 2. Permissions.
        status, body = admin("POST", "/api/v2/security/keys", {"name": "reader", "role": "context_reader"})
        check(status == 201, "reader key: %s %s" % (status, body))
        reader = Client(Api(hive.port), body["key"])
        status, _ = search(reader, "worker w7")
        check(status == 200, "contexts:read may search: %s" % status)
        status, body = reader("POST", "/api/v2/contexts/%s/entries" % SCOPE, {"text": "not allowed"})
        check(status == 403, "contexts:read may not write: %s %s" % (status, body))
        status, _ = reader("DELETE", "/api/v2/contexts/%s/entries" % SCOPE)
        check(status == 403, "contexts:read may not clear: %s" % status)

        # 3. Search.
        status, body = search(admin, "worker w42 queue q294 backlog", 3)
        check(status == 200 and len(body["items"]) == 3 and body["items"][0]["id"] == ids[42]
              and set(body["items"][0]) == {"id", "text", "score"}
              and body["items"][0]["score"] >= body["items"][1]["score"] >= body["items"][2]["score"],
              "hybrid search: the entry with the query's words first, best first: %s" % body)
        status, body = search(admin, "backlog 546", 1, "lexical")
        check(status == 200 and body["items"][0]["id"] == ids[42], "lexical search: %s" % body)
        for query in ["k=0", "k=101", "k=x", "mode=fuzzy", ""]:
            status, body = admin("GET", "/api/v2/contexts/%s/search?q=w1&%s" % (SCOPE, query) if query
                                 else "/api/v2/contexts/%s/search" % SCOPE)
            check(status == 422 and body.get("status") == 422, "search ?%s -> 422: %s %s" % (query, status, body))

        # 3b. The agent protocol.
        agent = KeyedAgent(hive.port, admin_key)
        agent.send({"type": "hello", "name": "scribe"})
        check(agent.next("welcome")["type"] == "welcome", "the agent is welcome")
        agent.send({"type": "context.put", "scope": SCOPE, "ref": "p1",
                    "text": "agent note: the cache warmup takes forty minutes", "metadata": {"by": "agent"}})
        stored = agent.next("context.stored")
        check(stored["type"] == "context.stored" and stored.get("ref") == "p1" and len(stored.get("id", "")) == 16,
              "context.put -> context.stored: %s" % stored)
        status, body = admin("GET", "/api/v2/contexts/%s/entries/%s" % (SCOPE, stored.get("id")))
        check(status == 200 and body["author"] == "agent:scribe", "the agent is the author: %s %s" % (status, body))
        agent.send({"type": "context.query", "scope": SCOPE, "q": "cache warmup minutes", "k": 3, "ref": "q1"})
        result = agent.next("context.result")
        check(result["type"] == "context.result" and result.get("ref") == "q1" and len(result["items"]) == 3
              and result["items"][0]["id"] == stored.get("id"), "context.query -> context.result: %s" % result)
        agent.send({"type": "context.put", "text": "no scope", "ref": "p2"})
        refused = agent.next("context.stored")
        check(refused["type"] == "error" and refused.get("reason") == "invalid_frame" and refused.get("ref") == "p2",
              "a put without scope is refused: %s" % refused)
        agent.sock.close()

        # 4. A clean stop saves the graph; the next start loads it.
        check(hive.stop() == 0, "SIGTERM: exit 0")
        restart(hive)
        admin = Client(Api(hive.port), admin_key)
        check(any("vector indexes loaded 1, rebuilt 0, 0 vectors repaired" in line
                  for line in log_lines(hive, "context_manager")), "after SIGTERM the graph file is loaded as is")
        matches_store(admin, "after SIGTERM")

        # 5. kill -9 with the file 40 writes behind.
        for i in range(60, 100):
            status, body = admin("POST", "/api/v2/contexts/%s/entries" % SCOPE, {"text": text_of(i)})
            check(status == 201, "POST %d: %s" % (i, status))
        hive.process.kill()
        hive.process.wait()
        restart(hive)
        admin = Client(Api(hive.port), admin_key)
        check(any("vector indexes loaded 1, rebuilt 0, 40 vectors repaired" in line
                  for line in log_lines(hive, "context_manager")),
              "after kill -9 the file is loaded and the 40 missing vectors added from the store")
        count = matches_store(admin, "after kill -9")
        check(count == 100, "100 entries after kill -9: %d" % count)

        # 6. A torn file is rebuilt.
        check(hive.stop() == 0, "SIGTERM: exit 0")
        graph = os.path.join(hive.data, "context_manager", "index", SCOPE + ".hnsw")
        check(os.path.exists(graph), "the graph file is %s" % graph)
        with open(graph, "r+b") as f:
            f.truncate(os.path.getsize(graph) // 3)
        restart(hive)
        admin = Client(Api(hive.port), admin_key)
        check(any("vector indexes loaded 0, rebuilt 1" in line for line in log_lines(hive, "context_manager")),
              "a torn graph file is rebuilt from the store")
        matches_store(admin, "after a torn file")

        # 6b. Compression, summarised by the example agent.
        big = "run:big"
        big_ids = []
        for i in range(130):
            status, body = admin("POST", "/api/v2/contexts/%s/entries" % big,
                                 {"text": "Step %d of the import finished. Details %d follow." % (i, i)})
            check(status == 201, "POST big %d: %s" % (i, status))
            big_ids.append(body.get("id"))
        status, described = admin("GET", "/api/v2/contexts/" + big)
        check(described["compression"]["pending"] and described["compression"]["entries"] == 61,
              "one compression pending, of the 61 oldest (121 - 60): %s" % described)
        agent_script = os.path.join(ROOT, "examples", "agents", "hive_agent.py")
        summarizer = subprocess.Popen(["/usr/bin/python3", agent_script, "--url",
                                       "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port, "--name", "summarizer",
                                       "--capabilities", "summarize", "--token", admin_key],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status, described = admin("GET", "/api/v2/contexts/" + big)
                if not described["compression"]["pending"]:
                    break
                time.sleep(0.2)
        finally:
            summarizer.terminate()
            summarizer.wait(10)
        status, tasks = admin("GET", "/api/v2/tasks?type=context.summarize")
        check(status == 200 and len(tasks["items"]) == 1, "one summarize task: %s" % tasks)
        check(described["entries"] == 130 - 61 + 1, "the summary replaced 61 entries: %s" % described)
        status, body = admin(
            "GET", "/api/v2/contexts/%s/search?q=%s&k=1&mode=lexical" % (big, urllib.parse.quote("Step 0 Step 1")))
        check(status == 200 and body["items"] and body["items"][0]["text"].startswith("Summary: Step 0 of the import"),
              "search returns the summary: %s" % body)
        status, body = admin("GET", "/api/v2/contexts/%s/entries?archived=true&limit=1000" % big)
        check(status == 200 and [e["id"] for e in body["items"]] == big_ids[:61],
              "the 61 originals are archived: %s" % [e["id"] for e in body["items"]][:3])
        status, body = admin("GET", "/api/v2/contexts/%s/entries/%s" % (big, big_ids[0]))
        check(status == 200 and body["archived"] and body["text"].startswith("Step 0 of the import"),
              "an original stays readable: %s" % body)

        status = hive.stop()
        check(status == 0, "SIGTERM: exit status %s" % status)
        report = hive.sanitizer_report()
        check(report is None, "sanitizer report:\n%s" % report)
    finally:
        hive.stop()
        if args.keep or failures:
            say("work directory kept:", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        say("%d check(s) failed" % len(failures))
        return 1
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
