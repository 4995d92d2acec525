#!/usr/bin/python3
"""End to end: the `api` plugin swaps itself over HTTP, with the real `hive`
binary (api + storage_sqlite + communication_engine), under wrk load.

While wrk (Debian) hammers GET /health, POST /api/v2/admin/plugins/api/reload
--swaps times (10), one after the other; each answers 202 Accepted with a
Location (/api/v2/admin/reloads/{id}) that is followed until the reload is
`swapped`. Checks: every POST is 202 with a Location; every reload ends
`swapped`, one generation up; api ends at generation 1 + swaps; wrk made
requests with 0 socket errors and 0 non-2xx; the replaced generations are
unmapped (one memfd:hive-api- image left in /proc/<pid>/maps, no retired api
generation in `hive plugins status`); an unknown plugin is 404, an unknown
reload id 404; no sanitizer report, and hive stops with status 0.

The plugin files are copied into a directory of the test's own, so that a
rebuild of build/dev/plugins while it runs (the directory is watched) does not
swap anything behind its back.

    api_self_reload_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--swaps 10] [--keep]

Exit status 0 when every check passed.
"""
import argparse
import glob
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PLUGINS = ("api", "storage_sqlite", "communication_engine")


def say(*parts):
    print("api-self-reload:", *parts, flush=True)


class Client:
    """One keep-alive connection that reconnects after errors and after
    `Connection: close` (what a draining api generation answers)."""

    def __init__(self, port, token=None):
        self.port = port
        self.connection = None
        # The api's local token: the admin routes need it (no auth provider runs).
        self.token = token

    def request(self, method, path, headers=None, attempts=3):
        sent = {"Authorization": "Bearer " + self.token} if self.token else {}
        sent.update(headers or {})
        for attempt in range(attempts):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.connection.request(method, path, headers=sent)
                response = self.connection.getresponse()
                text = response.read()
                if (response.getheader("Connection") or "").lower() == "close":
                    self.close()
                return response.status, dict(response.getheaders()), (json.loads(text) if text else None)
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("attempts must be at least 1")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Hive:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.plugins = os.path.join(workdir, "plugins")
        self.data = os.path.join(workdir, "data")
        self.socket = os.path.join(workdir, "control.sock")
        self.config = os.path.join(workdir, "hive.yaml")
        self.log = open(os.path.join(workdir, "hive.log"), "ab")
        self.process = None
        self.port = None
        os.makedirs(self.plugins)
        for name in PLUGINS:
            files = glob.glob(os.path.join(args.plugins, name + "-*.so"))
            if not files:
                raise SystemExit("api-self-reload: no %s-*.so in %s" % (name, args.plugins))
            for path in files:
                shutil.copy(path, self.plugins)
        with open(self.config, "w") as f:
            f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
  drain_deadline: 10s
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
""".format(plugins=self.plugins, data=self.data, socket=self.socket))

    def local_token(self):
        with open(os.path.join(self.data, "api", "local_token")) as f:
            return f.read().strip()

    def start(self, timeout=90):
        env = dict(os.environ)
        # As in api_swap_e2e.py: GCC <= 13's LeakSanitizer misreads the TLS a
        # dlclose'd plugin leaves behind; this keeps leak checks and avoids it.
        options = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o]
        if not any(o.startswith("intercept_tls_get_addr=") for o in options):
            options.append("intercept_tls_get_addr=0")
        env["ASAN_OPTIONS"] = ":".join(options)
        self.process = subprocess.Popen([self.args.hive, "run", "-c", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env)
        port_file = os.path.join(self.data, "api", "port")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("api-self-reload: hive exited with %s; see %s" %
                                 (self.process.returncode, self.log.name))
            if self.port is None and os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                self.port = int(text) if text.isdigit() else None
            if self.port is not None:
                try:
                    if Client(self.port).request("GET", "/readyz", attempts=1)[0] == 200:
                        return
                except (OSError, http.client.HTTPException):
                    pass
            time.sleep(0.1)
        raise SystemExit("api-self-reload: hive not ready within %d s; see %s" % (timeout, self.log.name))

    def api_images(self):
        """Distinct memfd images of the api plugin mapped in the hive process."""
        with open("/proc/%d/maps" % self.process.pid) as f:
            return set(re.findall(r"/memfd:(hive-api-[^ \n]*)", f.read()))

    def retired_api(self):
        done = subprocess.run([self.args.hive, "plugins", "status", "--socket", self.socket],
                              capture_output=True, text=True, timeout=20)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("retired") == "api"]

    def sanitizer_report(self):
        with open(self.log.name, errors="replace") as f:
            text = f.read()
        m = re.search(r"(ERROR: \w+Sanitizer|runtime error:).*", text)
        return text[m.start():m.start() + 3000] if m else None

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return "killed after 60 s"


def parse_wrk(text):
    figures = {"requests": 0, "socket_errors": [0, 0, 0, 0], "non2xx": 0}
    m = re.search(r"(\d+) requests in", text)
    if m:
        figures["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        figures["socket_errors"] = [int(x) for x in m.groups()]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        figures["non2xx"] = int(m.group(1))
    return figures


def generation(client):
    status, _, body = client.request("GET", "/api/v2/admin/plugins/api")
    if status != 200:
        raise AssertionError("GET /api/v2/admin/plugins/api: %d %s" % (status, body))
    return body["generation"]


def follow(client, location, timeout=60):
    """The reload record at `location` once it is swapped or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, body = client.request("GET", location)
        if status != 200:
            raise AssertionError("GET %s: %d %s" % (location, status, body))
        if body["state"] in ("swapped", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("%s not finished within %d s" % (location, timeout))


def swap(args, hive, failures):
    client = Client(hive.port, hive.local_token())
    before = generation(client)
    for k in range(args.swaps):
        begin = time.monotonic()
        status, headers, body = client.request("POST", "/api/v2/admin/plugins/api/reload")
        location = headers.get("Location") or headers.get("location")
        if status != 202 or not location:
            failures.append("swap %d: POST answered %d, Location %r: %s" % (k + 1, status, location, body))
            return before, None
        record = follow(client, location)
        if record["state"] != "swapped" or record["generationAfter"] != record["generationBefore"] + 1:
            failures.append("swap %d: %s" % (k + 1, record))
            return before, None
        say("swap %d: generation %d -> %d in %.2f s (%s)" % (k + 1, record["generationBefore"],
                                                              record["generationAfter"],
                                                              time.monotonic() - begin, location))
        time.sleep(args.spacing)
    return before, generation(client)


def check_refusals(hive, failures):
    client = Client(hive.port, hive.local_token())
    status, _, _ = client.request("POST", "/api/v2/admin/plugins/nosuchplugin/reload",
                                  headers={"Prefer": "respond-async"})
    if status != 404:
        failures.append("reload of an unknown plugin answered %d, not 404" % status)
    status, _, _ = client.request("GET", "/api/v2/admin/reloads/987654")
    if status != 404:
        failures.append("an unknown reload id answered %d, not 404" % status)


def check_unmapped(hive, failures):
    # A replaced generation closes once nothing pins it; the kernel reaps once a second.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        images, retired = hive.api_images(), hive.retired_api()
        if len(images) == 1 and not retired:
            say("one api image mapped (%s), no retired api generation" % next(iter(images)))
            return
        time.sleep(0.5)
    failures.append("api images still mapped: %s; retired: %s" % (sorted(images), retired))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--swaps", type=int, default=10)
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds of load between swaps")
    parser.add_argument("--wrk-connections", type=int, default=20)
    parser.add_argument("--wrk-timeout", type=int, default=10,
                        help="seconds without a response that wrk counts as a timeout (2, its default, is "
                             "reached by CPU starvation alone on a loaded 2-core machine under ASan)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("api-self-reload: wrk not found (apt-get install wrk)")

    workdir = tempfile.mkdtemp(prefix="hive-api-self-reload-")
    hive = Hive(args, workdir)
    failures = []
    try:
        hive.start()
        say("hive ready on port %d (work dir %s)" % (hive.port, workdir))
        wrk_out = open(os.path.join(workdir, "wrk.out"), "w+")
        wrk = subprocess.Popen(["wrk", "-t1", "-c%d" % args.wrk_connections, "-d600s",
                                "--timeout", "%ds" % args.wrk_timeout,
                                "http://127.0.0.1:%d/health" % hive.port], stdout=wrk_out, stderr=subprocess.STDOUT)
        time.sleep(1)  # load first
        try:
            before, after = swap(args, hive, failures)
        finally:
            wrk.send_signal(signal.SIGINT)  # wrk stops and prints its figures
            wrk.wait(30)
        wrk_out.seek(0)
        figures = parse_wrk(wrk_out.read())
        say("wrk: %d requests, socket errors %s, non-2xx %d" %
            (figures["requests"], figures["socket_errors"], figures["non2xx"]))
        if not figures["requests"]:
            failures.append("wrk made no request")
        if any(figures["socket_errors"]) or figures["non2xx"]:
            failures.append("wrk errors: socket %s, non-2xx %d" % (figures["socket_errors"], figures["non2xx"]))
        if after is not None and after != before + args.swaps:
            failures.append("api generation %d after %d swaps from %d" % (after, args.swaps, before))
        elif after is not None:
            say("api generation %d -> %d" % (before, after))
        check_refusals(hive, failures)
        check_unmapped(hive, failures)
    finally:
        status = hive.stop()
        if status != 0:
            failures.append("hive stopped with status %s" % status)
        report = hive.sanitizer_report()
        if report:
            failures.append("sanitizer report:\n" + report)
    for failure in failures:
        say("FAIL: " + failure)
    if failures or args.keep:
        say("work dir kept: " + workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
