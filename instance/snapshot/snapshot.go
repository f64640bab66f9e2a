// Package snapshot is the Ortsweberei's memory: signed, content-addressed files holding its
// public state as of a log position, a full one every night and an incremental one every four
// hours, each naming its predecessor's hash. Anyone with the Ortsweberei's public key can
// check them; an empty database is rebuilt from them (weltgewebe restore --from-snapshots);
// the timeline reads the map of any past day from them. See docs/SNAPSHOTS.md.
//
// The public state is not read here: each domain package that owns public tables
// contributes a Section (its objects, dumped and restored by its own SQL), so that no package
// reads another's tables.
package snapshot

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Format names this document format; a reader refuses any other.
const Format = "weltgewebe-snapshot/1"

// Context is the snapshot's JSON-LD context: the Data Integrity one, so that the proof's
// terms are defined and the eddsa-jcs-2022 proof binds it (internal/proof).
const Context = "https://w3id.org/security/data-integrity/v2"

// The kinds of snapshot.
const (
	KindFull        = "full"        // the whole public state
	KindIncremental = "incremental" // the objects changed since the previous snapshot, and those gone
)

// Header is everything a snapshot document says besides its objects and its proof. In the
// canonical (RFC 8785) document its members are, in order:
//
//	"@context", "as_of", "base", "format", "gone", "instance", "kind", "objects",
//	"position", "previous", "proof"
//
// "proof" sorts last, so a writer streams the objects and appends the proof at the end.
type Header struct {
	// AsOf is the instance clock's time the state is of (the moment the snapshot's
	// transaction began), UTC, microseconds; written RFC 3339 with "Z".
	AsOf time.Time
	// Base is, for an incremental snapshot, the hash of the full snapshot it builds on
	// (directly or through earlier incrementals); "" (JSON null) for a full one.
	Base string
	// Instance is the Ortsweberei actor's id (its URL), whose assertionMethod holds the key.
	Instance string
	Kind     string
	// Position is the log position as a PostgreSQL snapshot (eventstore.CurrentSnapshot): an
	// event is in the state iff its tx < Xmin, or tx < Xmax and not in Running. Written as
	// {"running":[…],"xmax":n,"xmin":n}.
	Position eventstore.Snapshot
	// Previous is the hash of the snapshot before this one, of either kind; "" (JSON null)
	// for the first. The chain cannot be rewritten without every later hash changing.
	Previous string
}

// A hash is the lowercase hex SHA-256 of a snapshot's canonical, uncompressed bytes: its
// name, its ETag, and what the next snapshot names as Previous.

// Object is one public object of a section: its id (unique within the section; a section's
// objects are written in ascending byte order of their ids) and its JSON. The writer
// canonicalises the JSON (JCS).
type Object struct {
	ID   string
	JSON json.RawMessage
}

// Section is one domain package's share of a snapshot. Its name is the key under "objects"
// (lowercase ASCII, e.g. "knoten", "faeden", "garnrollen"). A package may contribute several.
type Section interface {
	Name() string
	// Touched returns the ids of this section's objects that event e may have changed or
	// removed (nil for none): what an incremental snapshot dumps again. Every event is asked,
	// private ones too (a visible donation's events are private, its Goldfaden is public);
	// the section alone decides what it reveals, so an anonymous donation touches the
	// balance object only, never its donor's Garnrolle.
	Touched(e eventstore.Event) []string
	// Dump emits the section's public objects in ascending id order (byte order of the id
	// strings), read in q: a repeatable-read, read-only transaction, the state of one instant.
	// ids nil: every object. Otherwise only the objects among ids that exist now; an id the
	// section does not have is skipped (the caller lists it as gone).
	Dump(ctx context.Context, q database.Querier, ids []string, emit func(Object) error) error
	// Restore writes the section's objects (a whole state, as Dump emitted it, in id order)
	// into its empty tables, in tx. Sections restore in the order the instance lists them
	// (accounts before what refers to them), not in the file's order.
	Restore(ctx context.Context, tx pgx.Tx, objects func(yield func(Object, error) bool)) error
	// Tables names the section's projection tables and their public columns: what a restore
	// brings back, and what acceptance test 6 compares row by row.
	Tables() []Table
}

// Table is a projection table and its public columns.
type Table struct {
	Name string
	// Columns are the public columns, compared after a restore: column names or SQL
	// expressions over the row (e.g. "verified_at IS NOT NULL" where only the fact is public).
	Columns []string
	OrderBy string // SQL: the primary key
	// Where selects the rows a snapshot holds (SQL over the row; "" for all), e.g. the active
	// Fäden only: what a restore brings back, and so what is compared.
	Where string
}

// Replayer is a Section whose objects the timeline can bring forward from a snapshot to a
// later moment with the events after it (while the log still holds them).
type Replayer interface {
	Section
	// Replay returns what event e does to the section's objects: the objects as they are
	// after it (upserts) and the ids it removes. current looks up an object as it is before
	// e (false when the state has none). Events of other sections return nothing.
	Replay(e eventstore.Event, current func(id string) (Object, bool)) (upserts []Object, removed []string, err error)
}
