#!/usr/bin/env bash
# Nightly batch for cron: classifies data/incoming/ and writes the reports (see docs/BATCH.md).
#
# Crontab line (every night at 2 AM; cron gives an empty environment, so use absolute paths):
#   0 2 * * * /opt/fashion-classifier/run_batch_processing.sh
#
# Settings come from config/batch.env if present (KEY=value lines, e.g. API_URL,
# FASHION_BATCH_KEY, FASHION_SMTP_HOST, FASHION_SLACK_WEBHOOK_URL, FASHION_VENV).
# Output of every run is appended to logs/cron_batch.log; each run also writes
# logs/batch_YYYYMMDD_HHMMSS.log. Extra arguments are passed to the batch
# (e.g. --dry-run). Exit code: the batch's; 0 also when another run is still going.
set -u
umask 022

PROJECT_DIR="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
# shellcheck source=deploy/cron-env.sh
. "$PROJECT_DIR/deploy/cron-env.sh"
CRON_LOG="$LOG_DIR/cron_batch.log"
LOCK_FILE="$LOG_DIR/run_batch_processing.lock"
# Started from a terminal: say where the output goes (cron mails whatever is printed, so not there).
exec 3>&1
if [ -t 3 ]; then
    echo "run_batch_processing: output is appended to $CRON_LOG (each run also writes $LOG_DIR/batch_<run id>.log)" >&3
fi
exec >>"$CRON_LOG" 2>&1

say() { printf '[%s] run_batch_processing: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"; }

if [ -z "$PYTHON" ]; then
    say "ERROR: no virtualenv found (set FASHION_VENV in $ENV_FILE or run 'make run' once)"
    exit 1
fi

# One run at a time. flock is released by the kernel when its holder dies, so a
# lock file left by a killed run never blocks the next night; the pid inside
# only tells us (and the log) whether the previous holder died.
exec 9<>"$LOCK_FILE"
if ! flock -n 9; then
    say "another batch run is in progress (pid $(cat "$LOCK_FILE" 2>/dev/null || echo '?')); not starting"
    exit 0
fi
OLD_PID="$(head -n1 "$LOCK_FILE" 2>/dev/null | tr -dc '0-9')"
if [ -n "$OLD_PID" ]; then
    if kill -0 "$OLD_PID" 2>/dev/null; then
        reason="pid $OLD_PID is alive but does not hold the lock"
    else
        reason="pid $OLD_PID is gone"
    fi
    say "stale lock from an earlier run detected ($reason); cleared, its work will be resumed"
fi
truncate -s 0 "$LOCK_FILE"
echo "$$" >"$LOCK_FILE"
cleanup() { truncate -s 0 "$LOCK_FILE" 2>/dev/null; }
trap cleanup EXIT

cd "$PROJECT_DIR" || exit 1
say "starting batch with $PYTHON"
"$PYTHON" "$PROJECT_DIR/src/batch_processor.py" "$@"
status=$?
say "batch finished with exit code $status"
if [ -t 3 ]; then
    echo "run_batch_processing: finished with exit code $status; see $CRON_LOG" >&3
fi
exit "$status"
