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
import os
import secrets
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402
from security_checks import SecurityRun  # noqa: E402

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


def scenario(run, hive):
    check, call = run.check, run.call
    admin = run.admin_key(hive.config)
    if admin is None:
        return
    hive.start()
    ids = ["kill9-%d-%s" % (i, secrets.token_hex(4)) for i in range(REQUESTS)]
    statuses = [call(hive.port, "PUT", "/api/v2/secrets/S%d" % i, admin, {"value": "v%d" % i},
                     {"X-Request-Id": ids[i]})[0] for i in range(REQUESTS)]
    hive.process.send_signal(signal.SIGKILL)
    hive.process.wait()
    check(statuses == [201] * REQUESTS, "every PUT answered 201: %s" % statuses)

    verify = run.cli(hive.config, "audit", "verify")
    check(verify.returncode == 0 and '"intact":true' in verify.stdout,
          "hive audit verify after kill -9: %s %s" % (verify.stdout, verify.stderr))

    # The killed hive left its port file: wait for the new one.
    os.remove(os.path.join(hive.data, "api", "port"))
    hive.port = None
    hive.start()
    found = {}
    after = 0
    while True:
        status, _, body = call(hive.port, "GET", "/api/v2/security/audit?limit=1000&after=%d" % after, admin)
        if not check(status == 200, "audit listing: %s %s" % (status, body)):
            break
        for item in body["items"]:
            entry = item["record"]["entry"]
            found[entry.get("request_id")] = entry.get("outcome")
        if "next_after" not in body:
            break
        after = body["next_after"]
    missing = [i for i in ids if found.get(i) != "allowed"]
    check(not missing, "%d of %d answered requests have no audit entry after kill -9: %s" % (
        len(missing), REQUESTS, missing[:5]))
    run.say("%d answered requests, %d audit entries after kill -9" % (REQUESTS, REQUESTS - len(missing)))
    run.stopped_cleanly(hive)
    run.passed()


def main():
    run = SecurityRun("audit", __doc__)
    key_file = os.path.join(run.workdir, "secrets.key")
    with open(key_file, "w") as f:
        f.write(secrets.token_hex(32))
    os.chmod(key_file, 0o600)
    hive = HiveProcess(run.hive, run.workdir, run.plugins, CONFIG % key_file, "audit")
    try:
        scenario(run, hive)
    finally:
        code = run.finish(hive)
    return code


if __name__ == "__main__":
    sys.exit(main())
