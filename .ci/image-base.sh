#!/usr/bin/env bash
# The local base image of make image-test: Debian bookworm minbase with Python, made with
# mmdebstrap from Debian's packages (no image registry here) and imported into podman.
# Prints its name (localhost/fashion-base:bookworm-KEY) as the last line. KEY hashes the
# package list and sources, so a changed list makes a new base. Cached twice: in podman's
# storage, and as a tarball in $FASHION_IMAGE_CACHE (default /var/cache/fashion-classifier)
# for when that storage was wiped. About 3 minutes from nothing, a second when cached.
#   bash .ci/image-base.sh [--help]
set -euo pipefail
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/.ci/containers.conf}"
SUITE=bookworm
PACKAGES="python3,python3-venv,python-is-python3,ca-certificates,netbase,tzdata"
SOURCES=(
    "deb http://deb.debian.org/debian $SUITE main"
    "deb http://deb.debian.org/debian $SUITE-updates main"
    "deb http://deb.debian.org/debian-security $SUITE-security main"
)
# this machine's apt reaches a snapshot whose Release files may be past Valid-Until
APT_OPTION='Acquire::Check-Valid-Until "false"'
KEY="$(printf '%s\n' "$SUITE" "$PACKAGES" "${SOURCES[@]}" "$APT_OPTION" | sha256sum | cut -c1-12)"
NAME="localhost/fashion-base:$SUITE-$KEY"
CACHE_DIR="${FASHION_IMAGE_CACHE:-/var/cache/fashion-classifier}"
TARBALL="$CACHE_DIR/base-$SUITE-$KEY.tar"
say() { echo "image-base: $*" >&2; }

for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null || { say "$tool is missing: apt-get install podman buildah runc mmdebstrap"; exit 1; }
done
if podman image exists "$NAME"; then
    say "$NAME is in podman's storage (cached)"
else
    if [ -f "$TARBALL" ] && [ -s "$TARBALL" ]; then
        say "importing the cached $TARBALL"
    else
        say "making $NAME with mmdebstrap ($PACKAGES); takes a few minutes"
        mkdir -p "$CACHE_DIR"
        rm -rf "$TARBALL" "$TARBALL.partial"  # what an interrupted run left
        mmdebstrap --quiet --variant=minbase --format=tar --include="$PACKAGES" --aptopt="$APT_OPTION" \
            "$SUITE" "$TARBALL.partial" "${SOURCES[@]}" >&2
        mv "$TARBALL.partial" "$TARBALL"
    fi
    podman import --quiet --change 'CMD ["/bin/bash"]' \
        --change "LABEL org.opencontainers.image.description=Debian $SUITE minbase + $PACKAGES (mmdebstrap)" \
        "$TARBALL" "$NAME" >/dev/null
    say "imported $NAME"
fi
echo "$NAME"
