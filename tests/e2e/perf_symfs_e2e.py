#!/usr/bin/env python3
"""End to end: scripts/perf-symfs gives `perf report` the plugin images of a
running hive.

hive runs api and storage_sqlite, each mapped from a private memfd copy. The
script, pointed at the process, must write a directory holding, under each
mapping's name (with and without " (deleted)"), the very bytes of the plugin
file, and links to the top-level directories of / (perf --symfs looks every
other library up there). Bad input gets a one-line reason and a non-zero
exit: a PID that is not a number (2), a process that maps no hive plugin (1).

Usage: perf_symfs_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins \
    --script scripts/perf-symfs
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import free_port, wait_ready  # noqa: E402


def say(*parts):
    print("perf_symfs_e2e:", *parts, flush=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--script", required=True)
    args = parser.parse_args()

    failures = []
    work = tempfile.mkdtemp(prefix="hive-perf-symfs-")
    process = None
    try:
        plugin_dir = os.path.join(work, "plugins")
        os.mkdir(plugin_dir)
        files = {}
        for name in ("api", "storage_sqlite"):
            found = sorted(glob.glob(os.path.join(args.plugins, name + "-*.so")))
            if not found:
                raise SystemExit("perf_symfs_e2e: no %s plugin in %s" % (name, args.plugins))
            files[name] = shutil.copy(found[-1], plugin_dir)
        port = free_port()
        config = os.path.join(work, "hive.yaml")
        with open(config, "w") as f:
            f.write("""hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: ""
  log_level: warn
plugins:
  api:
    config:
      listen: 127.0.0.1:{port}
      access_log: false
  storage_sqlite:
    config: {{}}
""".format(plugins=plugin_dir, data=os.path.join(work, "data"), port=port))
        log_path = os.path.join(work, "hive.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen([args.hive, "run", "--config", config], stdout=log, stderr=subprocess.STDOUT)
        wait_ready(process, port, log_path, "perf_symfs_e2e")

        symfs = os.path.join(work, "symfs")
        run = subprocess.run([args.script, str(process.pid), symfs], capture_output=True, text=True, timeout=120)
        say("script:", run.stdout.strip(), run.stderr.strip())
        if run.returncode != 0:
            failures.append("perf-symfs exited %d: %s" % (run.returncode, run.stderr.strip()))
        for name, path in files.items():
            images = [entry for entry in os.listdir(symfs) if entry.startswith("memfd:hive-%s-" % name)] \
                if os.path.isdir(symfs) else []
            plain = [entry for entry in images if not entry.endswith(" (deleted)")]
            if len(plain) != 1 or plain[0] + " (deleted)" not in images:
                failures.append("%s: expected its image under both names, found %r" % (name, images))
                continue
            if read(os.path.join(symfs, plain[0])) != read(path):
                failures.append("%s: the copied image is not the plugin file's bytes" % name)
            if read(os.path.join(symfs, plain[0] + " (deleted)")) != read(path):
                failures.append("%s: the ' (deleted)' name does not lead to the image" % name)
        for top in ("usr", "lib"):
            link = os.path.join(symfs, top)
            if os.path.exists("/" + top) and os.path.realpath(link) != os.path.realpath("/" + top):
                failures.append("%s is not linked to /%s" % (link, top))

        bad = subprocess.run([args.script, "not-a-pid"], capture_output=True, text=True, timeout=30)
        if bad.returncode != 2 or "not a process id" not in bad.stderr:
            failures.append("a PID that is not a number: exit %d, %r" % (bad.returncode, bad.stderr))
        none = subprocess.run([args.script, str(os.getpid()), os.path.join(work, "none")], capture_output=True,
                              text=True, timeout=30)
        if none.returncode != 1 or "maps no hive plugin image" not in none.stderr:
            failures.append("a process without plugins: exit %d, %r" % (none.returncode, none.stderr))
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)

    for failure in failures:
        say("FAIL:", failure)
    if failures:
        return 1
    say("ok: both plugin images copied byte for byte, bad input refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
