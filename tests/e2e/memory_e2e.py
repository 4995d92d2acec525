#!/usr/bin/env python3
"""End to end: what the real hive keeps in memory for large tasks.

1,000 tasks of 250 KB are submitted over HTTP to a hive on the embedded
default (SQLite, in-process bus) with nothing to run them; the process's
resident memory (VmRSS) must grow by less than --max-growth-mb (100 MB). They
used to be copied into every task event (bus history, durable log), 4 copies
each: +870 MB. Payloads then read back byte for byte.

Under AddressSanitizer the freed-memory quarantine is made small for the hive
child (ASAN_OPTIONS quarantine_size_mb) so that RSS measures what Hive keeps,
not what the sanitizer holds back.

Usage: memory_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import free_port, wait_ready  # noqa: E402

PAYLOAD_BYTES = 250_000


def say(*parts):
    print("memory_e2e:", *parts, flush=True)




def rss_bytes(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s for %d" % (field, pid))


def rss_parts(pid):
    return ", ".join("%s %.1f MB" % (name, rss_bytes(pid, name) / 1e6) for name in ("RssAnon", "RssFile", "RssShmem"))


class Client:
    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--max-growth-mb", type=float, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hive-memory-") as workdir:
        port = free_port()
        config = os.path.join(workdir, "hive.yaml")
        with open(config, "w") as f:
            f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: ""
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_sqlite:
    config:
      synchronous: normal
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
""".format(plugins=os.path.abspath(args.plugins), data=os.path.join(workdir, "data"), port=port))
        env = dict(os.environ)
        asan = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=4:detect_leaks=0"
        log = open(os.path.join(workdir, "hive.log"), "ab")
        hive = subprocess.Popen([args.hive, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_ready(hive, port, log.name, "memory_e2e")
            client = Client(port)

            def submit(n):
                body = json.dumps({"type": "big", "payload": {"n": n, "blob": "x" * PAYLOAD_BYTES}})
                status, text = client.request("POST", "/api/v2/tasks", body)
                if status != 201:
                    sys.exit("memory_e2e: task %d answered %d: %s" % (n, status, text[:200]))
                return json.loads(text)["id"], body

            for n in range(20):  # warm-up: pools, caches, connections
                submit(n)
            before = rss_bytes(hive.pid)
            say("before: " + rss_parts(hive.pid))
            started = time.monotonic()
            ids = [submit(n) for n in range(args.tasks)]
            took = time.monotonic() - started
            after = rss_bytes(hive.pid)
            say("after: " + rss_parts(hive.pid))
            growth_mb = (after - before) / 1e6
            say("%d tasks of %d KB in %.1f s: RSS %.1f MB -> %.1f MB (+%.1f MB; limit %.0f MB)" %
                (args.tasks, PAYLOAD_BYTES // 1000, took, before / 1e6, after / 1e6, growth_mb, args.max_growth_mb))
            failures = []
            if growth_mb >= args.max_growth_mb:
                failures.append("RSS grew by %.1f MB" % growth_mb)
            for task_id, body in (ids[0], ids[len(ids) // 2], ids[-1]):
                status, text = client.request("GET", "/api/v2/tasks/" + task_id)
                sent = json.loads(body)["payload"]
                raw = json.dumps(sent).encode()
                if status != 200 or (b'"payload":' + raw) not in text:
                    failures.append("task %s does not read back its payload byte for byte" % task_id)
            for failure in failures:
                say("FAIL:", failure)
            if failures:
                sys.exit(1)
            say("ok")
        finally:
            if hive.poll() is None:
                hive.send_signal(signal.SIGTERM)
                try:
                    hive.wait(30)
                except subprocess.TimeoutExpired:
                    hive.kill()


if __name__ == "__main__":
    main()
