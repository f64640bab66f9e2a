#!/bin/sh
# nginx for deploy/compose.yaml: renders deploy/nginx/weltgewebe.conf (the one production file,
# mounted read-only) for the compose network, then runs nginx in the foreground.
#
#   127.0.0.1:8080 (the instance)   -> $WG_UPSTREAM (the compose service: every replica)
#   other upstream servers on 127.0.0.1:80xx (a host's further replicas) -> dropped
#   lindenau.example.org            -> $WG_HOST
#   secret=SECRET                   -> secret=$WG_RTMP_SECRET (hex: sed takes it as it is)
#
# cmd/weltgewebe/deploy_test.go runs this script (with WG_NGINX_RENDER_ONLY) and checks what it
# writes with `nginx -t`.
set -eu
: "${WG_HOST:?}" "${WG_RTMP_SECRET:?}" "${WG_UPSTREAM:?}"
src=${WG_NGINX_SRC:-/etc/weltgewebe/nginx.conf}
dst=${WG_NGINX_DST:-/etc/nginx/nginx.conf}

sed -e '/^[[:space:]]*server[[:space:]]\{1,\}127\.0\.0\.1:80[0-9][0-9]\b/{/127\.0\.0\.1:8080/!d;}' \
    -e "s/127\.0\.0\.1:8080/$WG_UPSTREAM/g" \
    -e "s/lindenau\.example\.org/$WG_HOST/g" \
    -e "s/secret=SECRET/secret=$WG_RTMP_SECRET/g" \
    "$src" >"$dst"

if [ -n "${WG_NGINX_RENDER_ONLY:-}" ]; then
    exit 0
fi
install -d -o www-data -g www-data /var/lib/weltgewebe-stream/hls
exec nginx -g 'daemon off;'
