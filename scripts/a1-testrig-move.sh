#!/usr/bin/env bash
# Step A1 of docs/plans/federation-layout.md: the test rigs move to internal/testrig/.
#
#   instance/pgtest        -> internal/testrig/pgtest
#   instance/instancetest  -> internal/testrig/instancetest
#   federation/mastopeer   -> internal/testrig/mastopeer
#   vocab/vocabtest        -> internal/testrig/jsonld   (package vocabtest -> package jsonld)
#
# Usage: scripts/a1-testrig-move.sh   (from anywhere in the repository; no arguments)
#
# On the branch that makes the move it git-mvs the four packages and rewrites every reference.
# On any other branch, run it after merging (or rebasing onto) the move: what is moved already
# stays, a file your branch added in an old directory is moved after the others, and the
# references your branch added (a new test importing instance/instancetest, a doc naming
# federation/mastopeer) are rewritten. Running it twice changes nothing the second time.
# Then check: gofmt -l .; go build ./... && go vet ./...
#
# It rewrites import paths and package paths in strings and comments of every .go file, the
# package name vocabtest (jsonld.X for vocabtest.X), mastopeer's relative path to the
# fixtures in federation/testdata, and the same paths in Markdown files and Makefiles.
# docs/plans/ is left alone: the plans describe the move with the old paths.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

moves=(
  "instance/pgtest internal/testrig/pgtest"
  "instance/instancetest internal/testrig/instancetest"
  "federation/mastopeer internal/testrig/mastopeer"
  "vocab/vocabtest internal/testrig/jsonld"
)

for m in "${moves[@]}"; do
  read -r from to <<<"$m"
  [ -d "$from" ] || continue
  while IFS= read -r -d '' f; do
    rel=${f#"$from"/}
    if [ -e "$to/$rel" ]; then
      echo "a1: $to/$rel exists already; merge $from/$rel into it by hand" >&2
      exit 1
    fi
    mkdir -p "$(dirname "$to/$rel")"
    if git ls-files --error-unmatch "$f" >/dev/null 2>&1; then
      git mv "$f" "$to/$rel"
    else
      mv "$f" "$to/$rel"
    fi
  done < <(find "$from" -type f -print0)
  find "$from" -depth -type d -empty -delete
done
# The package is jsonld now, and so is its file.
if [ -f internal/testrig/jsonld/vocabtest.go ] && [ ! -e internal/testrig/jsonld/jsonld.go ]; then
  git mv internal/testrig/jsonld/vocabtest.go internal/testrig/jsonld/jsonld.go
fi

# Paths, whether in an import ("github.com/weltgewebe/weltgewebe/instance/pgtest") or named
# on their own ("instance/instancetest -> event_cursors" in cmd/weltgewebe/tables_test.go).
paths=(
  -e 's#instance/pgtest\b#internal/testrig/pgtest#g'
  -e 's#instance/instancetest\b#internal/testrig/instancetest#g'
  -e 's#federation/mastopeer\b#internal/testrig/mastopeer#g'
  -e 's#vocab/vocabtest\b#internal/testrig/jsonld#g'
)

mapfile -d '' gofiles < <(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -print0)

# The binary-deps test names rigs by path suffix; "/jsonld" is there already.
if [ -f cmd/weltgewebe/deps_test.go ]; then
  sed -i 's#"/vocabtest", ##' cmd/weltgewebe/deps_test.go
fi
# mastopeer's TestFixtures reads the fixtures next to the federation tests.
if [ -f internal/testrig/mastopeer/mastopeer_test.go ]; then
  sed -i 's#"\.\./testdata/#"../../../federation/testdata/#g' internal/testrig/mastopeer/mastopeer_test.go
fi

sed -i "${paths[@]}" -e 's#\bvocabtest\b#jsonld#g' "${gofiles[@]}"
# Import blocks stay sorted (gofmt sorts each group).
mapfile -d '' touched < <(grep -lZ 'internal/testrig/' "${gofiles[@]}" || true)
if [ "${#touched[@]}" -gt 0 ]; then
  gofmt -w "${touched[@]}"
fi

mapfile -d '' docs < <(find . \( -name '*.md' -o -name 'Makefile' -o -name '*.mk' \) \
  -not -path './.git/*' -not -path '*/node_modules/*' -not -path './docs/plans/*' -print0)
if [ "${#docs[@]}" -gt 0 ]; then
  sed -i "${paths[@]}" -e 's#\bvocabtest\.#jsonld.#g' "${docs[@]}"
fi
