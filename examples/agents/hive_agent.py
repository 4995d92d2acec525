#!/usr/bin/python3
"""A remote Hive agent in Python: connects to /api/v2/agents/connect, receives
tasks, runs them, streams progress and sends results. docs/agent-protocol.md
describes the protocol; this file is a working reference of it.

    hive_agent.py --url ws://127.0.0.1:8080/api/v2/agents/connect \
                  --name py-1 --capabilities python,test --concurrency 2

What a task does here (payload fields, all optional); a `task.cancel` stops it
(its command is killed):
    {"sleep_ms": 200}        take that long
    {"fail": "reason"}       report a failure (retryable unless "retryable": false)
    {"command": ["ls"]}      with --allow-commands: run it, result = its output
Anything else is echoed back as the result. A `context.summarize` task (context
compression, docs/context.md; give the agent the `summarize` capability) is
answered with {"summary": ...}: here the first sentence of each entry, where a
real agent would ask its model.

Messages between agents (with the communication_manager plugin; the
`message.*` frames of docs/agent-protocol.md): every `message` is logged and
acked; with --reply, one that is not itself a reply is answered with
{"echo": <its body>} (reply_to, correlation_id); --subscribe joins topics;
--send-to / --send-body send one message once connected:
    hive_agent.py --name a --send-to role:writer --send-body '{"hi": 1}'
    hive_agent.py --name b --role writer --subscribe news --reply

Identity: the first `welcome` gives the agent its id and a reconnect secret;
both are needed to come back under that id. With --state-file they are kept
in that file (mode 0600) across restarts; with --agent-id the secret comes from
the HIVE_AGENT_SECRET environment variable (the 201 of POST /api/v2/agents
shows it once). The secret is never logged.

Needs Debian's python3-websockets (apt-get install python3-websockets).
"""
import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sys

import websockets

PROTOCOL = "hive.agent.v1"
log = logging.getLogger("hive-agent")


class Agent:
    def __init__(self, args):
        self.args = args
        self.agent_id = args.agent_id
        self.secret = os.environ.get("HIVE_AGENT_SECRET", "") if args.agent_id else ""
        if args.state_file and os.path.exists(args.state_file):
            with open(args.state_file) as state:
                saved = json.load(state)
            self.agent_id, self.secret = saved["agent_id"], saved["secret"]
        self.heartbeat_s = 10.0
        self.running = {}  # task id -> asyncio.Task
        self.leases = {}  # task id -> the lease token it runs under
        self.unacked = {}  # task id -> its task.result, until Hive acknowledges it
        self.socket = None
        self.draining = False
        self.stopping = asyncio.Event()
        self.done_count = 0
        self.sent_message = False

    # ---- connection ----
    async def run(self):
        delay = 0.2
        while not self.stopping.is_set():
            try:
                headers = {}
                if self.args.token:
                    headers["Authorization"] = "Bearer " + self.args.token
                async with websockets.connect(self.args.url, subprotocols=[PROTOCOL],
                                              extra_headers=headers, max_size=4 << 20,
                                              ping_interval=None) as socket:
                    self.socket = socket
                    if await self.session(socket):
                        delay = 0.2  # was welcomed: the next reconnect starts quick again
            except (OSError, websockets.exceptions.WebSocketException) as error:
                log.warning("connection lost: %s", error)
            finally:
                self.socket = None
            if self.stopping.is_set() or (self.draining and not self.running and not self.unacked):
                break
            # Reconnect with jittered exponential backoff; the tasks we hold keep
            # running and their results are sent once we are back.
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, 10.0)

    async def session(self, socket):
        hello = {"type": "hello", "name": self.args.name, "role": self.args.role,
                 "capabilities": self.args.capabilities, "max_concurrency": self.args.concurrency}
        if self.agent_id:
            hello["agent_id"] = self.agent_id
            hello["secret"] = self.secret
        await socket.send(json.dumps(hello))
        welcome = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if welcome.get("type") == "error":
            self.refused(welcome)
            return False
        if welcome.get("type") != "welcome":
            raise websockets.exceptions.InvalidMessage("expected welcome, got %r" % welcome)
        self.agent_id = welcome["agent_id"]
        if "secret" in welcome:  # issued once, for a new agent: keep it to come back
            self.secret = welcome["secret"]
            self.save_state()
        self.heartbeat_s = max(0.1, welcome.get("heartbeat_interval_ms", 30000) / 1000 / 3)
        log.info("connected as %s", self.agent_id)
        # Results Hive has not acknowledged (lost with the last connection) go again:
        # Hive accepts each once, and refuses it if the lease went to someone else.
        for message in list(self.unacked.values()):
            await socket.send(json.dumps(message))
        for topic in self.args.subscribe:
            await socket.send(json.dumps({"type": "message.subscribe", "topic": topic}))
        if self.args.send_to and not self.sent_message:
            self.sent_message = True
            await socket.send(json.dumps({"type": "message.send", "to": self.args.send_to,
                                          "body": json.loads(self.args.send_body), "ref": "cli"}))
        beat = asyncio.ensure_future(self.heartbeats(socket))
        try:
            async for text in socket:
                await self.on_message(json.loads(text))
                if self.draining and not self.running and not self.unacked:
                    await socket.close(1000, "drained")
                    return True
        finally:
            beat.cancel()
        return True

    def refused(self, error):
        reason = error.get("reason")
        log.error("hello refused (%s): %s", reason, error.get("message"))
        if reason == "unknown_agent":
            # Deleted, or purged after the server's agent_retention: start afresh.
            self.agent_id, self.secret = "", ""
        elif reason in ("bad_secret", "invalid_hello"):
            # Retrying cannot help: this id belongs to someone else, or the hello is wrong.
            self.stopping.set()

    def save_state(self):
        if not self.args.state_file:
            return
        descriptor = os.open(self.args.state_file + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as state:
            json.dump({"agent_id": self.agent_id, "secret": self.secret}, state)
        os.replace(self.args.state_file + ".new", self.args.state_file)

    async def heartbeats(self, socket):
        while True:
            await asyncio.sleep(self.heartbeat_s)
            await socket.send(json.dumps({"type": "heartbeat"}))

    async def send(self, message):
        if message["type"] == "task.result":
            self.unacked[message["task_id"]] = message
        try:
            if self.socket is not None:
                await self.socket.send(json.dumps(message))
        except websockets.exceptions.WebSocketException:
            pass  # results are sent again after reconnecting

    # ---- messages ----
    async def on_message(self, message):
        kind = message.get("type")
        if kind == "task.assign":
            task = message["task"]
            # Answer at once: a task not accepted within the claim window goes back to the queue.
            await self.send({"type": "task.accept", "task_id": task["id"], "lease_token": message["lease_token"]})
            self.leases[task["id"]] = message["lease_token"]
            self.running[task["id"]] = asyncio.ensure_future(self.work(task, message["lease_token"]))
        elif kind == "task.ack":
            if message.get("report") == "result":
                self.unacked.pop(message.get("task_id"), None)
            if not message.get("accepted"):
                log.warning("%s for %s refused: %s", message.get("report"), message.get("task_id"),
                            message.get("reason"))
            elif message.get("duplicate"):
                log.info("result for %s was already accepted", message.get("task_id"))
        elif kind == "task.cancel":
            # The task was cancelled: stop its work. Whatever this lease still
            # reports is refused as stale, so nothing is sent for it.
            task_id = message.get("task_id")
            running = self.running.get(task_id)
            if running is not None and self.leases.get(task_id) == message.get("lease_token"):
                log.info("task %s cancelled: stopping it", task_id)
                running.cancel()
            self.unacked.pop(task_id, None)
        elif kind == "drain":
            log.info("asked to drain: finishing %d tasks, taking no more", len(self.running))
            self.draining = True
        elif kind == "message":
            await self.on_agent_message(message)
        elif kind == "message.accepted":
            log.info("message %s queued for %d recipient(s)", message.get("id"), message.get("recipients", 0))
        elif kind == "message.timeout":
            log.warning("no reply to message %s in time", message.get("id"))
        elif kind == "error":
            # For a message.send, `ref` names it; `reason` says whether to retry
            # (rate_limited, queue_full, unavailable) or fix it.
            log.error("hive says: %s (%s)", message.get("message"), message.get("reason", ""))

    async def on_agent_message(self, message):
        # At least once: the same id may come again (see `deliveries`); act once per id.
        log.info("message %s from %s: %s", message.get("id"), message.get("from"),
                 json.dumps(message.get("body"))[:200])
        if self.args.reply and not message.get("reply_to") and not str(message.get("from")).startswith("client:"):
            answer = {"type": "message.send", "to": message["from"], "body": {"echo": message.get("body")},
                      "reply_to": message["id"]}
            if message.get("correlation_id"):
                answer["correlation_id"] = message["correlation_id"]
            await self.send(answer)
        # Acked once handled: unacked, it would be delivered again.
        await self.send({"type": "message.ack", "id": message["id"]})

    async def work(self, task, lease_token):
        task_id = task["id"]
        payload = task.get("payload") or {}
        if not isinstance(payload, dict):
            payload = {"value": payload}
        process = None
        try:
            await self.send({"type": "task.progress", "task_id": task_id, "lease_token": lease_token,
                             "progress": {"stage": "started", "agent": self.args.name}})
            await asyncio.sleep(payload.get("sleep_ms", 0) / 1000)
            if "fail" in payload:
                await self.send({"type": "task.result", "task_id": task_id, "lease_token": lease_token,
                                 "status": "failed", "error": str(payload["fail"]),
                                 "retryable": payload.get("retryable", True)})
                return
            if "command" in payload and self.args.allow_commands:
                process = await asyncio.create_subprocess_exec(
                    *payload["command"], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True)  # its own process group: task.cancel kills the group
                out, err = await process.communicate()
                process, returncode = None, process.returncode
                status = "succeeded" if returncode == 0 else "failed"
                await self.send({"type": "task.result", "task_id": task_id, "lease_token": lease_token,
                                 "status": status, "result": {"stdout": out.decode(errors="replace")[-65536:]},
                                 "error": err.decode(errors="replace")[-4096:]})
                return
            if task.get("type") == "context.summarize":
                firsts = [e.get("text", "").split(". ")[0][:200] for e in payload.get("entries", [])]
                await self.send({"type": "task.result", "task_id": task_id, "lease_token": lease_token,
                                 "status": "succeeded", "result": {"summary": "Summary: " + " / ".join(firsts)}})
                return
            await self.send({"type": "task.result", "task_id": task_id, "lease_token": lease_token,
                             "status": "succeeded",
                             "result": {"echo": payload, "agent": self.args.name, "type": task.get("type")}})
        except asyncio.CancelledError:
            # task.cancel: the command's process group goes with the task (a
            # child that left the group with setsid() is out of reach here; run
            # such commands as process agents, whose whole tree Hive kills).
            if process is not None and process.returncode is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await process.wait()
            log.info("task %s stopped", task_id)
        finally:
            self.running.pop(task_id, None)
            self.leases.pop(task_id, None)
            self.done_count += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8080/api/v2/agents/connect")
    parser.add_argument("--name", default="python-agent")
    parser.add_argument("--role", default="worker")
    parser.add_argument("--capabilities", default="", type=lambda s: [c for c in s.split(",") if c])
    parser.add_argument("--concurrency", default=1, type=int)
    parser.add_argument("--agent-id", default="",
                        help="come back as this agent; its secret from $HIVE_AGENT_SECRET")
    parser.add_argument("--state-file", default="",
                        help="keep the agent id and reconnect secret here across restarts (mode 0600)")
    parser.add_argument("--token", default="", help="API key, sent as a Bearer token")
    parser.add_argument("--allow-commands", action="store_true", help="run payload commands (trusted use only)")
    parser.add_argument("--subscribe", default="", type=lambda s: [t for t in s.split(",") if t],
                        help="topics to receive (message.subscribe), comma-separated")
    parser.add_argument("--reply", action="store_true", help="answer each message with its body echoed")
    parser.add_argument("--send-to", default="", help="send one message, once connected: agent id, role:R, topic:T")
    parser.add_argument("--send-body", default="{}", help="its body (JSON)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    agent = Agent(args)
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stopping.set)

    async def run_until_stopped():
        runner = asyncio.ensure_future(agent.run())
        stopper = asyncio.ensure_future(agent.stopping.wait())
        await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
        runner.cancel()

    loop.run_until_complete(run_until_stopped())
    return 0


if __name__ == "__main__":
    sys.exit(main())
