#!/usr/bin/env bash
# Run a command with the local services up, then stop them, keeping the command's exit code.
#
#   scripts/with-stack.sh .venv/bin/pytest -x
#
# `aiqleads up` starts Kafka, Redis and (for a clickhouse:// AIQ_CLICKHOUSE_URL) a ClickHouse
# server under AIQ_STATE_DIR; `aiqleads down` afterwards stops only what `up` started, also on
# failure or Ctrl-C. The caller sets the AIQ_* environment (the Makefile does);
# STACK_CLICKHOUSE_URL, when set, is the AIQ_CLICKHOUSE_URL of `up` and `down` only, so the
# command keeps its own.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
AIQLEADS=${AIQLEADS:-.venv/bin/aiqleads}

stack() {
    if [ -n "${STACK_CLICKHOUSE_URL:-}" ]; then
        AIQ_CLICKHOUSE_URL=$STACK_CLICKHOUSE_URL "$AIQLEADS" "$@"
    else
        "$AIQLEADS" "$@"
    fi
}

stop_stack() {
    stack down || echo "[stack] warning: aiqleads down failed" >&2
}
trap stop_stack EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack up
set +e
"$@"
status=$?
set -e
exit "$status"
