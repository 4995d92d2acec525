#!/usr/bin/python3
"""A remote Hive agent in Python: connects to /api/v2/agents/connect, receives
tasks, runs them, streams progress and sends results. docs/agent-protocol.md
describes the protocol; this file is a working reference of it.

    hive_agent.py --url ws://127.0.0.1:8080/api/v2/agents/connect \
                  --name py-1 --capabilities python,test --concurrency 2

What a task does here (payload fields, all optional):
    {"sleep_ms": 200}        take that long
    {"fail": "reason"}       report a failure (retryable unless "retryable": false)
    {"command": ["ls"]}      with --allow-commands: run it, result = its output
Anything else is echoed back as the result.

Needs Debian's python3-websockets (apt-get install python3-websockets).
"""
import argparse
import asyncio
import json
import logging
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
        self.heartbeat_s = 10.0
        self.running = {}  # task id -> asyncio.Task
        self.unacked = {}  # task id -> its task.result, until Hive acknowledges it
        self.socket = None
        self.draining = False
        self.stopping = asyncio.Event()
        self.done_count = 0

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
                    delay = 0.2
                    await self.session(socket)
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
        await socket.send(json.dumps(hello))
        welcome = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if welcome.get("type") != "welcome":
            raise websockets.exceptions.InvalidMessage("expected welcome, got %r" % welcome)
        self.agent_id = welcome["agent_id"]
        self.heartbeat_s = max(0.1, welcome.get("heartbeat_interval_ms", 30000) / 1000 / 3)
        log.info("connected as %s", self.agent_id)
        # Results Hive has not acknowledged (lost with the last connection) go again:
        # Hive accepts each once, and refuses it if the lease went to someone else.
        for message in list(self.unacked.values()):
            await socket.send(json.dumps(message))
        beat = asyncio.ensure_future(self.heartbeats(socket))
        try:
            async for text in socket:
                await self.on_message(json.loads(text))
                if self.draining and not self.running and not self.unacked:
                    await socket.close(1000, "drained")
                    return
        finally:
            beat.cancel()

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
            self.running[task["id"]] = asyncio.ensure_future(self.work(task, message["lease_token"]))
        elif kind == "task.ack":
            if message.get("report") != "progress":
                self.unacked.pop(message.get("task_id"), None)
            if not message.get("accepted"):
                log.warning("result for %s refused: %s", message.get("task_id"), message.get("reason"))
        elif kind == "drain":
            log.info("asked to drain: finishing %d tasks, taking no more", len(self.running))
            self.draining = True
        elif kind == "error":
            log.error("hive says: %s", message.get("message"))

    async def work(self, task, lease_token):
        task_id = task["id"]
        payload = task.get("payload") or {}
        if not isinstance(payload, dict):
            payload = {"value": payload}
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
                    *payload["command"], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await process.communicate()
                status = "succeeded" if process.returncode == 0 else "failed"
                await self.send({"type": "task.result", "task_id": task_id, "lease_token": lease_token,
                                 "status": status, "result": {"stdout": out.decode(errors="replace")[-65536:]},
                                 "error": err.decode(errors="replace")[-4096:]})
                return
            await self.send({"type": "task.result", "task_id": task_id, "lease_token": lease_token,
                             "status": "succeeded",
                             "result": {"echo": payload, "agent": self.args.name, "type": task.get("type")}})
        finally:
            self.running.pop(task_id, None)
            self.done_count += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8080/api/v2/agents/connect")
    parser.add_argument("--name", default="python-agent")
    parser.add_argument("--role", default="worker")
    parser.add_argument("--capabilities", default="", type=lambda s: [c for c in s.split(",") if c])
    parser.add_argument("--concurrency", default=1, type=int)
    parser.add_argument("--agent-id", default="")
    parser.add_argument("--token", default="", help="API key, sent as a Bearer token")
    parser.add_argument("--allow-commands", action="store_true", help="run payload commands (trusted use only)")
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
