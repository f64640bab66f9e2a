#!/usr/bin/env bash
# Installs what `make run` and `make test` need and is missing: a C compiler (the H3 library is
# C, built through cgo) with zlib's headers (the OSM extract reader), the PostgreSQL 15 server
# with PostGIS, Node.js and npm (to build the web app), Chromium (its browser tests), and osmium
# and tilemaker (`weltgewebe basemap build`, which `make run` uses for the demo's map and the
# tests for theirs), and the livestream's ingest chain (docs/STREAMS.md): nginx with the RTMP
# module, and ffmpeg, which the stream tests push a test pattern with; and pgBackRest (the backups). On Debian as root it installs them with apt-get; anywhere else it says what
# to install and fails.
set -euo pipefail

need_go="1.26"
missing=()

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go $need_go or newer is required and 'go' is not on PATH (https://go.dev/dl/)." >&2
  exit 1
fi
have_go=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ]; then
  echo "deps: Go $need_go or newer is required, found $have_go." >&2
  exit 1
fi

command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
# The OSM extract reader (github.com/paulmach/osm/osmpbf) inflates blocks with the C zlib
# through cgo, found by pkg-config.
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql-15)
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || missing+=(postgresql-15-postgis-3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v osmium >/dev/null 2>&1 || missing+=(osmium-tool)
command -v tilemaker >/dev/null 2>&1 || missing+=(tilemaker)
# The stream ingest (docs/STREAMS.md): nginx, its RTMP module (a dynamic module Debian loads
# through modules-enabled; the tests load it by its path), and ffmpeg for the tests' broadcaster.
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing+=(libnginx-mod-rtmp)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# Backups (docs/OPERATIONS.md, "Backup and restore"): pgBackRest archives the WAL and takes the
# base backups into the repository (--backup-repo).
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)

# The web app's tools (playwright-core) want Node.js 20 or newer.
check_node() {
  command -v node >/dev/null 2>&1 || return 0
  local have
  have=$(node --version | sed 's/^v//')
  if [ "$(printf '%s\n%s\n' "20" "$have" | sort -V | head -1)" != "20" ]; then
    echo "deps: Node.js 20 or newer is required to build and test the web app, found $have." >&2
    echo "deps: install Node.js 20 (e.g. Debian 13's nodejs, or the Node.js binaries from nodejs.org) and run make again." >&2
    exit 1
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  check_node
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: missing: ${missing[*]}" >&2
  echo "deps: install them as root, e.g.: sudo apt-get install -y ${missing[*]}  (or run 'sudo make deps')" >&2
  exit 1
fi

echo "deps: installing ${missing[*]} with apt-get"
# The instance runs its own PostgreSQL cluster; Debian need not create and start a system one.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o Dpkg::Options::=--force-confold --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${missing[*]}"
check_node
