"""HTTP helper shared by the end-to-end tests: one keep-alive connection to a
hive api that reconnects after errors and after `Connection: close` (what a
draining api generation answers)."""
import http.client
import json
import socket
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
