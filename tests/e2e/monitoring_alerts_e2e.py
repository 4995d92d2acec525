#!/usr/bin/env python3
"""End to end: an alert rule fires and resolves in the real hive, and the
transitions reach a WebSocket client and a webhook.

The hive (SQLite, in-process bus, monitoring_engine) has one rule of its own:
`hive_http_requests_total{route="(unmatched)",status="404"}` at more than 2
per second over 3 s, for 1 s, evaluated every 500 ms; and two webhooks: a
local HTTP receiver in this test, and a dead one (a port nobody listens on,
3 retries). The test
  1. subscribes to `alerts` on /api/v2/ws;
  2. sends ~20 requests/s to a path no route serves, for 5 s: `alert.firing`
     arrives on the WebSocket and at the receiver, and
     GET /api/v2/observability/alerts lists it as firing;
  3. stops: `alert.resolved` arrives at both, and the route lists it under
     `resolved`;
  4. the dead webhook cost only counters: hive_alert_webhook_failures_total
     {webhook="dead"} > 0 in /metrics, the live one has 2 deliveries.

Usage: monitoring_alerts_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import asyncio
import http.client
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_for, wait_ready  # noqa: E402


def say(*parts):
    print("monitoring_alerts_e2e:", *parts, flush=True)


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class WebSocketListener(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.events = []
        self.subscribed = threading.Event()
        self.error = None

    def run(self):
        try:
            asyncio.run(self.listen())
        except Exception as error:  # reported by the test, not swallowed
            self.error = error

    async def listen(self):
        async with websockets.connect("ws://127.0.0.1:%d/api/v2/ws" % self.port, subprotocols=["hive.v1"]) as ws:
            await ws.send(json.dumps({"type": "subscribe", "id": "a", "topic": "alerts"}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "subscribed":
                    self.subscribed.set()
                elif message.get("type") == "event":
                    self.events.append(message)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="hive-alerts-")
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port, dead_port = free_port(), free_port()
    config = os.path.join(workdir, "hive.yaml")
    with open(config, "w") as f:
        f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {workdir}/data
  control_socket: ""
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  monitoring_engine:
    config:
      alerts:
        period: 500ms
        rules:
          - name: TooManyNotFound
            metric: hive_http_requests_total
            labels: {{route: "(unmatched)", status: "404"}}
            rate: 3s
            comparison: ">"
            threshold: 2
            for: 1s
            severity: warning
            summary: Clients ask for paths that do not exist
        webhooks:
          - name: receiver
            url: http://127.0.0.1:{hook}/hooks/alerts?token=not-logged
            timeout: 2s
          - name: dead
            url: http://127.0.0.1:{dead}/nobody
            timeout: 500ms
            retries: 3
""".format(plugins=os.path.abspath(args.plugins), workdir=workdir, port=port, hook=receiver.server_address[1],
           dead=dead_port))
    log = open(os.path.join(workdir, "hive.log"), "ab")
    hive = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        wait_ready(hive, port, log.name, "monitoring_alerts_e2e")
        listener = WebSocketListener(port)
        listener.start()
        if not listener.subscribed.wait(10):
            raise AssertionError("no `subscribed` on /api/v2/ws: %s" % listener.error)
        api = Api(port)

        def events(kind):
            return [e for e in listener.events if e["payload"].get("event") == kind]

        def hooks(kind):
            return [r for r in Receiver.received if r[2].get("event") == kind]

        begin = time.monotonic()
        while time.monotonic() - begin < 5:
            api.request("GET", "/no/such/path")
            time.sleep(0.05)
        fired = wait_for("alert.firing on the WebSocket", lambda: events("alert.firing"), 10)[0]
        say("firing on the WebSocket:", json.dumps(fired["payload"])[:300])
        if fired["topic"] != "alerts" or fired["payload"]["alert"]["rule"] != "TooManyNotFound":
            failures.append("unexpected firing event: %s" % fired)
        if fired["payload"]["alert"]["labels"].get("route") != "(unmatched)":
            failures.append("the firing alert lacks the series' labels: %s" % fired["payload"]["alert"])
        path, content_type, body = wait_for("alert.firing at the webhook", lambda: hooks("alert.firing"), 10)[0]
        if path != "/hooks/alerts?token=not-logged" or content_type != "application/json":
            failures.append("webhook request: %s %s" % (path, content_type))
        status, listed = api.request("GET", "/api/v2/observability/alerts")
        firing = [a for a in listed.get("items", []) if a["state"] == "firing"]
        if status != 200 or [a["rule"] for a in firing] != ["TooManyNotFound"]:
            failures.append("GET /api/v2/observability/alerts while firing: %s" % listed)

        stopped = time.monotonic()
        resolved = wait_for("alert.resolved on the WebSocket", lambda: events("alert.resolved"), 15)[0]
        say("resolved on the WebSocket %.1f s after the 404s stopped" % (time.monotonic() - stopped))
        if "resolved_at_ms" not in resolved["payload"]["alert"]:
            failures.append("resolved event without resolved_at_ms: %s" % resolved)
        wait_for("alert.resolved at the webhook", lambda: hooks("alert.resolved"), 10)
        status, listed = api.request("GET", "/api/v2/observability/alerts")
        if listed.get("items") or [a["rule"] for a in listed.get("resolved", [])] != ["TooManyNotFound"]:
            failures.append("GET /api/v2/observability/alerts after resolving: %s" % listed)

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        lines = [line for line in metrics.splitlines() if line.startswith("hive_alert_webhook_")]
        say("\n  ".join(["webhook series:"] + lines))
        dead_failures = [float(line.split()[-1]) for line in lines
                         if line.startswith('hive_alert_webhook_failures_total{webhook="dead"}')]
        live = [float(line.split()[-1]) for line in lines
                if line.startswith('hive_alert_webhook_deliveries_total{webhook="receiver"}')]
        if not dead_failures or dead_failures[0] < 1:
            failures.append("no failure counted for the dead webhook")
        if live != [2.0]:
            failures.append("the live webhook has %s deliveries, not 2" % live)
        if len(events("alert.firing")) != 1 or len(events("alert.resolved")) != 1:
            failures.append("expected one firing and one resolved event, got %d and %d" %
                            (len(events("alert.firing")), len(events("alert.resolved"))))
        with open(log.name, "rb") as f:
            if b"not-logged" in f.read():
                failures.append("the webhook URL's query (a secret, often) is in the log")
    except AssertionError as error:
        failures.append(str(error))
    finally:
        receiver.shutdown()
        if hive.poll() is None:
            hive.send_signal(signal.SIGTERM)
            try:
                code = hive.wait(30)
                if code != 0:
                    failures.append("hive exited with %d after SIGTERM" % code)
            except subprocess.TimeoutExpired:
                hive.kill()
                failures.append("hive did not stop within 30 s of SIGTERM (a dead webhook must not hold it)")
    for failure in failures:
        say("FAIL:", failure)
    if failures:
        say("kept", workdir)
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)
    say("ok")


if __name__ == "__main__":
    main()
