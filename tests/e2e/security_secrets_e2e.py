#!/usr/bin/python3
"""End to end: the security_engine secrets vault in the real `hive` with
security_manager, storage_sqlite and the api.

Checks, in order:
  1. With no hive running, `hive auth keys create` makes an admin key and
     `hive secrets set NAME` stores a value read from stdin.
  2. hive starts; PUT /api/v2/secrets/{name} with the admin key is 201, then
     200 (replaced); GET answers metadata, never the value; without a key 401,
     with a viewer key 403 for read and write (no secrets:* in that role); a
     bad name 422 problem+json; with scanning in mode refuse, a body holding
     an AWS key id is 422 (audited `refused` with its detector) while the
     vault stores the same string; `hive secrets list` while hive runs.
  3. Rotation: with only a new master key the old values do not open
     (`hive secrets rotate-key` exits 2 naming the old key id); with the new
     key and the old one under previous_key_files it re-encrypts both; with
     only the new key again, a rotation finds every value current.
  4. No value appears in the data directory (SQLite database and WAL), in
     hive's log (debug level, access log on), or in any CLI's stdout/stderr.
  5. SIGTERM: exit status 0, no sanitizer report.

    security_secrets_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]
"""
import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402
from security_checks import SecurityRun  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  log_level: debug
plugins:
  storage_sqlite:
    config: {{}}
  security_manager:
    config: {{}}
  security_engine:
    config:
      secrets:
        master_key_file: %s
%s      scanning:
        mode: refuse
  api:
    config:
      listen: 127.0.0.1:0
      access_log: true
"""


def write_key(path):
    with open(path, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path


def scenario(run, values):
    check, call = run.check, run.call
    key_a = write_key(os.path.join(run.workdir, "a.key"))
    key_b = write_key(os.path.join(run.workdir, "b.key"))

    def configure(current, previous=None):
        previous_text = "        previous_key_files: [%s]\n" % previous if previous else ""
        return HiveProcess(run.hive, run.workdir, run.plugins, CONFIG % (current, previous_text), "secrets")

    # 1. No hive running: the first admin key and a secret from stdin.
    hive = run.current = configure(key_a)
    admin = run.admin_key(hive.config)
    if admin is None:
        return
    done = run.cli(hive.config, "secrets", "set", "GITHUB_TOKEN", stdin=values[0] + "\n")
    check(done.returncode == 0, "hive secrets set with no hive running: %s" % done.stderr)
    check(json.loads(done.stdout or "{}").get("version") == 1, "set answers version 1: %s" % done.stdout)

    # 2. The routes.
    hive.start()
    port = hive.port
    status, _, body = call(port, "POST", "/api/v2/security/keys", admin, {"name": "dash", "role": "viewer"})
    check(status == 201, "viewer key: %s %s" % (status, body))
    viewer = body["key"]
    status, _, body = call(port, "PUT", "/api/v2/secrets/DB_PASSWORD", admin, {"value": "first-" + values[1]})
    check(status == 201 and body.get("version") == 1, "PUT creates: %s %s" % (status, body))
    status, _, body = call(port, "PUT", "/api/v2/secrets/DB_PASSWORD", admin, {"value": values[1]})
    check(status == 200 and body.get("version") == 2, "PUT replaces: %s %s" % (status, body))
    status, _, body = call(port, "GET", "/api/v2/secrets/DB_PASSWORD", admin)
    check(status == 200 and body.get("name") == "DB_PASSWORD" and "value" not in body,
          "GET answers metadata only: %s %s" % (status, body))
    status, _, body = call(port, "GET", "/api/v2/secrets", admin)
    names = sorted(item["name"] for item in (body or {}).get("items", []))
    check(names == ["DB_PASSWORD", "GITHUB_TOKEN"], "list: %s" % body)
    check(call(port, "GET", "/api/v2/secrets/DB_PASSWORD")[0] == 401, "no key: 401")
    check(call(port, "GET", "/api/v2/secrets/DB_PASSWORD", viewer)[0] == 403, "viewer reads: 403")
    check(call(port, "PUT", "/api/v2/secrets/X", viewer, {"value": "x"})[0] == 403, "viewer writes: 403")
    status, _, body = call(port, "PUT", "/api/v2/secrets/9bad", admin, {"value": values[2]})
    check(status == 422 and body.get("status") == 422, "bad name: 422 problem+json: %s %s" % (status, body))
    # Scanning (mode refuse): a body with what looks like an AWS key is refused before its route runs,
    # except on the vault's own writes.
    status, _, body = call(port, "POST", "/api/v2/security/keys", admin, {"name": values[3], "role": "viewer"})
    check(status == 422 and "aws_access_key_id" in (body or {}).get("detail", ""),
          "a body holding an AWS key id is refused: %s %s" % (status, body))
    status, _, body = call(port, "PUT", "/api/v2/secrets/AWS_KEY_ID", admin, {"value": values[3]})
    check(status == 201, "the vault stores it: %s %s" % (status, body))
    status, _, body = call(port, "GET", "/api/v2/security/audit?limit=1000", admin)
    refusals = [i["record"]["entry"] for i in (body or {}).get("items", [])
                if i["record"]["entry"].get("outcome") == "refused"]
    check(len(refusals) == 1 and "aws_access_key_id" in refusals[0].get("target", ""),
          "the refusal is audited with its detector: %s" % refusals)
    listed = run.cli(hive.config, "secrets", "list")
    check(listed.returncode == 0 and "DB_PASSWORD" in listed.stdout and "GITHUB_TOKEN" in listed.stdout,
          "hive secrets list while hive runs: %s %s" % (listed.stdout, listed.stderr))
    shown = run.cli(hive.config, "secrets", "show", "NOPE")
    check(shown.returncode == 2, "hive secrets show of an unknown name exits 2: %s" % shown.returncode)
    old_id = json.loads(listed.stdout)["items"][0]["key_id"] if listed.returncode == 0 else "?"
    run.stopped_cleanly(hive)

    # 3. Rotation.
    hive = run.current = configure(key_b)
    refused = run.cli(hive.config, "secrets", "rotate-key")
    check(refused.returncode == 2 and old_id in refused.stderr,
          "rotation without the old key is refused naming key %s: %s %s" % (old_id, refused.returncode,
                                                                           refused.stderr))
    hive = run.current = configure(key_b, key_a)
    rotated = run.cli(hive.config, "secrets", "rotate-key")
    report = json.loads(rotated.stdout or "{}") if rotated.returncode == 0 else {}
    check(report == {"reencrypted": 3, "current": 0}, "rotation re-encrypts all three: %s %s" % (
        rotated.stdout, rotated.stderr))
    hive = run.current = configure(key_b)
    again = run.cli(hive.config, "secrets", "rotate-key")
    report = json.loads(again.stdout or "{}") if again.returncode == 0 else {}
    check(report == {"reencrypted": 0, "current": 3}, "after rotation the old key is not needed: %s %s" % (
        again.stdout, again.stderr))

    # 4. No value anywhere.
    with open(hive.log.name, "rb") as f:
        places = {"hive log": f.read(), "CLI output": "\n".join(run.outputs).encode()}
    for root, _, files in os.walk(hive.data):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                places[os.path.join(root, name)] = f.read()
    check(len(places) > 3, "the data directory has files: %s" % sorted(places))
    check(b"/api/v2/secrets/DB_PASSWORD" in places["hive log"], "the access log names the route")
    for value in values + ["first-" + values[1]]:
        for where, data in places.items():
            check(value.encode() not in data, "a value appears in %s" % where)
    run.passed()


def main():
    run = SecurityRun("secrets", __doc__)
    run.current = None
    values = ["ghp_" + secrets.token_hex(16), "pw-" + secrets.token_hex(16), "tok-" + secrets.token_hex(16),
              "AKIA" + secrets.token_hex(8).upper()]
    try:
        scenario(run, values)
    finally:
        code = run.finish(run.current)
    return code


if __name__ == "__main__":
    sys.exit(main())
