#!/usr/bin/env python3
"""An installed Hive runs without its source or build tree.

`cmake --install BUILD --prefix A`, then the prefix is moved to B (nothing may
point back into the build or into A), then B/bin/hive runs on the installed
B/etc/hive/hive.yaml, started from / with a bare environment: it must find its
plugins under B/<libdir>/hive/plugins by itself, keep its data under
B/var/lib/hive, answer /health, and run a task on the shipped `shell` process
agent. It runs as systemd's Type=notify would: $NOTIFY_SOCKET gets READY=1 once
started, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 at SIGTERM, which
ends it with status 0.

    install_e2e.py --build BUILD_DIR
"""
import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import Api, free_port, wait_ready  # noqa: E402


def fail(message):
    raise SystemExit("install_e2e: FAIL: " + message)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", required=True, help="a configured and fully built CMake build directory")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hive-install-")
    os.chmod(work, 0o755)  # the process agents' sandbox user reaches the workspace under it
    try:
        run(os.path.abspath(args.build), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("install_e2e: ok")


def run(build, work):
    first, moved = os.path.join(work, "a"), os.path.join(work, "b")
    log = os.path.join(work, "install.log")
    with open(log, "wb") as out:
        if subprocess.call(["cmake", "--install", build, "--prefix", first], stdout=out, stderr=out) != 0:
            print(open(log, errors="replace").read()[-4000:])
            fail("cmake --install failed")
    os.rename(first, moved)

    plugins = glob.glob(os.path.join(moved, "lib*", "**", "hive", "plugins", "*.so"), recursive=True)
    names = sorted(os.path.basename(p).rsplit("-", 1)[0] for p in plugins)
    for needed in ("api", "storage_sqlite", "communication_engine", "task_manager", "orchestrator",
                   "task_execution_engine", "storage_postgres"):
        if needed not in names:
            fail("the install lacks the %s plugin (installed: %s)" % (needed, ", ".join(names) or "none"))
    config = os.path.join(moved, "etc", "hive", "hive.yaml")
    for path in (os.path.join(moved, "bin", "hive"), config, os.path.join(moved, "share", "doc", "hive", "operators.md")):
        if not os.path.isfile(path):
            fail("the install lacks " + os.path.relpath(path, moved))
    unit = open(os.path.join(moved, "lib", "systemd", "system", "hive.service")).read()
    if "ExecStart=%s/bin/hive run -c %s/etc/hive/hive.yaml" % (first, first) not in unit:
        fail("the installed unit does not start the installed hive on the installed config")
    text = open(config).read()
    if "plugin_dirs" in text.split("plugins:")[0].replace("# plugin_dirs", ""):
        fail("the installed config still names plugin_dirs")

    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": work, "HIVE_LISTEN": "127.0.0.1:%d" % port,
           "HIVE_WORKSPACE": os.path.join(work, "workspace")}
    for sanitizer in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"):
        if sanitizer in os.environ:
            env[sanitizer] = os.environ[sanitizer]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    env["NOTIFY_SOCKET"] = os.path.join(work, "notify.sock")
    notify.bind(env["NOTIFY_SOCKET"])
    notify.settimeout(30)
    hive_log = os.path.join(work, "hive.log")
    with open(hive_log, "wb") as out:
        hive = subprocess.Popen([os.path.join(moved, "bin", "hive"), "run", "-c", config], cwd="/", env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        try_run(hive, port, hive_log, moved)
        expect(notify, "READY=1")
        hive.send_signal(signal.SIGHUP)
        expect(notify, "RELOADING=1")
        expect(notify, "READY=1")
    except SystemExit:
        lines = [line for line in open(hive_log, errors="replace") if " access " not in line]
        print("".join(lines[-60:]))
        raise
    finally:
        hive.send_signal(signal.SIGTERM)
        try:
            code = hive.wait(30)
        except subprocess.TimeoutExpired:
            hive.kill()
            code = "killed after 30 s"
    if code != 0:
        print(open(hive_log, errors="replace").read()[-4000:])
        fail("hive exited with %s after SIGTERM" % code)
    expect(notify, "STOPPING=1")
    notify.close()


def expect(notify, state):
    """The next sd_notify datagram starts with `state`."""
    try:
        got = notify.recv(4096).decode()
    except socket.timeout:
        fail("no %s on $NOTIFY_SOCKET within 30 s" % state)
    if not got.startswith(state):
        fail("$NOTIFY_SOCKET got %r, expected %s" % (got, state))


def try_run(hive, port, hive_log, moved):
    if True:
        wait_ready(hive, port, hive_log, who="install_e2e")
        if " 0 failed" not in open(hive_log, errors="replace").read():
            fail("not every enabled plugin started")
        api = Api(port)
        status, body = api.request("GET", "/health")
        if status != 200:
            fail("/health answered %d: %s" % (status, body))
        status, task = api.request("POST", "/api/v2/tasks",
                                   {"type": "echo", "capabilities": ["shell"], "payload": {"hello": "installed"}})
        if status != 201:
            fail("submit answered %d: %s" % (status, task))
        deadline = time.monotonic() + 60
        while True:
            status, got = api.request("GET", "/api/v2/tasks/" + task["id"])
            if status == 200 and got["status"] in ("succeeded", "failed", "dead", "cancelled"):
                break
            if time.monotonic() > deadline:
                fail("the task did not finish in 60 s: %s" % got)
            time.sleep(0.1)
        if got["status"] != "succeeded" or got.get("result", {}).get("ok") is not True:
            fail("the task on the shipped shell agent ended %s: %s" % (got["status"], got))
        data = os.path.join(moved, "var", "lib", "hive")
        if not os.path.isdir(os.path.join(data, "storage_sqlite")):
            fail("no store under <prefix>/var/lib/hive: %s" % (os.listdir(data) if os.path.isdir(data) else "missing"))
        api.close()


if __name__ == "__main__":
    main()
