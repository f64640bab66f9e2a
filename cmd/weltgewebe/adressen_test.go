package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// `weltgewebe adressen import`: the extract with flags after its name, the same again changes
// nothing, and a broken extract is an error that leaves the index as it was.
func TestAdressenImport(t *testing.T) {
	t.Parallel()
	pbf := "../../deploy/osm/monaco-latest.osm.pbf"
	if _, err := os.Stat(pbf); err != nil {
		pbf = "/work/shared/osm/monaco-latest.osm.pbf"
	}
	url := pgtest.URL(t)
	ctx := context.Background()
	count := func() int {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM adressen) * 1000 + (SELECT count(*) FROM events)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	imp := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"adressen", "import"}, args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}

	out, err := imp(pbf, "--database-url", url, "--bounds", "7.405,43.72,7.44,43.76")
	if err != nil || !strings.Contains(out, "imported") || !strings.Contains(out, "addresses") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	before := count()
	if before < 100_000 {
		t.Fatalf("only %d entries (×1000) imported", before/1000)
	}
	out, err = imp("--database-url", url, "--bounds", "7.405,43.72,7.44,43.76", pbf)
	if err != nil || !strings.Contains(out, "unchanged") || count() != before {
		t.Fatalf("the same import again: %v\n%s", err, out)
	}

	broken := filepath.Join(t.TempDir(), "kaputt.osm.pbf")
	data, err := os.ReadFile(pbf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, data[:len(data)/2], 0o644); err != nil { // cut off mid-block
		t.Fatal(err)
	}
	if out, err := imp("--database-url", url, broken); err == nil {
		t.Fatalf("a truncated extract was imported:\n%s", out)
	}
	if count() != before {
		t.Error("a failed import changed the index or the log")
	}
	if out, err := imp("--database-url", url, "--bounds", "7.44,43.72,7.405,43.76", pbf); err == nil || count() != before {
		t.Errorf("a box upside down was taken: %v\n%s", err, out)
	}
	// Extracts that read without an error but hold nothing never empty the index: an empty
	// download, an error page saved as .osm, a box with latitude and longitude swapped.
	empty := filepath.Join(t.TempDir(), "leer.osm.pbf")
	page := filepath.Join(t.TempDir(), "region.osm")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, []byte("<html><body>404 Not Found</body></html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{empty}, {page}, {"--bounds", "43.72,7.405,43.76,7.44", pbf}} {
		out, err := imp(append([]string{"--database-url", url}, args...)...)
		if err == nil || !strings.Contains(out+err.Error(), "no addresses") {
			t.Errorf("import %q: %v, want a refusal saying it holds no addresses\n%s", args, err, out)
		}
		if count() != before {
			t.Errorf("import %q changed the index or the log", args)
		}
	}
}
