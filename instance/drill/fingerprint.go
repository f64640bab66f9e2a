// Package drill is the restore drill's proof (docs/OPERATIONS.md, "Restore drill"): a
// fingerprint of a database — every table's row count and a SHA-256 over its rows in key order,
// the event log's head and a hash over it — taken on the live source at a restore point and
// again on a copy restored from nothing but the backup repository, the comparison of the two,
// and the timed report an admin publishes.
//
// The fingerprint reads the tables from PostgreSQL's catalog (every table of the instance's
// schema), not from a list: a table a later migration adds is checked without anyone
// remembering to. It names no table of another package in its SQL; the log's positions come
// from eventstore.Audit.
package drill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Table is one table's part of a fingerprint.
type Table struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
	// sum is SHA-256 over the table's rows in key order. Not published: a hash over a small
	// private table (one account's row) could confirm a guess of its content.
	sum [32]byte
}

// Log is the event log's part of a fingerprint.
type Log struct {
	Events int64  `json:"events"`
	Head   string `json:"head"` // the newest position, "tx-id"; "" for an empty log
	// Hash is SHA-256 over every event (all columns) in key order.
	Hash string `json:"hash"`
	// Subjects is how many objects (events' subject ids) the log speaks of.
	Subjects int `json:"subjects"`

	positions []eventstore.Position
	subjects  map[uuid.UUID]history
}

// Fingerprint is what a database held, as far as a restore must reproduce it.
type Fingerprint struct {
	Database string  `json:"database"`
	Tables   []Table `json:"tables"`
	// Unlogged are the tables PostgreSQL does not write to its WAL (so no backup has them,
	// by design: the viewer counts rewritten every few seconds); they are not compared.
	Unlogged []string `json:"unlogged,omitempty"`
	// Digest is SHA-256 over every table's name, row count and hash: two databases with the
	// same digest hold the same rows.
	Digest string `json:"digest"`
	Log    Log    `json:"log"`
}

// The session settings under which COPY's text form is the same for the same rows on any
// server: dates, intervals and floats print one way.
var canonical = []string{
	`SET DateStyle = 'ISO, YMD'`, `SET TimeZone = 'UTC'`, `SET IntervalStyle = 'postgres'`,
	`SET extra_float_digits = 1`, `SET bytea_output = 'hex'`,
}

// Canonical sets conn's session so that Take prints rows the same way on every server. Call it
// before the transaction Take reads in begins.
func Canonical(ctx context.Context, conn *pgx.Conn) error {
	for _, s := range canonical {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("drill: %s: %w", s, err)
		}
	}
	return nil
}

// relation is a table of the instance's schema as the catalog names it.
type relation struct {
	name     string // relname
	ident    string // its regclass text, quoted as SQL needs it
	key      string // its primary key's columns, quoted, comma-separated; "" when it has none
	unlogged bool
}

// relations lists the tables of the current schema, a partitioned table once (its partitions
// are read through it), in name order.
func relations(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]relation, error) {
	rows, err := q.Query(ctx, `
SELECT c.relname, c.oid::regclass::text, c.relpersistence = 'u',
       coalesce((SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), '')
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("drill: list tables: %w", err)
	}
	var rels []relation
	for rows.Next() {
		var r relation
		if err := rows.Scan(&r.name, &r.ident, &r.unlogged, &r.key); err != nil {
			return nil, fmt.Errorf("drill: list tables: %w", err)
		}
		rels = append(rels, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drill: list tables: %w", err)
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("drill: the schema holds no tables (is this the instance's database?)")
	}
	return rels, nil
}

// Take fingerprints the database conn is connected to. conn must be in a REPEATABLE READ
// transaction (so every table is read at one moment) with its session made Canonical.
func Take(ctx context.Context, conn *pgx.Conn) (Fingerprint, error) {
	var f Fingerprint
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&f.Database); err != nil {
		return f, fmt.Errorf("drill: %w", err)
	}
	rels, err := relations(ctx, conn)
	if err != nil {
		return f, err
	}
	digest := sha256.New()
	for _, r := range rels {
		if r.unlogged {
			f.Unlogged = append(f.Unlogged, r.name)
			continue
		}
		order := r.key
		if order == "" {
			order = "r::text" // no key: the row's text form orders it, whatever its types
		}
		h := sha256.New()
		tag, err := conn.PgConn().CopyTo(ctx, h, `COPY (SELECT * FROM `+r.ident+` AS r ORDER BY `+order+`) TO STDOUT`)
		if err != nil {
			return f, fmt.Errorf("drill: read %s: %w", r.name, err)
		}
		t := Table{Name: r.name, Rows: tag.RowsAffected()}
		copy(t.sum[:], h.Sum(nil))
		f.Tables = append(f.Tables, t)
		fmt.Fprintf(digest, "%s\t%d\t%x\n", t.Name, t.Rows, t.sum)
		if r.name == "events" {
			f.Log.Events, f.Log.Hash = t.Rows, hex.EncodeToString(t.sum[:])
		}
	}
	f.Digest = hex.EncodeToString(digest.Sum(nil))

	f.Log.subjects = map[uuid.UUID]history{}
	err = eventstore.Audit(ctx, conn, func(p eventstore.Position, subject uuid.UUID) error {
		f.Log.positions = append(f.Log.positions, p)
		if subject != uuid.Nil {
			f.Log.subjects[subject] = f.Log.subjects[subject].add(p.ID)
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("drill: %w", err)
	}
	if n := len(f.Log.positions); n > 0 {
		f.Log.Head = f.Log.positions[n-1].String()
	}
	f.Log.Subjects = len(f.Log.subjects)
	return f, nil
}

// history is one object's events: how many, and a hash over their ids in log order (FNV-1a
// style, order-sensitive). A million objects fit in a few dozen MiB this way, where their id
// lists would take hundreds.
type history struct {
	events int
	hash   uint64
}

func (h history) add(id int64) history {
	if h.events == 0 {
		h.hash = 14695981039346656037
	}
	h.events++
	h.hash = (h.hash ^ uint64(id)) * 1099511628211
	return h
}

// Difference is one way in which a restored database is not its source.
type Difference struct {
	What   string `json:"what"`   // "table", "missing table", "extra table", "log"
	Name   string `json:"name"`   // the table, or the log's check
	Detail string `json:"detail"` // what differs, for people
}

// LogCheck is the event log's comparison.
type LogCheck struct {
	// Missing are the positions the source had that the restored log lacks (the first few
	// of them in Sample); Extra the restored log's positions the source did not have.
	Missing int      `json:"missing"`
	Extra   int      `json:"extra"`
	Sample  []string `json:"sample,omitempty"`
	// Subjects is how many objects' histories were checked; Broken how many of them differ
	// (an event missing, added or out of order).
	Subjects int `json:"subjects"`
	Broken   int `json:"broken"`
}

// Compare reports how restored differs from source: every table's rows, and the event log
// gap-free — every position the source had is there, nothing else is, and every object's
// history (its events, in log order) is the source's. No differences: the restore is exact.
func Compare(source, restored Fingerprint) ([]Difference, LogCheck) {
	var diffs []Difference
	got := map[string]Table{}
	for _, t := range restored.Tables {
		got[t.Name] = t
	}
	for _, s := range source.Tables {
		r, ok := got[s.Name]
		delete(got, s.Name)
		switch {
		case !ok:
			diffs = append(diffs, Difference{What: "missing table", Name: s.Name, Detail: fmt.Sprintf("the source had %d rows", s.Rows)})
		case r.Rows != s.Rows:
			diffs = append(diffs, Difference{What: "table", Name: s.Name, Detail: fmt.Sprintf("%d rows, the source had %d", r.Rows, s.Rows)})
		case r.sum != s.sum:
			diffs = append(diffs, Difference{What: "table", Name: s.Name, Detail: fmt.Sprintf("%d rows as the source, but their content differs", r.Rows)})
		}
	}
	extra := make([]string, 0, len(got))
	for name := range got {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		diffs = append(diffs, Difference{What: "extra table", Name: name, Detail: fmt.Sprintf("%d rows the source did not have", got[name].Rows)})
	}

	lc := compareLogs(source.Log, restored.Log)
	if lc.Missing > 0 || lc.Extra > 0 {
		diffs = append(diffs, Difference{What: "log", Name: "positions",
			Detail: fmt.Sprintf("%d of the source's positions missing, %d not the source's (first: %s)", lc.Missing, lc.Extra, strings.Join(lc.Sample, ", "))})
	}
	if lc.Broken > 0 {
		diffs = append(diffs, Difference{What: "log", Name: "histories",
			Detail: fmt.Sprintf("%d of %d objects' histories differ from the source's", lc.Broken, lc.Subjects)})
	}
	if source.Log.Head != restored.Log.Head {
		diffs = append(diffs, Difference{What: "log", Name: "head", Detail: fmt.Sprintf("head %q, the source's %q", restored.Log.Head, source.Log.Head)})
	}
	return diffs, lc
}

// compareLogs walks both position lists (each in log order) side by side.
func compareLogs(source, restored Log) LogCheck {
	var lc LogCheck
	sample := func(kind string, p eventstore.Position) {
		if len(lc.Sample) < 5 {
			lc.Sample = append(lc.Sample, kind+" "+p.String())
		}
	}
	a, b := source.positions, restored.positions
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && b[0].After(a[0])):
			lc.Missing++
			sample("missing", a[0])
			a = a[1:]
		case len(a) == 0 || a[0].After(b[0]):
			lc.Extra++
			sample("extra", b[0])
			b = b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	lc.Subjects = len(source.subjects)
	for s, h := range source.subjects {
		if h != restored.subjects[s] {
			lc.Broken++
		}
	}
	for s := range restored.subjects {
		if _, ok := source.subjects[s]; !ok {
			lc.Broken++
		}
	}
	return lc
}
