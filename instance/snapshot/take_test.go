package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// tableSection is a section over a test table; beforeDump runs before each of its dumps.
type tableSection struct {
	name       string
	beforeDump func()
}

func (s tableSection) Name() string                      { return s.name }
func (s tableSection) Touched(eventstore.Event) []string { return nil }
func (s tableSection) Tables() []Table                   { return nil }
func (s tableSection) Restore(context.Context, pgx.Tx, func(func(Object, error) bool)) error {
	return nil
}
func (s tableSection) Dump(ctx context.Context, q database.Querier, ids []string, emit func(Object) error) error {
	if s.beforeDump != nil {
		s.beforeDump()
	}
	// COLLATE "C": byte order of the ids, as the format wants, whatever the database's locale.
	rows, err := q.Query(ctx, `SELECT id, v FROM snap_test WHERE sec = $1 AND ($2::text[] IS NULL OR id = ANY($2)) ORDER BY id COLLATE "C"`, s.name, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		if err := emit(Object{ID: id, JSON: json.RawMessage(fmt.Sprintf(`{"id":%q,"v":%d}`, id, v))}); err != nil {
			return err
		}
	}
	return rows.Err()
}

func testTable(t *testing.T) *pgxpool.Pool {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE snap_test (sec text, id text, v int, PRIMARY KEY (sec, id));
INSERT INTO snap_test VALUES ('knoten','k1',1), ('knoten','k2',1), ('knoten','K3',1), ('knoten','k3',1), ('faeden','f1',1)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

func readAll(t *testing.T, doc []byte) (*Document, []string) {
	t.Helper()
	var got []string
	d, err := Read(bytes.NewReader(doc), func(section string, o Object) error {
		got = append(got, section+"/"+string(o.JSON))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, got
}

func TestTake(t *testing.T) {
	pool := testTable(t)
	ctx := context.Background()
	asOf := time.Date(2026, 12, 5, 1, 0, 0, 42000, time.UTC)

	// While the first section dumps, another transaction commits a change to the second:
	// the snapshot must not show it, every section reads the same instant.
	var once bool
	sections := []Section{
		tableSection{name: "knoten"},
		tableSection{name: "faeden", beforeDump: func() {
			if once {
				return
			}
			once = true
			if _, err := pool.Exec(ctx, `UPDATE snap_test SET v = 99 WHERE id = 'k1'; INSERT INTO snap_test VALUES ('faeden','f0',9)`); err != nil {
				t.Error(err)
			}
		}},
	}
	var buf bytes.Buffer
	h, res, err := Take(ctx, pool, fixedClock(asOf), Spec{Instance: testInstance, Sections: sections, Key: testKey(1)}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	d, got := readAll(t, buf.Bytes())
	want := []string{`faeden/{"id":"f1","v":1}`, `knoten/{"id":"K3","v":1}`, `knoten/{"id":"k1","v":1}`, `knoten/{"id":"k2","v":1}`, `knoten/{"id":"k3","v":1}`}
	if !slices.Equal(got, want) {
		t.Errorf("full snapshot:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.Hash != res.Hash || !d.AsOf.Equal(asOf) || h.Kind != KindFull || d.Position.Xmax == 0 || fmt.Sprint(d.Header) != fmt.Sprint(h) {
		t.Errorf("document %+v, header %+v", d.Header, h)
	}
	if err := verifyBoth(d, res.Signature, testPub(1)); err != nil {
		t.Error(err)
	}

	// An incremental: k2 changed, k3 deleted, k9 never existed; k1 is said gone by the
	// caller, but exists.
	if _, err := pool.Exec(ctx, `UPDATE snap_test SET v = 2 WHERE id = 'k2'; DELETE FROM snap_test WHERE id = 'k3'`); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	spec := Spec{
		Instance: testInstance, Sections: sections, Key: testKey(1), Previous: res.Hash, Base: res.Hash,
		IDs:  map[string][]string{"knoten": {"k3", "k2", "k9", "k2"}},
		Gone: map[string][]string{"knoten": {"k1", "k7"}},
	}
	h2, res2, err := Take(ctx, pool, fixedClock(asOf.Add(time.Hour)), spec, &buf)
	if err != nil {
		t.Fatal(err)
	}
	d2, got := readAll(t, buf.Bytes())
	if want := []string{`knoten/{"id":"k1","v":99}`, `knoten/{"id":"k2","v":2}`}; !slices.Equal(got, want) {
		t.Errorf("incremental objects %v, want %v", got, want)
	}
	if g := fmt.Sprint(d2.Gone); g != "map[knoten:[k3 k7 k9]]" {
		t.Errorf("incremental gone %s", g)
	}
	if h2.Kind != KindIncremental || d2.Base != res.Hash || strings.Join(d2.Sections, ",") != "faeden,knoten" {
		t.Errorf("incremental header %+v", d2)
	}
	if err := CheckLink(d, d2); err != nil {
		t.Error(err)
	}
	if d2.Position.Xmax < d.Position.Xmax {
		t.Errorf("position went back: %v after %v", d2.Position, d.Position)
	}

	// Changed supplies the ids inside the transaction, seeing its position.
	buf.Reset()
	var seen eventstore.Snapshot
	spec.IDs, spec.Gone, spec.Previous = nil, nil, res2.Hash
	spec.Changed = func(ctx context.Context, q database.Querier, pos eventstore.Snapshot) (map[string][]string, error) {
		seen = pos
		return map[string][]string{"faeden": {"f1", "f9"}}, nil
	}
	h3, _, err := Take(ctx, pool, fixedClock(asOf.Add(2*time.Hour)), spec, &buf)
	if err != nil {
		t.Fatal(err)
	}
	d3, got := readAll(t, buf.Bytes())
	if want := []string{`faeden/{"id":"f1","v":1}`}; !slices.Equal(got, want) || fmt.Sprint(d3.Gone) != "map[faeden:[f9]]" {
		t.Errorf("incremental from Changed: objects %v, gone %v", got, d3.Gone)
	}
	if h3.Kind != KindIncremental || fmt.Sprint(seen) != fmt.Sprint(d3.Position) {
		t.Errorf("Changed saw position %v, the document has %v (kind %s)", seen, d3.Position, h3.Kind)
	}

	// A section emitting an id it was not asked for is a bug, not a snapshot.
	spec.IDs, spec.Changed = map[string][]string{"knoten": {"k2"}}, nil
	bad := []Section{tableSection{name: "knoten"}, liarSection{}}
	spec.Sections = bad
	spec.IDs["liar"] = []string{"a"}
	if _, _, err := Take(ctx, pool, fixedClock(asOf), spec, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not asked for") {
		t.Errorf("Take with a section emitting unasked ids: %v", err)
	}
}

type liarSection struct{ tableSection }

func (liarSection) Name() string { return "liar" }
func (liarSection) Dump(_ context.Context, _ database.Querier, _ []string, emit func(Object) error) error {
	return emit(obj("b", ""))
}
