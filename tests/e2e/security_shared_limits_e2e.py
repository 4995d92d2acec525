#!/usr/bin/python3
"""End to end: security_manager's rate limits shared by two real `hive`
processes through Redis (rate_limits.redis), on one SQLite store file (so
that both know the same key).

Checks, in order:
  1. Read burst 4, one a minute, on both nodes: reads alternating between the
     two nodes pass 4 times in all, not 8; the 5th, on either node, is 429
     with Retry-After about a minute and RateLimit-Limit 4.
  2. The Redis keys under the test's prefix name no principal (hashed).
  3. SIGTERM: both exit 0, no sanitizer report.

Needs HIVE_TEST_REDIS_URL (eval "$(scripts/test-servers start)"); without it
the script says so and exits 77 (ctest: skipped).

    security_shared_limits_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402
from security_checks import SecurityRun  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{{plugins}}]
  data_dir: {{data}}
  control_socket: {{socket}}
plugins:
  storage_sqlite:
    config:
      path: {store}
  security_manager:
    config:
      rate_limits:
        read: {{{{rate: 1/m, burst: 4}}}}
        redis:
          url: {redis}
          key_prefix: {prefix}
  api:
    config:
      listen: 127.0.0.1:0
"""


def scenario(run, nodes, redis, prefix):
    check, call = run.check, run.call
    first, second = nodes
    admin = run.admin_key(first.config)
    if admin is None:
        return
    for node in nodes:
        node.start()

    # 1. One budget for both nodes.
    statuses = []
    for i in range(8):
        statuses.append(call(nodes[i % 2].port, "GET", "/api/v2/security/keys", admin)[0])
    check(statuses[:4] == [200] * 4 and statuses[4:] == [429] * 4,
          "reads alternating between the nodes: 4 pass in all: %s" % statuses)
    for node in nodes:
        status, headers, body = call(node.port, "GET", "/api/v2/security/keys", admin)
        check(status == 429 and "rate limit 'read'" in (body or {}).get("detail", ""),
              "refused on each node: %s %s" % (status, body))
        check(50 <= int(headers.get("retry-after", "0")) <= 60, "Retry-After about a minute: %s" % headers)
        check(headers.get("ratelimit-limit") == "4", "RateLimit-Limit: %s" % headers)

    # 2. The keys in Redis.
    keys = subprocess.run(["redis-cli", "-u", redis, "--scan", "--pattern", prefix + "*"], capture_output=True,
                          text=True, timeout=20).stdout.split()
    check(len(keys) >= 1 and all(key.endswith("}:read") or key.endswith("}:write") for key in keys),
          "the buckets are in Redis: %s" % keys)
    parts = admin.split("_")  # hive_<id>_<secret>
    check(len(parts) == 3 and not any(parts[1] in key or parts[2] in key or "key:" in key for key in keys),
          "no principal and no secret in a key: %s" % keys)

    for node in nodes:
        run.stopped_cleanly(node)
    run.passed()


def main():
    redis = os.environ.get("HIVE_TEST_REDIS_URL")
    if not redis:
        print("security_shared_limits_e2e: skipped: HIVE_TEST_REDIS_URL is not set "
              "(eval \"$(scripts/test-servers start)\")")
        return 77
    run = SecurityRun("shared-limits", __doc__)
    store = os.path.join(run.workdir, "store.sqlite3")
    prefix = "hive-e2e:%d:rl:" % os.getpid()
    config = CONFIG.format(store=json.dumps(store), redis=json.dumps(redis), prefix=json.dumps(prefix))
    nodes = []
    for name in ("a", "b"):
        workdir = os.path.join(run.workdir, name)
        os.makedirs(workdir)
        nodes.append(HiveProcess(run.hive, workdir, run.plugins, config, "shared-limits " + name))
    try:
        scenario(run, nodes, redis, prefix)
    finally:
        for node in nodes[1:]:
            node.stop()
        code = run.finish(nodes[0])
    return code


if __name__ == "__main__":
    sys.exit(main())
