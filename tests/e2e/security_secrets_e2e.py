#!/usr/bin/python3
"""End to end: the security_engine secrets vault in the real `hive` with
security_manager, storage_sqlite and the api.

Checks, in order:
  1. With no hive running, `hive auth keys create` makes an admin key and
     `hive secrets set NAME` stores a value read from stdin.
  2. hive starts; PUT /api/v2/secrets/{name} with the admin key is 201, then
     200 (replaced); GET answers metadata, never the value; without a key 401,
     with a viewer key 403 for read and write (no secrets:* in that role); a
     bad name 422 problem+json; `hive secrets list` while hive runs lists both.
  3. Rotation: with only a new master key the old values do not open
     (`hive secrets rotate-key` exits 2 naming the old key id); with the new
     key and the old one under previous_key_files it re-encrypts both; with
     only the new key again, a rotation finds every value current.
  4. No value appears in the data directory (SQLite database and WAL), in
     hive's log (debug level, access log on), or in any CLI's stdout/stderr.
  5. SIGTERM: exit status 0, no sanitizer report.

    security_secrets_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]
"""
import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, HiveProcess  # noqa: E402

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
%s  api:
    config:
      listen: 127.0.0.1:0
      access_log: true
"""

failures = []
cli_output = []


def say(*parts):
    print("secrets:", *parts, flush=True)


def check(condition, what):
    if not condition:
        failures.append(what)
        say("FAIL:", what)
    return condition


def write_key(path):
    with open(path, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path


class Run:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.hive = None

    def configure(self, current, previous=None):
        previous_text = ""
        if previous:
            previous_text = "        previous_key_files: [%s]\n" % previous
        self.hive = HiveProcess(self.args.hive, self.workdir, self.args.plugins,
                                CONFIG % (current, previous_text), "secrets")

    def cli(self, *arguments, stdin=None):
        done = subprocess.run([self.args.hive] + list(arguments) + ["-c", self.hive.config], input=stdin,
                              capture_output=True, text=True, timeout=120)
        cli_output.append(done.stdout + done.stderr)
        return done


def call(api, method, path, key=None, body=None):
    headers = {"Authorization": "Bearer " + key} if key else {}
    return api.request(method, path, body=body, headers=headers)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.hive, args.plugins = os.path.abspath(args.hive), os.path.abspath(args.plugins)
    workdir = tempfile.mkdtemp(prefix="hive-secrets-e2e-")
    values = ["ghp_" + secrets.token_hex(16), "pw-" + secrets.token_hex(16), "tok-" + secrets.token_hex(16)]
    key_a = write_key(os.path.join(workdir, "a.key"))
    key_b = write_key(os.path.join(workdir, "b.key"))
    run = Run(args, workdir)
    run.configure(key_a)
    try:
        # 1. No hive running: the first admin key and a secret from stdin.
        created = run.cli("auth", "keys", "create", "--name", "root", "--role", "admin")
        if not check(created.returncode == 0, "hive auth keys create: %s" % created.stderr):
            return 1
        admin = created.stdout.strip()
        done = run.cli("secrets", "set", "GITHUB_TOKEN", stdin=values[0] + "\n")
        check(done.returncode == 0, "hive secrets set with no hive running: %s" % done.stderr)
        check(json.loads(done.stdout or "{}").get("version") == 1, "set answers version 1: %s" % done.stdout)

        # 2. The routes.
        run.hive.start()
        api = Api(run.hive.port)
        status, body = call(api, "POST", "/api/v2/security/keys", admin, {"name": "dash", "role": "viewer"})
        check(status == 201, "viewer key: %s %s" % (status, body))
        viewer = body["key"]
        status, body = call(api, "PUT", "/api/v2/secrets/DB_PASSWORD", admin, {"value": "first-" + values[1]})
        check(status == 201 and body.get("version") == 1, "PUT creates: %s %s" % (status, body))
        status, body = call(api, "PUT", "/api/v2/secrets/DB_PASSWORD", admin, {"value": values[1]})
        check(status == 200 and body.get("version") == 2, "PUT replaces: %s %s" % (status, body))
        status, body = call(api, "GET", "/api/v2/secrets/DB_PASSWORD", admin)
        check(status == 200 and body.get("name") == "DB_PASSWORD" and "value" not in body,
              "GET answers metadata only: %s %s" % (status, body))
        status, body = call(api, "GET", "/api/v2/secrets", admin)
        names = sorted(item["name"] for item in (body or {}).get("items", []))
        check(names == ["DB_PASSWORD", "GITHUB_TOKEN"], "list: %s" % body)
        check(call(api, "GET", "/api/v2/secrets/DB_PASSWORD")[0] == 401, "no key: 401")
        check(call(api, "GET", "/api/v2/secrets/DB_PASSWORD", viewer)[0] == 403, "viewer reads: 403")
        check(call(api, "PUT", "/api/v2/secrets/X", viewer, {"value": "x"})[0] == 403, "viewer writes: 403")
        status, body = call(api, "PUT", "/api/v2/secrets/9bad", admin, {"value": values[2]})
        check(status == 422 and body.get("status") == 422, "bad name: 422 problem+json: %s %s" % (status, body))
        listed = run.cli("secrets", "list")
        check(listed.returncode == 0 and "DB_PASSWORD" in listed.stdout and "GITHUB_TOKEN" in listed.stdout,
              "hive secrets list while hive runs: %s %s" % (listed.stdout, listed.stderr))
        shown = run.cli("secrets", "show", "NOPE")
        check(shown.returncode == 2, "hive secrets show of an unknown name exits 2: %s" % shown.returncode)
        old_id = json.loads(listed.stdout)["items"][0]["key_id"] if listed.returncode == 0 else "?"
        api.close()
        code = run.hive.stop()
        check(code == 0, "SIGTERM exit status %s" % code)
        check(run.hive.sanitizer_report() is None, "sanitizer report:\n%s" % run.hive.sanitizer_report())

        # 3. Rotation.
        run.configure(key_b)
        refused = run.cli("secrets", "rotate-key")
        check(refused.returncode == 2 and old_id in refused.stderr,
              "rotation without the old key is refused naming key %s: %s %s" % (old_id, refused.returncode,
                                                                               refused.stderr))
        run.configure(key_b, key_a)
        rotated = run.cli("secrets", "rotate-key")
        report = json.loads(rotated.stdout or "{}") if rotated.returncode == 0 else {}
        check(report == {"reencrypted": 2, "current": 0}, "rotation re-encrypts both: %s %s" % (
            rotated.stdout, rotated.stderr))
        run.configure(key_b)
        again = run.cli("secrets", "rotate-key")
        report = json.loads(again.stdout or "{}") if again.returncode == 0 else {}
        check(report == {"reencrypted": 0, "current": 2}, "after rotation the old key is not needed: %s %s" % (
            again.stdout, again.stderr))

        # 4. No value anywhere.
        places = {"hive log": open(run.hive.log.name, "rb").read(),
                  "CLI output": "\n".join(cli_output).encode()}
        for root, _, files in os.walk(run.hive.data):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    places[os.path.join(root, name)] = f.read()
        check(len(places) > 3, "the data directory has files: %s" % sorted(places))
        check(b"/api/v2/secrets/DB_PASSWORD" in places["hive log"], "the access log names the route")
        for value in values + ["first-" + values[1]]:
            for where, data in places.items():
                check(value.encode() not in data, "a value appears in %s" % where)
    finally:
        if run.hive is not None:
            run.hive.stop()
        if failures:
            say("%d failure(s); work directory %s" % (len(failures), workdir))
        elif not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not failures:
        say("all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
