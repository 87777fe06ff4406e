# Sourced (not run) by run_batch_processing.sh and monitoring/run_monitoring.sh: cron's
# empty environment made sane, config/batch.env loaded, the virtualenv found.
# Needs PROJECT_DIR; sets ENV_FILE, LOG_DIR (created) and PYTHON (empty if no virtualenv).
# shellcheck shell=bash
export PATH="/usr/local/bin:/usr/bin:/bin"
export LANG="${LANG:-C.UTF-8}" LC_ALL="${LC_ALL:-C.UTF-8}" PYTHONIOENCODING="utf-8"

ENV_FILE="${FASHION_BATCH_ENV:-$PROJECT_DIR/config/batch.env}"
if [ -f "$ENV_FILE" ]; then
    set -a
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    set +a
fi

LOG_DIR="${FASHION_CRON_LOG_DIR:-$PROJECT_DIR/logs}"
mkdir -p "$LOG_DIR"

# The project's virtualenv: FASHION_VENV, else .venv in the project, else ../venv beside it.
PYTHON=""
for candidate in "${FASHION_VENV:-}" "$PROJECT_DIR/.venv" "$PROJECT_DIR/../venv"; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/python" ]; then
        PYTHON="$candidate/bin/python"
        break
    fi
done
