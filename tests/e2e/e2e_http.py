"""HTTP helper shared by the end-to-end tests: one keep-alive connection to a
hive api that reconnects after errors and after `Connection: close` (what a
draining api generation answers)."""
import collections
import http.client
import json
import socket
import threading
import time


def free_port():
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port, attempts=2):
        self.port = port
        self.attempts = attempts  # tries per request; a failed one reconnects first
        self.connection = None

    def request(self, method, path, body=None, headers=None, timeout=10):
        for attempt in range(self.attempts):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                data = json.dumps(body) if body is not None else None
                h = {"Content-Type": "application/json"} if data else {}
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
