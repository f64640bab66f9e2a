# The Weltgewebe instance as a container image: `weltgewebe serve` against an external
# PostgreSQL with PostGIS (DATABASE_URL). Used by deploy/compose.yaml and deploy/kubernetes/
# (docs/DEPLOY-COMPOSE.md, docs/DEPLOY-KUBERNETES.md).
#
#   docker build -t weltgewebe .
#   docker run -e DATABASE_URL=postgres://… -p 8080:8080 weltgewebe
#   docker run --rm -e DATABASE_URL=postgres://… weltgewebe admin create --email … (any command)
#
# The embedded cluster (no DATABASE_URL) is NOT supported in this image: it has no PostgreSQL
# server binaries (initdb, postgres, PostGIS), nor pg_dump for `weltgewebe backup FILE`. Run
# those on a machine with `make deps`, or against the database from a PostgreSQL client image.
#
# cmd/weltgewebe/deploy_test.go reads this file: the Go image's version must be go.mod's, and
# every flag and WG_* variable named here must exist in the binary.

# 1. The web app (web/dist, embedded into the binary): Node.js 20 as scripts/deps.sh wants it.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# 2. The binary. With cgo (github.com/uber/h3-go wraps the H3 C library; CGO_ENABLED=0 does not
# build), so it links against this image's glibc: the runtime stage is the same Debian release
# (bookworm). The time zones are in the binary (time/tzdata): the runtime needs no tzdata.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
RUN go build -trimpath -ldflags="-s -w" -o /out/weltgewebe ./cmd/weltgewebe

# 3. What runs: the binary, the shared libraries it links (glibc, libm, zlib: all in the base
# image; zlib1g named to make it explicit), CA certificates (federation and neighbours'
# snapshots over HTTPS) and an unprivileged user. /var/lib/weltgewebe/snapshots is created here, owned by that user,
# so that a fresh named volume mounted there (compose) starts with the right owner.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 weltgewebe \
 && useradd --system --uid 10001 --gid weltgewebe --home-dir /var/lib/weltgewebe --shell /usr/sbin/nologin weltgewebe \
 && install -d -o weltgewebe -g weltgewebe /var/lib/weltgewebe /var/lib/weltgewebe/snapshots
COPY --from=build /out/weltgewebe /usr/local/bin/weltgewebe
USER 10001:10001
WORKDIR /var/lib/weltgewebe
# Replicas must share the snapshot directory: mount one volume there in every replica.
# WG_METRICS_LISTEN: the metrics listener on all interfaces of the container (its default is
# localhost, which a scraper outside the container cannot reach); the public port stays 8080.
ENV WG_LISTEN=:8080 \
    WG_METRICS_LISTEN=:9090 \
    WG_LOG_FORMAT=json \
    WG_SNAPSHOT_DIR=/var/lib/weltgewebe/snapshots
EXPOSE 8080 9090
# SIGTERM (docker stop, Kubernetes) is the graceful shutdown; give it more than
# --shutdown-timeout (docker stop -t / stop_grace_period / terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/weltgewebe"]
CMD ["serve"]
