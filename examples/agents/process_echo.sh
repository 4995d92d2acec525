#!/bin/sh
# A process agent's command: Hive writes the task as JSON on stdin and runs this
# in the task's own work directory; the last line of stdout that is a JSON object
# is the result, and exit status 0 means success. Swap it for an LLM coding CLI
# or any script.
set -eu
task=$(cat)
bytes=$(printf '%s' "$task" | wc -c)
printf 'working in %s on %s bytes of task\n' "$(pwd)" "$bytes" >&2
printf '{"ok":true,"task_bytes":%s,"workdir":"%s"}\n' "$bytes" "$(pwd)"
