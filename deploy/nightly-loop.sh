#!/bin/sh
# Container scheduler for the batch: sleep until the next FASHION_BATCH_AT (HH:MM, local
# time of the container, default 02:00), run one batch, repeat. Used by docker-compose;
# on a plain host use cron instead (deploy/crontab).
set -u
AT="${FASHION_BATCH_AT:-02:00}"
while true; do
    now=$(date +%s)
    next=$(date -d "today $AT" +%s)
    [ "$next" -le "$now" ] && next=$(date -d "tomorrow $AT" +%s)
    echo "nightly-loop: next batch at $(date -d "@$next" '+%Y-%m-%d %H:%M')"
    sleep $((next - now))
    python src/batch_processor.py || echo "nightly-loop: batch exited with $?"
done
