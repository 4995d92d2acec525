#!/usr/bin/python3
"""End to end in a real browser: the dashboard plugin in the real `hive`
(storage_sqlite, communication_engine, task_manager, orchestrator,
workflow_engine, monitoring_engine, api, dashboard), driven by
browser_test.mjs through playwright-core and Debian's headless chromium, in
two phases:
  - live: no auth provider (the loopback default) and two real remote agents
    (examples/agents/hive_agent.py): every live scenario of browser_test.mjs;
  - signin: security_manager too, with a viewer and an operator key made by
    `hive auth keys create`: sign-in, a refused key, what a viewer sees, the
    WebSocket authenticated by the key, sign-out; neither key in hive's log.
This script starts and stops the processes, checks the headers a browser gets
over the wire, and that hive leaves no sanitizer report and stops with 0.

    dashboard_browser_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins \
        --modules build/dev/plugins/dashboard/web [--chromium /usr/bin/chromium] \
        [--screenshots DIR] [--keep]

Exit status 0 when every check passed; 77 (a skip for ctest) when chromium is
not installed (Debian package chromium; scripts/deps installs it).
"""
import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from e2e_http import Api, HiveProcess, free_port  # noqa: E402

AGENT = os.path.join(ROOT, "examples", "agents", "hive_agent.py")
CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
plugins:
  storage_sqlite:
    config: {{}}
  communication_engine:
    config: {{}}
  task_manager:
    config: {{}}
  orchestrator:
    config: {{}}
  workflow_engine:
    config: {{}}
  monitoring_engine:
    config: {{}}
SECURITY  api:
    config:
      listen: 127.0.0.1:PORT
      access_log: false
  dashboard:
    config: {{}}
"""


def say(*parts):
    print("dashboard-e2e:", *parts, flush=True)


def check_headers(port, failures):
    """What a browser gets over the wire: brotli or gzip as asked, the caches,
    the policy."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/dashboard/", headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    body = response.read()
    if response.getheader("Content-Encoding") != "gzip":
        failures.append("GET /dashboard/ with Accept-Encoding: gzip: %s" % response.getheader("Content-Encoding"))
    else:
        body = gzip.decompress(body)
    csp = response.getheader("Content-Security-Policy") or ""
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws: wss:"):
        if directive not in csp:
            failures.append("CSP lacks %r: %r" % (directive, csp))
    if response.getheader("Cache-Control") != "no-cache":
        failures.append("index.html Cache-Control: %r" % response.getheader("Cache-Control"))
    text = body.decode()
    start = text.find("/dashboard/assets/")
    asset = text[start:text.find('"', start)]
    connection.request("GET", asset, headers={"Accept-Encoding": "br, gzip"})
    response = connection.getresponse()
    response.read()
    if response.status != 200 or response.getheader("Content-Encoding") != "br":
        failures.append("GET %s: %s, encoding %s" % (asset, response.status, response.getheader("Content-Encoding")))
    if response.getheader("Cache-Control") != "public, max-age=31536000, immutable":
        failures.append("%s Cache-Control: %r" % (asset, response.getheader("Cache-Control")))
    connection.close()


def run_browser(command, failures, what):
    started = time.monotonic()
    done = subprocess.run(command, timeout=240)
    say("%s: browser scenarios took %.1f s" % (what, time.monotonic() - started))
    if done.returncode != 0:
        failures.append("%s: browser_test.mjs exited with %s" % (what, done.returncode))


def stop(hive, failures, what):
    before = len(failures)
    status = hive.stop()
    if status != 0:
        failures.append("%s: hive exited with %s" % (what, status))
    # The kernel says so when a swap could not park its threads (a reload run on
    # a runtime thread) or a generation is left behind: never expected here.
    kernel_errors = [line for line in hive.problems(1000) if " error [kernel]" in line]
    if kernel_errors:
        failures.append("%s: the kernel logged errors:\n    %s" % (what, "\n    ".join(kernel_errors)))
    if len(failures) > before or any(f.startswith(what + ":") for f in failures):
        say("%s: hive's warnings and errors:\n  %s" % (what, "\n  ".join(hive.problems()) or "(none)"))
    report = hive.sanitizer_report()
    if report:
        failures.append("%s: sanitizer report in %s:\n%s" % (what, hive.log.name, report))


def live_phase(args, workdir, browser, failures):
    """No auth provider (the loopback default), two agents: every live scenario."""
    os.makedirs(workdir)
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins), CONFIG.replace("SECURITY", "").replace("PORT", str(free_port())), "dashboard-e2e")
    agents = []
    try:
        hive.start()
        for name in ("py-1", "py-2"):
            log = open(os.path.join(workdir, name + ".log"), "wb")
            agents.append(subprocess.Popen(
                [sys.executable, AGENT, "--url", "ws://127.0.0.1:%d/api/v2/agents/connect" % hive.port,
                 "--name", name, "--capabilities", "py", "--concurrency", "2"],
                stdout=log, stderr=subprocess.STDOUT))
        api = Api(hive.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, body = api.request("GET", "/api/v2/agents")
            if status == 200 and len([a for a in body["items"] if a["status"] != "offline"]) == 2:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("dashboard-e2e: the two agents did not connect; see %s" % workdir)
        check_headers(hive.port, failures)
        # The link `hive dashboard` prints carries the api's local token (the
        # admin views need it: no auth provider runs).
        printed = subprocess.run([args.hive, "dashboard", "-c", hive.config], capture_output=True, text=True)
        link = printed.stdout.strip()
        expected = "http://127.0.0.1:%d/dashboard/#token=%s" % (hive.port, hive.local_token())
        if printed.returncode != 0 or link != expected:
            failures.append("hive dashboard printed %r (exit %d), not %r: %s" %
                            (link, printed.returncode, expected, printed.stderr.strip()))
        run_browser(browser + ["--url", "http://127.0.0.1:%d" % hive.port, "--local-token", hive.local_token()],
                    failures, "live")
    finally:
        for agent in agents:
            agent.terminate()
            try:
                agent.wait(10)
            except subprocess.TimeoutExpired:
                agent.kill()
        stop(hive, failures, "live")


def signin_phase(args, workdir, browser, failures):
    """security_manager runs: sign in with keys made by `hive auth keys create`."""
    os.makedirs(workdir)
    hive = HiveProcess(args.hive, workdir, os.path.abspath(args.plugins),
                       CONFIG.replace("SECURITY", "  security_manager:\n    config: {{}}\n").replace("PORT", str(free_port())), "dashboard-e2e")
    keys = {}
    for role in ("viewer", "operator"):
        done = subprocess.run([args.hive, "auth", "keys", "create", "-c", hive.config, "--name", "dash-" + role,
                               "--role", role], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            failures.append("hive auth keys create --role %s: %s" % (role, done.stderr.strip()))
            return
        keys[role] = done.stdout.strip().splitlines()[-1]
    try:
        hive.start()
        run_browser(browser + ["--url", "http://127.0.0.1:%d" % hive.port, "--scenario", "signin",
                               "--viewer-key", keys["viewer"], "--operator-key", keys["operator"]], failures, "signin")
    finally:
        stop(hive, failures, "signin")
    with open(hive.log.name, errors="replace") as f:
        log = f.read()
    for role, key in keys.items():
        if key in log:
            failures.append("the %s key is in hive's log" % role)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--modules", required=True, help="the npm project with node_modules (the build's web/)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", default="")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    if not os.path.exists(args.chromium):
        say("SKIP: %s not found; install the Debian package chromium (scripts/deps)" % args.chromium)
        return 77
    node = shutil.which("node")
    if node is None:
        say("FAIL: node not found (Debian package nodejs)")
        return 1

    workdir = tempfile.mkdtemp(prefix="hive-dashboard-")
    failures = []
    browser = [node, os.path.join(HERE, "browser_test.mjs"), "--modules", os.path.abspath(args.modules),
               "--chromium", args.chromium]
    if args.screenshots:
        browser += ["--screenshots", os.path.abspath(args.screenshots)]
    live_phase(args, os.path.join(workdir, "live"), browser, failures)
    signin_phase(args, os.path.join(workdir, "signin"), browser, failures)
    if failures:
        say("FAIL (workdir %s):\n  %s" % (workdir, "\n  ".join(failures)))
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
