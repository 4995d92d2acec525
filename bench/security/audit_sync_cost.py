#!/usr/bin/python3
"""What waiting for the audit entry costs a state-changing request: N
sequential PUT /api/v2/secrets/{name} with an admin key on one keep-alive
connection, on a hive (storage_sqlite, security_manager, security_engine,
api) with audit_sync true and then false; prints each mode's median and p99
latency and requests per second.

    bench/security/audit_sync_cost.py BUILD_DIR [N]
"""
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from e2e_http import HiveProcess  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  log_level: warn
plugins:
  storage_sqlite:
    config: {{}}
  security_manager:
    config:
      audit_sync: %s
      rate_limits: {{enabled: false}}
  security_engine:
    config:
      secrets:
        master_key_file: %s
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
"""


def measure(build, sync, count):
    work = tempfile.mkdtemp(prefix="hive-bench-audit-")
    try:
        key_file = os.path.join(work, "secrets.key")
        with open(key_file, "w") as f:
            f.write(secrets.token_hex(32))
        os.chmod(key_file, 0o600)
        hive = HiveProcess(os.path.join(build, "bin", "hive"), work, os.path.join(build, "plugins"),
                           CONFIG % ("true" if sync else "false", key_file), "audit_sync_cost")
        admin = subprocess.run([hive.hive, "auth", "keys", "create", "--name", "bench", "--role", "admin", "-c",
                                hive.config], capture_output=True, text=True, check=True).stdout.strip()
        hive.start()
        connection = http.client.HTTPConnection("127.0.0.1", hive.port, timeout=30)
        headers = {"Authorization": "Bearer " + admin, "Content-Type": "application/json"}
        latencies = []
        started = time.monotonic()
        for i in range(count):
            begin = time.monotonic()
            connection.request("PUT", "/api/v2/secrets/S%d" % (i % 50), body=json.dumps({"value": "v%d" % i}),
                               headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status not in (200, 201):
                raise SystemExit("audit_sync_cost: PUT answered %d" % response.status)
            latencies.append(time.monotonic() - begin)
        elapsed = time.monotonic() - started
        connection.close()
        hive.stop()
        latencies.sort()
        return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000, count / elapsed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    build = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else sys.exit(__doc__)
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    print("load before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    for sync in (True, False):
        p50, p99, rate = measure(build, sync, count)
        print("audit_sync %-5s %d PUTs: p50 %.2f ms, p99 %.2f ms, %.0f req/s" % (str(sync).lower(), count, p50, p99,
                                                                               rate))
    print("load after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
