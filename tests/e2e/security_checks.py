"""What the security end-to-end scripts (security_secrets_e2e.py,
security_limits_e2e.py, security_audit_e2e.py, security_jwks_e2e.py) share:
their command line, their checks and failures, their work directory, one HTTP
call with a bearer key, and the first admin key from the CLI."""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import tempfile


class SecurityRun:
    def __init__(self, who, doc):
        parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--hive", required=True)
        parser.add_argument("--plugins", required=True)
        parser.add_argument("--keep", action="store_true", help="keep the work directory")
        args = parser.parse_args()
        self.who = who
        self.hive = os.path.abspath(args.hive)
        self.plugins = os.path.abspath(args.plugins)
        self.keep = args.keep
        self.workdir = tempfile.mkdtemp(prefix="hive-%s-e2e-" % who)
        # Removed by passed(): a script that exits on the way keeps its work directory.
        self.failures = ["did not finish"]
        self.outputs = []  # every CLI stdout and stderr, for leak checks

    def say(self, *parts):
        print("%s:" % self.who, *parts, flush=True)

    def check(self, condition, what):
        if not condition:
            self.failures.append(what)
            self.say("FAIL:", what)
        return condition

    def cli(self, config, *arguments, stdin=None):
        done = subprocess.run([self.hive] + list(arguments) + ["-c", config], input=stdin, capture_output=True,
                              text=True, timeout=120)
        self.outputs.append(done.stdout + done.stderr)
        return done

    def admin_key(self, config):
        """The first admin key, from `hive auth keys create` (no hive needs to run); None when refused."""
        created = self.cli(config, "auth", "keys", "create", "--name", "root", "--role", "admin")
        return created.stdout.strip() if self.check(created.returncode == 0, "admin key: %s" % created.stderr) \
            else None

    @staticmethod
    def call(port, method, path, key=None, body=None, headers=None):
        """(status, lower-case headers, parsed JSON body or None) of one request on a new connection."""
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sent = {"Authorization": "Bearer " + key} if key else {}
        sent.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        text = response.read()
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(text) if text else None

    def stopped_cleanly(self, hive):
        code = hive.stop()
        self.check(code == 0, "SIGTERM exit status %s" % code)
        self.check(hive.sanitizer_report() is None, "sanitizer report:\n%s" % hive.sanitizer_report())

    def passed(self):
        self.failures.remove("did not finish")

    def finish(self, hive=None):
        """Stops `hive`, reports, removes the work directory when all passed; the exit status."""
        if hive is not None:
            hive.stop()
        if self.failures:
            self.say("%d failure(s); work directory %s" % (len(self.failures), self.workdir))
            return 1
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.say("all checks passed")
        return 0
