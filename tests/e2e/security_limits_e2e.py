#!/usr/bin/python3
"""End to end: security_manager's rate limits in the real `hive` (SQLite,
security_manager, api).

Checks, in order:
  1. An admin key (CLI) may read 3 times at once (read: burst 3, 1/s); the 4th
     read answers 429 problem+json with Retry-After and RateLimit-Limit,
     -Remaining and -Reset; a write has its own bucket; /health is never
     limited; a second later reads pass again.
  2. A role override: a viewer key (role viewer: burst 20) reads 10 times in a
     row where the admin could not.
  3. Failed authentications per address (failed_auth: burst 3): after 3 wrong
     keys from 127.0.0.1 even the admin key is refused with 429 (before its
     digest is computed); `hive audit verify` finds the chain intact.
  4. SIGTERM: exit status 0, no sanitizer report.

    security_limits_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402
from security_checks import SecurityRun  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
plugins:
  storage_sqlite:
    config: {{}}
  security_manager:
    config:
      rate_limits:
        read: {{rate: 1/s, burst: 3}}
        write: {{rate: 1/s, burst: 5}}
        failed_auth: {{rate: 1/m, burst: 3}}
        roles:
          viewer:
            read: {{rate: 10/s, burst: 20}}
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
    port = hive.port

    # 1. The read bucket of one principal.
    status, _, body = call(port, "POST", "/api/v2/security/keys", admin, {"name": "dash", "role": "viewer"})
    check(status == 201, "viewer key: %s %s" % (status, body))
    viewer = body["key"]
    statuses = [call(port, "GET", "/api/v2/security/keys", admin)[0] for _ in range(3)]
    check(statuses == [200, 200, 200], "3 reads at once pass: %s" % statuses)
    status, headers, body = call(port, "GET", "/api/v2/security/keys", admin)
    check(status == 429, "the 4th read is 429: %s" % status)
    check(headers.get("content-type") == "application/problem+json" and body.get("status") == 429,
          "429 is problem+json: %s %s" % (headers.get("content-type"), body))
    check("rate limit 'read'" in (body or {}).get("detail", ""), "the detail names the bucket: %s" % body)
    check(headers.get("retry-after") == "1", "Retry-After: %s" % headers.get("retry-after"))
    check(headers.get("ratelimit-limit") == "3" and headers.get("ratelimit-remaining") == "0" and
          headers.get("ratelimit-reset") == "1", "RateLimit-* headers: %s" % headers)
    check(call(port, "GET", "/health")[0] == 200, "/health is never limited")
    status, _, body = call(port, "POST", "/api/v2/security/keys", admin, {"name": "w", "role": "viewer"})
    check(status == 201, "a write has its own bucket: %s %s" % (status, body))
    time.sleep(1.1)
    check(call(port, "GET", "/api/v2/security/keys", admin)[0] == 200, "a second later a read passes")

    # 2. A role override.
    statuses = [call(port, "GET", "/api/v2/openapi.json", viewer)[0] for _ in range(10)]
    check(statuses == [200] * 10, "the viewer role's own limit: %s" % statuses)

    # 3. Failed authentications from one address.
    wrong = admin[:-1] + ("1" if admin[-1] == "0" else "0")
    statuses = [call(port, "GET", "/api/v2/security/roles", wrong)[0] for _ in range(3)]
    check(statuses == [401, 401, 401], "3 wrong keys: %s" % statuses)
    status, headers, body = call(port, "GET", "/api/v2/openapi.json", viewer)
    check(status == 429 and "'failed_auth'" in (body or {}).get("detail", ""),
          "after them even a good key from that address is 429: %s %s" % (status, body))
    check(int(headers.get("retry-after", "0")) >= 50, "Retry-After about a minute: %s" % headers)
    run.stopped_cleanly(hive)
    verify = run.cli(hive.config, "audit", "verify")
    check(verify.returncode == 0, "hive audit verify: %s %s" % (verify.stdout, verify.stderr))
    run.passed()


def main():
    run = SecurityRun("limits", __doc__)
    hive = HiveProcess(run.hive, run.workdir, run.plugins, CONFIG, "limits")
    try:
        scenario(run, hive)
    finally:
        code = run.finish(hive)
    return code


if __name__ == "__main__":
    sys.exit(main())
