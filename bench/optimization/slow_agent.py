#!/usr/bin/env python3
"""examples/agents/hive_agent.py whose tasks take longer the more it runs at
once: sleep_ms × SLOW_FACTOR × max(1, running / SLOW_KNEE) — a machine that
saturates past SLOW_KNEE tasks. Same arguments as hive_agent.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "agents"))
import hive_agent  # noqa: E402

FACTOR = float(os.environ.get("SLOW_FACTOR", "3"))
KNEE = float(os.environ.get("SLOW_KNEE", "2"))
_work = hive_agent.Agent.work


async def slowed(self, task, lease_token):
    payload = dict(task.get("payload") or {})
    payload["sleep_ms"] = payload.get("sleep_ms", 0) * FACTOR * max(1.0, len(self.running) / KNEE)
    return await _work(self, dict(task, payload=payload), lease_token)


hive_agent.Agent.work = slowed

if __name__ == "__main__":
    sys.exit(hive_agent.main())
