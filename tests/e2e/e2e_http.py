"""HTTP helper shared by the end-to-end tests: one keep-alive connection to a
hive api that reconnects after errors and after `Connection: close` (what a
draining api generation answers)."""
import collections
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time


def free_port():
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port, attempts=2, token=None):
        self.port = port
        self.attempts = attempts  # tries per request; a failed one reconnects first
        self.connection = None
        # Sent as a bearer token unless a request brings its own Authorization:
        # an API key, or the api's local token (HiveProcess.local_token()).
        self.token = token

    def request(self, method, path, body=None, headers=None, timeout=10):
        for attempt in range(self.attempts):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                data = json.dumps(body) if body is not None else None
                h = {"Content-Type": "application/json"} if data else {}
                if self.token:
                    h["Authorization"] = "Bearer " + self.token
                h.update(headers or {})
                self.connection.request(method, path, body=data, headers=h)
                response = self.connection.getresponse()
                text = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, (json.loads(text) if text else None)
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt + 1 == self.attempts:
                    raise
        raise AssertionError("attempts must be at least 1")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def wait_for(what, check, timeout=30, interval=0.2):
    """check()'s first truthy answer; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (%s s)" % (what, timeout))


def finish(who, failures, workdir):
    """The end of a test: each failure printed and `workdir` kept (exit 1), or
    `workdir` removed and "ok"."""
    for failure in failures:
        print("%s: FAIL: %s" % (who, failure), flush=True)
    if failures:
        print("%s: kept %s" % (who, workdir), flush=True)
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)
    print("%s: ok" % who, flush=True)


def wait_ready(process, port, log_path, who="e2e", limit=60):
    """Waits until the hive `process` answers /readyz 200 on `port`; exits the
    test (with the end of its log) when it dies or is not ready within `limit` s."""
    api = Api(port)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path, "rb") as f:
                print(f.read().decode(errors="replace")[-4000:], flush=True)
            raise SystemExit("%s: hive exited with %s; see %s" % (who, process.returncode, log_path))
        try:
            if api.request("GET", "/readyz", timeout=2)[0] == 200:
                api.close()
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise SystemExit("%s: hive not ready within %d s; see %s" % (who, limit, log_path))


class Submitter(threading.Thread):
    """POSTs tasks at a steady `rate` (per second) until done.set(); each
    acknowledged task id is kept in `created`, in order. `task(n)` gives the
    body of task n; its Idempotency-Key is "<key_prefix>-<n>", so that a retry
    after a connection error (a swapping api) never submits it twice. A task not
    acknowledged within 30 s ends the run with `failure` set."""

    def __init__(self, port, rate, task, key_prefix):
        super().__init__(daemon=True)
        self.api = Api(port, attempts=1)
        self.period = 1.0 / rate
        self.task = task
        self.key_prefix = key_prefix
        self.created = []
        self.retries = collections.Counter()
        self.failure = None
        self.done = threading.Event()

    def run(self):
        n = 0
        next_at = time.monotonic()
        try:
            while not self.done.is_set():
                self.created.append(self.submit(n))
                n += 1
                next_at += self.period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.done.wait(delay)
                else:
                    next_at = time.monotonic()
        except Exception as e:  # reported by the checks
            self.failure = "task %d: %s" % (n, e)
        finally:
            self.api.close()

    def submit(self, n):
        headers = {"Idempotency-Key": "%s-%d" % (self.key_prefix, n)}
        deadline = time.monotonic() + 30
        while True:
            try:
                status, task = self.api.request("POST", "/api/v2/tasks", self.task(n), headers)
                if status in (200, 201) and task and task.get("id"):
                    return task["id"]  # 200: the same key answered again (an earlier try got through)
                self.retries["HTTP %d" % status] += 1
            except (OSError, http.client.HTTPException) as e:
                self.retries[type(e).__name__] += 1
            if time.monotonic() > deadline:
                raise AssertionError("not acknowledged within 30 s (retries: %s)" % dict(self.retries))
            time.sleep(0.02)


class HiveProcess:
    """A real hive run by an e2e test in `workdir` on the config `config_text`
    (a str.format template given {plugins}, {data} and {socket}): started with
    the sanitizer options a swapping hive needs, ready once /readyz answers 200
    on the port the api wrote, swapped with `hive plugins reload`, stopped with
    SIGTERM. `who` prefixes its failures."""

    def __init__(self, hive, workdir, plugins, config_text, who):
        self.hive = hive
        self.workdir = workdir
        self.who = who
        self.data = os.path.join(workdir, "data")
        self.socket = os.path.join(workdir, "control.sock")
        self.config = os.path.join(workdir, "hive.yaml")
        self.log = open(os.path.join(workdir, "hive.log"), "ab")
        self.process = None
        self.port = None
        with open(self.config, "w") as f:
            f.write(config_text.format(plugins=plugins, data=self.data, socket=self.socket))

    def start(self, timeout=90):
        env = dict(os.environ)
        # GCC <= 13's sanitizer runtime misreads the dynamic TLS blocks that a
        # swapped (dlclose'd) plugin leaves behind and LeakSanitizer's tracer
        # dies at exit ("Tracer caught signal 11", "DTLS ... at 0x...a12"), a
        # non-zero status with no leak; this option avoids it, leaks are still found.
        # fast_unwind_on_fatal: a crash in a plugin's unmapped code still gets a stack.
        options = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o]
        for option in ("intercept_tls_get_addr=0", "fast_unwind_on_fatal=1"):
            if not any(o.startswith(option.split("=")[0] + "=") for o in options):
                options.append(option)
        env["ASAN_OPTIONS"] = ":".join(options)
        self.process = subprocess.Popen([self.hive, "run", "-c", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env)
        port_file = os.path.join(self.data, "api", "port")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("%s: hive exited with %s; see %s" % (self.who, self.process.returncode, self.log.name))
            if self.port is None and os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                self.port = int(text) if text.isdigit() else None
            if self.port is not None:
                try:
                    if Api(self.port, attempts=1).request("GET", "/readyz", timeout=2)[0] == 200:
                        return
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.1)
        raise SystemExit("%s: hive not ready within %d s; see %s" % (self.who, timeout, self.log.name))

    def reload(self, plugin, timeout=45):
        """(exit status, output) of `hive plugins reload`; a swap takes at most
        twice drain_deadline (20 s), so 45 s without an answer is a failure."""
        try:
            done = subprocess.run([self.hive, "plugins", "reload", plugin, "--socket", self.socket],
                                  capture_output=True, text=True, timeout=timeout)
            return done.returncode, (done.stdout + done.stderr).strip()
        except subprocess.TimeoutExpired:
            return "timeout", "no answer within %d s" % timeout

    def plugin_status(self):
        try:
            done = subprocess.run([self.hive, "plugins", "status", "--socket", self.socket],
                                  capture_output=True, text=True, timeout=20)
            return (done.stdout + done.stderr).strip()
        except subprocess.TimeoutExpired:
            return "hive plugins status: no answer within 20 s"

    def sanitizer_report(self, lines=30):
        """The first lines of a sanitizer report in the log, if any."""
        with open(self.log.name, errors="replace") as f:
            text = f.read().splitlines()
        for i, line in enumerate(text):
            if "Sanitizer" in line and ("ERROR" in line or "fatal error" in line) or "runtime error:" in line:
                return "\n".join(text[max(0, i - 1):i + lines])
        return None

    def local_token(self):
        """The token the api wrote 0600 under the data dir: what the admin
        routes need while no hive.auth/1 provider runs."""
        with open(os.path.join(self.data, "api", "local_token")) as f:
            return f.read().strip()

    def problems(self, lines=40):
        """Its log's warn and error lines (at most `lines`): what a failed test
        prints, since its workdir is gone by the time anyone reads CI's output."""
        with open(self.log.name, errors="replace") as f:
            found = [line.rstrip() for line in f if " warn " in line or " error " in line]
        return found[:lines]

    def stop(self):
        """Its exit status after SIGTERM (killed after 60 s); 0 when never started."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return "killed after 60 s"
        return self.process.returncode
