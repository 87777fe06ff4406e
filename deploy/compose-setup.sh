#!/bin/sh
# Prepares a checkout for docker-compose.yml, once, as root (sudo): the folders the
# containers write, owned by the image's user 10001:10001, and config/app.env (from
# config/app.env.example, with a fresh random key the API and the batch share; mode 600).
# Never overwrites an existing config/app.env. Safe to run again.
#   sudo deploy/compose-setup.sh [PROJECT_DIR]        (default: this checkout)
set -eu
case "${1:-}" in
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
PROJECT_DIR="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
APP_UID=10001
APP_GID=10001
cd "$PROJECT_DIR"
if [ "$(id -u)" != 0 ]; then
    echo "compose-setup: run as root (sudo $0): the folders must belong to uid $APP_UID" >&2
    exit 1
fi
for folder in data/incoming data/processed_batches data/failed data/corrections data/retake \
              results/batch_results results/reports logs exports; do
    mkdir -p "$folder"
done
chown -R "$APP_UID:$APP_GID" data results logs exports
echo "compose-setup: data/ results/ logs/ exports/ belong to $APP_UID:$APP_GID"
if [ -e config/app.env ]; then
    echo "compose-setup: config/app.env exists, left as it is"
else
    key="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
    umask 077
    sed "s|@GENERATED@|$key|" config/app.env.example >config/app.env
    echo "compose-setup: wrote config/app.env (mode 600) with a new FASHION_TRUSTED_KEYS"
fi
