# The two commands a newcomer runs: `make run` and `make test` (see README.md).
GO ?= go
BIN := bin/weltgewebe
BASEMAP := bin/basemap.pmtiles

.PHONY: build web run test bench bench-web bench-drill drill deps vet clean

## build: build the web app, then compile bin/weltgewebe (which embeds it)
build: web
	$(GO) build -o $(BIN) ./cmd/weltgewebe

## web: build the web app into web/dist (npm ci first when node_modules is missing or stale)
web: web/node_modules/.package-lock.json
	cd web && npm run --silent build

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "web: npm is needed to build the web app; run 'make deps' (Debian: nodejs, npm)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund
	@touch $@

## deps: install what is missing (PostgreSQL 15 + PostGIS, a C compiler, Node.js + npm, Chromium, osmium, tilemaker) on Debian as root
deps:
	@scripts/deps.sh

## run: start a dev instance with its own PostgreSQL, a demo Ortsweberei and its map on :8080, and its livestream ingest (rtmp://localhost/live) when nginx-rtmp is installed
run: deps build $(BASEMAP)
	./$(BIN) serve --dev --demo --listen :8080 --data-dir data --basemap $(BASEMAP)

# The demo's basemap, built from the Monaco extract on the first `make run` (about a second) and
# again when the extract, the tilemaker profile or the code that adds the earth and the sea
# changes. Not in data/: that is the embedded PostgreSQL cluster's directory, and initdb refuses a
# directory that is not empty.
$(BASEMAP): deploy/osm/monaco-latest.osm.pbf internal/basemap/config.json internal/basemap/process.lua internal/basemap/basemap.go internal/basemap/sea.go | build
	./$(BIN) basemap build deploy/osm/monaco-latest.osm.pbf $@

## test: everything, against a real PostgreSQL the tests start themselves, the web app in headless Chromium
# Twice: with the race detector, and as the binary is built. The two builds may order what the
# language leaves unordered differently; a bug that only the normal build has (it happened: every
# map listing of the real binary failed while every -race test passed) is one users meet.
# The second pass runs what users meet without the detector: the browser tests (package web,
# against the binary as users get it; the server code they drive is raced by the instance and
# federation tests), the instance package's API tests (the map listing among them), and the
# snapshot tests that are too memory-bound for the detector. Every package twice took make test
# to 18½ minutes on two cores with issue 16's tests, over its 15.
test: deps web vet
	$(GO) test -race -count=1 -timeout 12m $$($(GO) list ./... | grep -v '/weltgewebe/web$$')
	$(GO) test -count=1 -timeout 12m ./web/ ./instance/ ./instance/snapshot/

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

## bench: the load and speed measurements written down in docs/BENCHMARKS.md (slow)
# The timeline and snapshot measurements fill the map with their own Knoten, and the livestream's
# instance trusts its nginx's X-Forwarded-For: each in a run of its own. The residents (the
# seed's phase gates) run their own replicas and nginx on a database of their own.
bench: deps
	$(GO) run ./cmd/wgbench $(BENCHFLAGS)
	$(GO) run ./cmd/wgbench -only timeline $(BENCHFLAGS)
	$(GO) run ./cmd/wgbench -only snapshot $(BENCHFLAGS)
	$(GO) run ./cmd/wgbench -only stream $(BENCHFLAGS)
	$(GO) run ./cmd/wgbench -only residents -residents-replicas 1,2 $(BENCHFLAGS)
	$(GO) run ./cmd/wgbench -only drill $(BENCHFLAGS)

## bench-drill: the restore drill's figures alone: an instance of 100,000 Knoten and 1,000,000 events restored from its repository (sizes: BENCHFLAGS="-drill-knoten N -drill-events N -drill-backup before|after")
bench-drill: deps
	$(GO) run ./cmd/wgbench -only drill $(BENCHFLAGS)

## drill: the monthly restore drill against the running instance: DRILLFLAGS="--backup-repo DIR --data-dir DIR" (or env WG_BACKUP_REPO, WG_DATA_DIR); DRILLFLAGS=--help lists the flags; the report lands in DIR/drills/ and at /api/betrieb/drills (docs/OPERATIONS.md, "Restore drill")
drill: build
	./$(BIN) drill $(DRILLFLAGS)

## bench-web: first-load sizes, time to interactive and to the first basemap tiles, throttled (docs/BENCHMARKS.md)
bench-web: deps build $(BASEMAP)
	cd web && node scripts/budget.mjs --bin ../$(BIN) --basemap ../$(BASEMAP)

clean:
	rm -rf bin
	find web/dist -mindepth 1 ! -name .keep -delete
