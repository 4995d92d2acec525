#!/usr/bin/python3
"""End to end: agent-to-agent messages through the real `hive` binary with the
orchestrator and communication_manager plugins, agents on real WebSockets.

    messages_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins --scenario S

Scenarios (each a few seconds):
  delivery  sqlite + local bus: direct, role broadcast, topic, request/reply and
            its timeout, order per sender, offline delivery on reconnect,
            redelivery after a connection died before its ack, dead letters
            after max_deliveries (list, replay, discard), REST, the limits.
  crash     sqlite + Redis bus (HIVE_TEST_REDIS_URL): hive is killed with
            SIGKILL while an agent sends; every message it got message.accepted
            for reaches the recipient after the restart.
  swap      the orchestrator, then communication_manager, are hot-swapped
            (hive plugins reload) while agents hold unacked messages: the
            agents reconnect, and messages flow as before, none lost.
  nodes     two hive processes on PostgreSQL + Redis (HIVE_TEST_POSTGRES_URL,
            HIVE_TEST_REDIS_URL): messages cross nodes, replies come back, an
            agent that moves to the other node gets what waited for it.
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from agents_e2e import RawAgent  # noqa: E402  (a WebSocket agent on a bare socket)
from e2e_http import Api, HiveProcess  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{{plugins}}]
  data_dir: {{data}}
  control_socket: {{socket}}
  drain_deadline: 10s
  log_level: info
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
  {store}
  communication_engine:
    config: {bus}
  task_manager:
    config: {{{{sweep_period: 200ms}}}}
  orchestrator:
    config:
      heartbeat_interval: 1s
      missed_heartbeats: 60
      handover_wait: 1s
      node: {node}
  communication_manager:
    config:
      node: {node}
      max_body_bytes: 1024
      rate_per_second: 50
      rate_burst: 100
      max_queue: 40
      max_deliveries: {max_deliveries}
      ack_timeout: {ack_timeout}
      sweep_period: 100ms
"""


def say(*parts):
    print("messages_e2e:", *parts, flush=True)


class Agent:
    """A remote agent: hello, then frames read with a timeout; frames of other
    types than the one awaited are kept for later."""

    def __init__(self, port, name, role=None, agent_id=None, secret=None):
        self.ws = RawAgent(port)
        self.ws.sock.settimeout(15)
        hello = {"type": "hello", "name": name}
        if role:
            hello["role"] = role
        if agent_id:
            hello.update(agent_id=agent_id, secret=secret)
        self.ws.send(hello)
        self.kept = []
        welcome = self.next("welcome")
        self.id = welcome["agent_id"]
        self.secret = welcome.get("secret", secret)
        self.name = name
        self.role = role
        # Frames are handled in order after the hello: once this heartbeat is
        # answered, communication_manager has recorded the agent (and its role).
        self.send({"type": "heartbeat"})
        self.next("heartbeat.ack")

    def send(self, frame):
        self.ws.send(frame)

    def next(self, kind, timeout=15):
        for i, frame in enumerate(self.kept):
            if frame["type"] == kind:
                return self.kept.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                frame = self.ws.read()
            except (socket.timeout, TimeoutError):
                break
            if frame["type"] == kind:
                return frame
            self.kept.append(frame)
        raise AssertionError("%s: no %s frame within %s s (kept: %s)" % (self.name, kind, timeout, self.kept[-3:]))

    def none(self, kind, wait=0.5):
        try:
            frame = self.next(kind, wait)
        except AssertionError:
            return True
        self.kept.append(frame)
        return False

    def message(self, to, body, **extra):
        """message.send; the message.accepted (or error) that answers it."""
        ref = uuid.uuid4().hex[:8]
        self.send(dict({"type": "message.send", "to": to, "body": body, "ref": ref}, **extra))
        while True:
            for kind in ("message.accepted", "error"):
                for i, frame in enumerate(self.kept):
                    if frame["type"] == kind and frame.get("ref") == ref:
                        return self.kept.pop(i)
            self.kept.append(self.ws.read())

    def receive(self, ack=True, timeout=15):
        frame = self.next("message", timeout)
        if ack:
            self.send({"type": "message.ack", "id": frame["id"]})
        return frame

    def reconnect(self, port):
        self.close()
        return Agent(port, self.name, self.role, self.id, self.secret)

    def close(self):
        try:
            self.ws.sock.close()
        except OSError:
            pass


def check(failures, condition, what):
    if not condition:
        failures.append(what)
        say("FAILED:", what)


def hive_config(args, node, store, bus, max_deliveries=2, ack_timeout="600ms"):
    def escaped(text):  # HiveProcess formats the config once more
        return text.replace("{", "{{").replace("}", "}}")
    return CONFIG.format(store=escaped(store), bus=escaped(bus), node=node, max_deliveries=max_deliveries,
                         ack_timeout=ack_timeout)


def redis_bus(prefix):
    url = os.environ.get("HIVE_TEST_REDIS_URL")
    if not url:
        sys.exit("messages_e2e: this scenario needs HIVE_TEST_REDIS_URL (eval the exports of scripts/test-servers start)")
    return "\n      transport: redis\n      redis:\n        url: %s\n        prefix: \"%s\"" % (json.dumps(url), prefix)


def delivery_scenario(args, workdir, failures):
    hive = HiveProcess(args.hive, workdir, args.plugins,
                       hive_config(args, "n0", "storage_sqlite:\n    config: {}", "{}"), "messages_e2e")
    api = None
    try:
        hive.start()
        api = Api(hive.port)
        a = Agent(hive.port, "alice")
        b = Agent(hive.port, "bob", role="writer")
        c = Agent(hive.port, "carol", role="writer")

        # Direct, acked; the body byte for byte.
        accepted = a.message(b.id, {"n": 1, "big": 12345678901234567890})
        check(failures, accepted["type"] == "message.accepted" and accepted["recipients"] == 1, "direct: %s" % accepted)
        got = b.receive()
        check(failures, got["id"] == accepted["id"] and got["from"] == a.id and got["body"]["n"] == 1 and
              got["body"]["big"] == 12345678901234567890 and got["deliveries"] == 1, "direct delivery: %s" % got)

        # Role broadcast: every writer, not the sender.
        accepted = a.message("role:writer", "hello writers")
        check(failures, accepted.get("recipients") == 2, "role broadcast accepted for 2: %s" % accepted)
        for agent in (b, c):
            got = agent.receive()
            check(failures, got["to"] == "role:writer" and got["body"] == "hello writers", "role delivery: %s" % got)

        # Topic: only subscribers.
        c.send({"type": "message.subscribe", "topic": "news"})
        check(failures, c.next("message.subscribed")["topic"] == "news", "subscribed")
        accepted = a.message("topic:news", {"headline": "x"})
        check(failures, accepted.get("recipients") == 1, "topic accepted for 1: %s" % accepted)
        check(failures, c.receive()["body"] == {"headline": "x"}, "topic delivery")
        check(failures, b.none("message"), "a non-subscriber got the topic message")
        c.send({"type": "message.unsubscribe", "topic": "news"})
        c.next("message.unsubscribed")
        check(failures, a.message("topic:news", 2).get("recipients") == 0, "a topic without subscribers")

        # Request/reply: the reply comes back with reply_to; a request nobody answers times out.
        request = a.message(b.id, {"q": "ping"}, correlation_id="c1", reply_timeout_ms=5000)
        got = b.receive()
        b.message(got["from"], {"a": "pong"}, reply_to=got["id"], correlation_id=got["correlation_id"])
        answer = a.receive()
        check(failures, answer["reply_to"] == request["id"] and answer["correlation_id"] == "c1",
              "reply: %s" % answer)
        lonely = a.message(b.id, {"q": "anyone?"}, reply_timeout_ms=300)
        b.receive()
        timeout = a.next("message.timeout", 5)
        check(failures, timeout["id"] == lonely["id"], "request timeout: %s" % timeout)
        check(failures, a.none("message.timeout", 0.7), "a second timeout after a reply")

        # Order per sender, and offline delivery on reconnect.
        b.close()
        time.sleep(0.3)
        sent = [a.message(b.id, {"seq": i})["id"] for i in range(20)]
        stale = a.message(b.id, {"stale": True}, ttl_ms=200)["id"]
        time.sleep(0.4)
        b = b.reconnect(hive.port)
        got = [b.receive()["id"] for _ in range(20)]
        check(failures, got == sent, "offline messages in order: %d of 20, in order %s" % (len(got), got == sent))
        check(failures, b.none("message", 0.5), "a message past its ttl_ms was delivered (%s)" % stale)

        # Redelivery: delivered, the connection dies before the ack; delivered again.
        m = a.message(b.id, {"once": True})["id"]
        first = b.receive(ack=False)
        b.close()
        time.sleep(0.3)
        b = b.reconnect(hive.port)
        again = b.receive()
        check(failures, first["id"] == m and again["id"] == m and again["deliveries"] == 2,
              "redelivered after a dead connection: %s" % again)

        # Dead letters: never acked, delivered max_deliveries (2) times, then dead.
        d = Agent(hive.port, "dave")
        answer = a.message(d.id, {"poison": 1})
        check(failures, answer["type"] == "message.accepted", "message to dave: %s" % answer)
        poison = answer.get("id")
        deliveries = [d.receive(ack=False)["deliveries"] for _ in range(2)]
        check(failures, deliveries == [1, 2], "delivered twice before dying: %s" % deliveries)
        check(failures, d.none("message", 1.5), "delivered a third time")
        status, dlq = api.request("GET", "/api/v2/messages/dlq?agent=" + d.id)
        items = dlq.get("items", []) if status == 200 else []
        check(failures, len(items) == 1 and items[0]["message"]["id"] == poison and "2 times" in items[0]["reason"],
              "dead letter listed: %s %s" % (status, dlq))
        if items:
            status, _ = api.request("POST", "/api/v2/messages/dlq/%s/replay" % items[0]["id"])
            check(failures, status == 202, "replay answered %s" % status)
            again = d.receive()
            check(failures, again["id"] == poison and again["deliveries"] == 1, "replayed: %s" % again)
        second = a.message(d.id, {"poison": 2})["id"]
        d.receive(ack=False), d.receive(ack=False)
        deadline = time.monotonic() + 5
        items = []
        while time.monotonic() < deadline and not items:
            items = [i for i in api.request("GET", "/api/v2/messages/dlq?agent=" + d.id)[1]["items"]
                     if i["message"]["id"] == second]
            time.sleep(0.1)
        check(failures, len(items) == 1, "second dead letter")
        if items:
            status, _ = api.request("DELETE", "/api/v2/messages/dlq/" + items[0]["id"])
            check(failures, status == 204, "discard answered %s" % status)
            remaining = api.request("GET", "/api/v2/messages/dlq?agent=" + d.id)[1]["items"]
            check(failures, not remaining, "discarded dead letter still listed: %s" % remaining)
            status, problem = api.request("POST", "/api/v2/messages/dlq/%s/replay" % items[0]["id"])
            check(failures, status == 404, "replay of a discarded letter: %s %s" % (status, problem))

        # REST: a client sends; the recent list shows it.
        status, sent = api.request("POST", "/api/v2/messages", {"to": c.id, "body": {"from": "rest"}})
        check(failures, status == 202 and sent["recipients"] == [c.id], "REST send: %s %s" % (status, sent))
        got = c.receive()
        check(failures, got["from"] == "client:anonymous" and got["body"] == {"from": "rest"}, "REST delivery: %s" % got)
        status, page = api.request("GET", "/api/v2/messages?agent=%s&limit=5" % c.id)
        ids = [i["id"] for i in page.get("items", [])] if status == 200 else []
        check(failures, sent["id"] in ids and len(ids) <= 5, "recent messages of carol: %s %s" % (status, ids))
        status, problem = api.request("POST", "/api/v2/messages", {"to": "nobody1", "body": 1})
        check(failures, status == 404 and problem.get("status") == 404, "unknown recipient: %s %s" % (status, problem))
        status, problem = api.request("POST", "/api/v2/messages", {"to": c.id})
        check(failures, status == 422 and problem["errors"][0]["field"] == "/body", "no body: %s %s" % (status, problem))

        # Limits: size, rate, queue length; each refused clearly, nothing queued for it.
        refused = a.message(b.id, "x" * 2000)
        check(failures, refused["type"] == "error" and refused["reason"] == "too_large", "too large: %s" % refused)
        status, problem = api.request("POST", "/api/v2/messages", {"to": c.id, "body": "x" * 2000})
        check(failures, status == 413 and problem["detail"].startswith("body is"), "REST too large: %s" % status)
        q = Agent(hive.port, "quentin")
        q.close()
        s = Agent(hive.port, "sam")
        answers = [s.message(q.id, i) for i in range(45)]
        reasons = [x.get("reason") for x in answers if x["type"] == "error"]
        check(failures, sum(1 for x in answers if x["type"] == "message.accepted") == 40 and
              reasons == ["queue_full"] * 5, "queue of 40: %s" % reasons)
        r = Agent(hive.port, "rita")
        answers = []
        for i in range(150):
            r.send({"type": "message.send", "to": c.id, "body": i, "ref": str(i)})
        while len(answers) < 150:
            frame = r.kept.pop(0) if r.kept else r.ws.read()
            if frame["type"] in ("message.accepted", "error"):
                answers.append(frame)
        limited = [x for x in answers if x.get("reason") == "rate_limited"]
        check(failures, 0 < len(limited) < 150, "rate limit refused %d of 150" % len(limited))
        statuses = [api.request("POST", "/api/v2/messages", {"to": "topic:quiet", "body": i})[0] for i in range(120)]
        check(failures, statuses.count(429) > 0 and statuses.count(202) >= 90,
              "REST rate limit: %d refused (429), %d accepted" % (statuses.count(429), statuses.count(202)))
        # The example agent (examples/agents/hive_agent.py --reply) answers a role message.
        example = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "examples", "agents", "hive_agent.py"),
                                    "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
                                    "--name", "echo", "--role", "echoer", "--reply"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            accepted = a.message("role:echoer", {"ping": 7}, correlation_id="ex")
            while accepted.get("reason") == "unknown_recipient" and time.monotonic() < deadline:
                time.sleep(0.2)  # the example has not said hello yet
                accepted = a.message("role:echoer", {"ping": 7}, correlation_id="ex")
            echo = a.receive()
            check(failures, echo["reply_to"] == accepted.get("id") and echo["body"] == {"echo": {"ping": 7}} and
                  echo["correlation_id"] == "ex", "the example agent's reply: %s" % echo)
        finally:
            example.terminate()
            example.wait(10)
        for agent in (a, b, c, d, s, r):
            agent.close()
    finally:
        if api is not None:
            api.close()
        status = hive.stop()
        check(failures, status == 0, "hive exited with %s" % status)
        report = hive.sanitizer_report()
        check(failures, report is None, "sanitizer: %s" % report)


def crash_scenario(args, workdir, failures):
    prefix = "e2e-%s:" % uuid.uuid4().hex[:8]
    hive = HiveProcess(args.hive, workdir, args.plugins,
                       hive_config(args, "n0", "storage_sqlite:\n    config: {}", redis_bus(prefix)), "messages_e2e")
    try:
        hive.start()
        a = Agent(hive.port, "alice")
        b = Agent(hive.port, "bob")
        b.close()
        time.sleep(0.3)
        accepted = []
        stop = threading.Event()

        def sender():
            try:
                i = 0
                while not stop.is_set():
                    answer = a.message(b.id, {"seq": i})
                    if answer["type"] == "message.accepted":
                        accepted.append(answer["id"])
                    i += 1
                    time.sleep(0.01)  # within the rate limit
            except Exception:  # the connection died with hive
                pass

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while len(accepted) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        hive.process.send_signal(signal.SIGKILL)
        hive.process.wait()
        stop.set()
        thread.join(10)
        a.close()
        acknowledged = list(accepted)
        say("killed hive after %d accepted messages" % len(acknowledged))
        check(failures, len(acknowledged) >= 30, "30 messages accepted before the kill")
        hive.port = None  # the api listens on a new port; the killed one left its port file
        os.remove(os.path.join(hive.data, "api", "port"))
        hive.start()
        b = b.reconnect(hive.port)
        got = []
        try:
            while not set(acknowledged) <= set(got):
                got.append(b.receive(timeout=10)["id"])
        except AssertionError:
            pass
        lost = [m for m in acknowledged if m not in got]
        check(failures, not lost, "accepted messages lost by SIGKILL: %d of %d" % (len(lost), len(acknowledged)))
        order = [m for m in got if m in acknowledged]
        check(failures, order == acknowledged, "order kept across the crash")
        b.close()
    finally:
        status = hive.stop()  # also a hive left running by a failed check
        check(failures, status == 0, "hive exited with %s" % status)


def swap_scenario(args, workdir, failures):
    # An unacked message waits through the swap: no redelivery by timeout meanwhile.
    hive = HiveProcess(args.hive, workdir, args.plugins,
                       hive_config(args, "n0", "storage_sqlite:\n    config: {}", "{}", 5, "60s"), "messages_e2e")
    try:
        hive.start()
        a = Agent(hive.port, "alice")
        b = Agent(hive.port, "bob")
        for plugin in ("orchestrator", "communication_manager", "orchestrator"):
            waiting = a.message(b.id, {"before": plugin})["id"]
            b.receive(ack=False)
            say("swapping", plugin)
            status, output = hive.reload(plugin)
            check(failures, status == 0, "reload %s: %s %s" % (plugin, status, output))
            if plugin == "orchestrator":  # it closed the agents' connections (1001): back they come
                deadline = time.monotonic() + 20
                while True:
                    try:
                        a, b = a.reconnect(hive.port), b.reconnect(hive.port)
                        break
                    except (AssertionError, OSError):
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
            # The unacked message comes again (a new connection, or the ack timeout).
            say("swapped", plugin)
            again = b.receive()
            check(failures, again["id"] == waiting, "after swapping %s: the unacked message again" % plugin)
            accepted = a.message(b.id, {"after": plugin})
            check(failures, accepted["type"] == "message.accepted", "send after swapping %s: %s" % (plugin, accepted))
            got = b.receive()
            check(failures, got["id"] == accepted.get("id"), "delivery after swapping %s: %s" % (plugin, got))
        a.close()
        b.close()
    finally:
        status = hive.stop()
        check(failures, status == 0, "hive exited with %s" % status)
        report = hive.sanitizer_report()
        check(failures, report is None, "sanitizer: %s" % report)


def nodes_scenario(args, workdir, failures):
    url = os.environ.get("HIVE_TEST_POSTGRES_URL")
    if not url:
        sys.exit("messages_e2e: --scenario nodes needs HIVE_TEST_POSTGRES_URL (scripts/test-servers)")
    prefix = "e2e-%s:" % uuid.uuid4().hex[:8]
    schema = "e2e_msg_" + uuid.uuid4().hex[:10]
    store = "storage_postgres:\n    config:\n      url: %s\n      schema: %s" % (json.dumps(url), schema)
    hives = []
    for i in range(2):
        node_dir = os.path.join(workdir, "node%d" % i)
        os.makedirs(node_dir)
        hives.append(HiveProcess(args.hive, node_dir, args.plugins,
                                 hive_config(args, "n%d" % i, store, redis_bus(prefix)), "messages_e2e"))
    try:
        for hive in hives:
            hive.start()
        a = Agent(hives[0].port, "alice")
        b = Agent(hives[1].port, "bob", role="reader")
        accepted = a.message(b.id, {"cross": 1})
        got = b.receive()
        check(failures, got["id"] == accepted["id"] and got["from"] == a.id, "across nodes: %s" % got)
        b.message(a.id, {"back": 1}, reply_to=got["id"])
        check(failures, a.receive()["reply_to"] == accepted["id"], "reply across nodes")
        accepted = a.message("role:reader", "all readers")
        check(failures, b.receive()["id"] == accepted["id"], "role broadcast across nodes")
        # bob moves from node 1 to node 0 while messages wait for him.
        b.close()
        time.sleep(0.3)
        sent = [a.message(b.id, {"seq": i})["id"] for i in range(5)]
        b = b.reconnect(hives[0].port)
        got = [b.receive()["id"] for _ in range(5)]
        check(failures, got == sent, "waiting messages follow the agent to the other node, in order")
        a.close()
        b.close()
    finally:
        for hive in hives:
            status = hive.stop()
            check(failures, status == 0, "hive exited with %s" % status)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--scenario", choices=["delivery", "crash", "swap", "nodes"], default="delivery")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.plugins = os.path.abspath(args.plugins)
    workdir = tempfile.mkdtemp(prefix="hive-messages-e2e-")
    failures = []
    started = time.monotonic()
    try:
        {"delivery": delivery_scenario, "crash": crash_scenario, "swap": swap_scenario,
         "nodes": nodes_scenario}[args.scenario](
            args, workdir, failures)
    except (AssertionError, OSError, KeyError, TypeError) as e:
        failures.append("%s: %s" % (type(e).__name__, e))
    say("%s took %.1f s" % (args.scenario, time.monotonic() - started))
    if failures:
        say("%d failure(s); work directory kept: %s" % (len(failures), workdir))
        for f in failures:
            say(" -", f)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    say("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
