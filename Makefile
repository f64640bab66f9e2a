# The two commands a newcomer runs: `make run` and `make test` (see README.md).
GO ?= go
BIN := bin/weltgewebe

.PHONY: build run test bench deps vet clean

## build: compile bin/weltgewebe
build:
	$(GO) build -o $(BIN) ./cmd/weltgewebe

## deps: install what is missing (PostgreSQL 15 + PostGIS, a C compiler) on Debian as root
deps:
	@scripts/deps.sh

## run: start a dev instance with its own PostgreSQL and a demo Ortsweberei on :8080
run: deps build
	./$(BIN) serve --dev --demo --listen :8080 --data-dir data

## test: everything, against a real PostgreSQL the tests start themselves
test: deps vet
	$(GO) test -race -count=1 -timeout 12m ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

## bench: the load and speed measurements written down in docs/BENCHMARKS.md (slow)
bench: deps
	$(GO) run ./cmd/wgbench $(BENCHFLAGS)

clean:
	rm -rf bin
