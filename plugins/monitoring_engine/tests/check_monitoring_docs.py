#!/usr/bin/env python3
"""Checks docs/monitoring/grafana-dashboard.json: valid JSON, a dashboard with
panels, and every series an expression names is one docs/observability.md
lists (the list of what Hive exports), so that a renamed metric cannot leave
the dashboard silently empty. Same check for docs/monitoring/prometheus-rules.yml.

Usage: check_monitoring_docs.py REPOSITORY_ROOT
"""
import json
import os
import re
import sys

SERIES = re.compile(r"\b((?:hive|process)_[a-z0-9_]+)")


def exported(root):
    with open(os.path.join(root, "docs", "observability.md")) as f:
        return set(re.findall(r"`((?:hive|process)_[a-z0-9_]+)", f.read()))


def base(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def main():
    root = sys.argv[1]
    known = exported(root)
    failures = []
    with open(os.path.join(root, "docs", "monitoring", "grafana-dashboard.json")) as f:
        dashboard = json.load(f)  # raises on invalid JSON: the test fails with the position
    panels = dashboard.get("panels") or []
    if not dashboard.get("title") or not panels:
        failures.append("grafana-dashboard.json: no title or no panels")
    for panel in panels:
        for target in panel.get("targets", []):
            for name in SERIES.findall(target.get("expr", "")):
                if base(name) not in known and name not in known:
                    failures.append("dashboard panel %r: %s is not in docs/observability.md" % (panel["title"], name))
    with open(os.path.join(root, "docs", "monitoring", "prometheus-rules.yml")) as f:
        for name in SERIES.findall(f.read()):
            if base(name) not in known and name not in known:
                failures.append("prometheus-rules.yml: %s is not in docs/observability.md" % name)
    for failure in failures:
        print("check_monitoring_docs: FAIL:", failure)
    if failures:
        sys.exit(1)
    print("check_monitoring_docs: %d panels, every series known" % len(panels))


if __name__ == "__main__":
    main()
