#!/usr/bin/env bash
# Runs one monitoring command from cron, with the batch's settings (see docs/MONITORING.md).
#
#   */5 * * * * /opt/fashion-classifier/monitoring/run_monitoring.sh check_api_health.py
#   0 7 * * *   /opt/fashion-classifier/monitoring/run_monitoring.sh check_batch_health.py
#   0 7 * * 1   /opt/fashion-classifier/monitoring/run_monitoring.sh weekly_report.py
#
# Settings come from config/batch.env if present (the same file as run_batch_processing.sh:
# API_URL, FASHION_SMTP_*, FASHION_SLACK_WEBHOOK_URL, ...). Output is appended to
# logs/cron_monitoring.log. Exit code: the command's (0 OK, 1 warning, 2 critical).
set -u
umask 022

PROJECT_DIR="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
if [ $# -lt 1 ]; then
    echo "usage: $0 COMMAND.py [ARGS...]   (a script in $PROJECT_DIR/monitoring/)" >&2
    exit 64
fi
COMMAND="$(basename "$1")"
shift
if [ ! -f "$PROJECT_DIR/monitoring/$COMMAND" ] || [ "$COMMAND" = "run_monitoring.sh" ]; then
    echo "run_monitoring: no such monitoring command: $COMMAND" >&2
    exit 64
fi

# shellcheck source=../deploy/cron-env.sh
. "$PROJECT_DIR/deploy/cron-env.sh"
exec >>"$LOG_DIR/cron_monitoring.log" 2>&1

if [ -z "$PYTHON" ]; then
    echo "[$(date '+%Y-%m-%d %H:%M:%S')] run_monitoring: no virtualenv found (set FASHION_VENV)"
    exit 2
fi

cd "$PROJECT_DIR" || exit 2
"$PYTHON" "$PROJECT_DIR/monitoring/$COMMAND" "$@"
