#!/usr/bin/env python3
"""The deployment files agree with Hive as built: docs/deploy/kubernetes.yaml
parses; its probes use the public routes (/livez, /readyz); the grace period
covers preStop plus the container overlay's drain_deadline; the command layers
the files the Dockerfile and the ConfigMap put in place; and the layers
(config/base.yaml, deploy/container.yaml, the ConfigMap's site.yaml) pass the
real `hive check-config` with this build's plugins. The image itself is not
built here (no container daemon on the test machines).

    deploy_test.py --hive BIN --plugins DIR --source DIR
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import yaml


def fail(message):
    raise SystemExit("deploy_test: FAIL: " + message)


def seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m)", str(text))
    if not match:
        fail("cannot read the duration %r" % text)
    value, unit = int(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * (60 if unit == "m" else 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--source", required=True)
    args = parser.parse_args()
    source = args.source

    documents = [d for d in yaml.safe_load_all(open(os.path.join(source, "docs/deploy/kubernetes.yaml"))) if d]
    kinds = {d["kind"]: d for d in documents}
    for needed in ("ConfigMap", "Deployment", "Service", "PersistentVolumeClaim"):
        if needed not in kinds:
            fail("kubernetes.yaml has no %s" % needed)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/readyz")):
        got = container.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            fail("%s asks %r, not the public %s" % (probe, got, path))
    if kinds["Service"]["spec"]["selector"] != kinds["Deployment"]["spec"]["selector"]["matchLabels"]:
        fail("the Service does not select the Deployment's pods")

    overlay_path = os.path.join(source, "deploy/container.yaml")
    overlay = yaml.safe_load(open(overlay_path))
    drain = seconds(overlay["hive"]["drain_deadline"])
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    if pre_stop[0] != "sleep":
        fail("preStop is not a sleep: %s" % pre_stop)
    if pod["terminationGracePeriodSeconds"] < drain + int(pre_stop[1]):
        fail("terminationGracePeriodSeconds %d < preStop %s s + drain_deadline %s s" %
             (pod["terminationGracePeriodSeconds"], pre_stop[1], drain))

    command = container["command"]
    layers = [command[i + 1] for i, word in enumerate(command) if word == "-c"]
    if layers != ["/etc/hive/hive.yaml", "/etc/hive/container.yaml", "/etc/hive/site.yaml"]:
        fail("the container's layers are %s" % layers)
    dockerfile = open(os.path.join(source, "Dockerfile")).read()
    if "COPY deploy/container.yaml /etc/hive/container.yaml" not in dockerfile:
        fail("the Dockerfile does not put deploy/container.yaml at /etc/hive/container.yaml")
    entry = re.search(r'^ENTRYPOINT (\[.*\])$', dockerfile, re.M)
    if not entry or yaml.safe_load(entry.group(1)) != command[:-2]:
        fail("the Dockerfile's ENTRYPOINT differs from the Deployment's command without its site layer")
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    if mounts.get("/etc/hive/site.yaml", {}).get("subPath") != "site.yaml":
        fail("the ConfigMap's site.yaml is not mounted at /etc/hive/site.yaml")
    if mounts.get("/var/lib/hive") is None:
        fail("no volume at /var/lib/hive (data_dir of the package)")

    with tempfile.TemporaryDirectory() as work:
        site = os.path.join(work, "site.yaml")
        with open(site, "w") as f:
            f.write(kinds["ConfigMap"]["data"]["site.yaml"])
        env = dict(os.environ, HIVE_PLUGIN_DIR=os.path.abspath(args.plugins))
        check = subprocess.run([args.hive, "check-config", "-c", os.path.join(source, "config/base.yaml"),
                                "-c", overlay_path, "-c", site], env=env, capture_output=True, text=True,
                               timeout=120)
        if check.returncode != 0:
            print(check.stdout + check.stderr)
            fail("hive check-config refuses the container's layers")
    print("deploy_test: ok")


if __name__ == "__main__":
    sys.exit(main())
