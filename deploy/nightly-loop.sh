#!/bin/sh
# Container scheduler for the batch: sleep until the next FASHION_BATCH_AT (HH:MM, local
# time of the container, TZ; default 02:00), run one batch, repeat. Used by docker-compose;
# on a plain host use cron instead (deploy/crontab).
#   sh deploy/nightly-loop.sh            # forever
#   sh deploy/nightly-loop.sh --once     # one batch now; exit code: the batch's
# Other arguments go to the batch (e.g. --dry-run).
set -u
if [ "${1:-}" = "--once" ]; then
    shift
    exec python src/batch_processor.py "$@"
fi
AT="${FASHION_BATCH_AT:-02:00}"
if ! date -d "today $AT" +%s >/dev/null 2>&1; then
    echo "nightly-loop: FASHION_BATCH_AT=$AT is not a time of day (HH:MM)" >&2
    exit 2
fi
while true; do
    now=$(date +%s)
    next=$(date -d "today $AT" +%s)
    [ "$next" -le "$now" ] && next=$(date -d "tomorrow $AT" +%s)
    echo "nightly-loop: next batch at $(date -d "@$next" '+%Y-%m-%d %H:%M %Z')"
    sleep $((next - now))
    python src/batch_processor.py "$@" || echo "nightly-loop: batch exited with $?"
done
