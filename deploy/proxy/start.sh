#!/bin/sh
# Writes the nginx config from the template (upstream and port from the environment), runs nginx.
set -eu
case "$FASHION_PROXY_UPSTREAM$PORT" in
    *[!A-Za-z0-9.:_\[\]-]*) echo "proxy: bad FASHION_PROXY_UPSTREAM or PORT" >&2; exit 2 ;;
esac
mkdir -p /tmp/nginx
sed -e "s|@UPSTREAM@|$FASHION_PROXY_UPSTREAM|g" -e "s|@PORT@|$PORT|g" \
    /etc/fashion-proxy/nginx.conf.template >/tmp/nginx/nginx.conf
echo "proxy: :$PORT -> $FASHION_PROXY_UPSTREAM (requests and responses buffered)"
exec nginx -c /tmp/nginx/nginx.conf -e /dev/stderr
