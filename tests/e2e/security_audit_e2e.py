#!/usr/bin/python3
"""End to end: no answered request loses its audit entry to kill -9 (real
`hive` with storage_sqlite, security_manager, security_engine, api).

  1. An admin key from the CLI; hive starts.
  2. 40 state-changing requests (PUT /api/v2/secrets/S<i>, each with its own
     X-Request-Id), each answered 201, then SIGKILL at once.
  3. `hive audit verify` (no hive running) finds the chain intact.
  4. hive starts again; GET /api/v2/security/audit holds an `allowed` entry
     for every one of the 40 request ids.

    security_audit_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]
"""
import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402

REQUESTS = 40
CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
plugins:
  storage_sqlite:
    config: {{}}
  security_manager:
    config:
      audit_flush_interval: 1m   # only the answered requests' own commits can save their entries
  security_engine:
    config:
      secrets:
        master_key_file: %s
  api:
    config:
      listen: 127.0.0.1:0
"""

failures = []


def say(*parts):
    print("audit:", *parts, flush=True)


def check(condition, what):
    if not condition:
        failures.append(what)
        say("FAIL:", what)
    return condition


def request(connection, method, path, key, body=None, request_id=None):
    headers = {"Authorization": "Bearer " + key}
    if request_id:
        headers["X-Request-Id"] = request_id
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    text = response.read()
    return response.status, json.loads(text) if text else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.hive, args.plugins = os.path.abspath(args.hive), os.path.abspath(args.plugins)
    workdir = tempfile.mkdtemp(prefix="hive-audit-e2e-")
    key_file = os.path.join(workdir, "secrets.key")
    with open(key_file, "w") as f:
        f.write(secrets.token_hex(32))
    os.chmod(key_file, 0o600)
    hive = HiveProcess(args.hive, workdir, args.plugins, CONFIG % key_file, "audit")
    failures.append("did not finish")  # removed at the end: an exit on the way keeps the work directory
    try:
        created = subprocess.run([args.hive, "auth", "keys", "create", "--name", "root", "--role", "admin", "-c",
                                  hive.config], capture_output=True, text=True, timeout=120)
        if not check(created.returncode == 0, "admin key: %s" % created.stderr):
            return 1
        admin = created.stdout.strip()
        hive.start()
        connection = http.client.HTTPConnection("127.0.0.1", hive.port, timeout=10)
        ids = ["kill9-%d-%s" % (i, secrets.token_hex(4)) for i in range(REQUESTS)]
        statuses = [request(connection, "PUT", "/api/v2/secrets/S%d" % i, admin, {"value": "v%d" % i}, ids[i])[0]
                    for i in range(REQUESTS)]
        hive.process.send_signal(signal.SIGKILL)
        hive.process.wait()
        connection.close()
        check(statuses == [201] * REQUESTS, "every PUT answered 201: %s" % statuses)

        verify = subprocess.run([args.hive, "audit", "verify", "-c", hive.config], capture_output=True, text=True,
                                timeout=120)
        check(verify.returncode == 0 and '"intact":true' in verify.stdout,
              "hive audit verify after kill -9: %s %s" % (verify.stdout, verify.stderr))

        # The killed hive left its port file: wait for the new one.
        os.remove(os.path.join(hive.data, "api", "port"))
        hive.port = None
        hive.start()
        connection = http.client.HTTPConnection("127.0.0.1", hive.port, timeout=10)
        found = {}
        after = 0
        while True:
            status, body = request(connection, "GET", "/api/v2/security/audit?limit=1000&after=%d" % after, admin)
            if not check(status == 200, "audit listing: %s %s" % (status, body)):
                break
            for item in body["items"]:
                entry = item["record"]["entry"]
                found[entry.get("request_id")] = entry.get("outcome")
            if "next_after" not in body:
                break
            after = body["next_after"]
        connection.close()
        missing = [i for i in ids if found.get(i) != "allowed"]
        check(not missing, "%d of %d answered requests have no audit entry after kill -9: %s" % (
            len(missing), REQUESTS, missing[:5]))
        say("%d answered requests, %d audit entries after kill -9" % (REQUESTS, REQUESTS - len(missing)))
        code = hive.stop()
        check(code == 0, "SIGTERM exit status %s" % code)
        check(hive.sanitizer_report() is None, "sanitizer report:\n%s" % hive.sanitizer_report())
        failures.remove("did not finish")
    finally:
        hive.stop()
        if failures:
            say("%d failure(s); work directory %s" % (len(failures), workdir))
        elif not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not failures:
        say("all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
