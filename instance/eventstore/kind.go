package eventstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/google/uuid"
)

// Visibility says whether events of a kind belong to the public history. Public events are
// what neighbouring Ortswebereien and Fediverse followers may see (the outbox is a view of
// them); private events stay on this instance.
type Visibility bool

const (
	Public  Visibility = true
	Private Visibility = false
)

// Meta describes one event kind: its name, the version of its payload shape, and whether it
// is public. Kinds are defined once, by the domain package that owns them.
type Meta struct {
	Name    string
	Version int
	Public  bool
	Summary string
	Payload reflect.Type
}

// Kind is a typed event kind: it builds drafts with a payload of type P and decodes them again.
type Kind[P any] struct{ meta *Meta }

var (
	registryMu sync.Mutex
	registry   = map[string]*Meta{}
)

// Define registers an event kind. It panics when the name and version are taken, so that two
// packages can never write the same type with different shapes. Call it from a package-level
// var declaration.
func Define[P any](name string, version int, vis Visibility, summary string) Kind[P] {
	registryMu.Lock()
	defer registryMu.Unlock()
	key := fmt.Sprintf("%s/v%d", name, version)
	if _, dup := registry[key]; dup {
		panic("eventstore: event kind defined twice: " + key)
	}
	m := &Meta{Name: name, Version: version, Public: bool(vis), Summary: summary, Payload: reflect.TypeFor[P]()}
	registry[key] = m
	return Kind[P]{meta: m}
}

// Kinds lists every defined kind, sorted by name and version.
func Kinds() []Meta {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Meta, 0, len(registry))
	for _, m := range registry {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Name is the kind's type name as stored in events.type.
func (k Kind[P]) Name() string { return k.meta.Name }

// Header is what every event says besides its payload.
type Header struct {
	Actor   uuid.UUID // who acted; uuid.Nil for the instance itself (timers)
	Subject uuid.UUID // what the event is about
	Cell    int64     // H3 cell (resolution 15) where it happened; 0 when it has no place
	// CellFromTx: the cell is the one a statement sent before the event, in the same
	// transaction, put in the transaction-local setting TxCellSetting ('' for none); Cell is
	// then ignored. For a command sent in one round trip whose place only the database knows
	// (a donation's step: the Ortskonto's cell if the donation is visible, none if anonymous).
	// Append takes it for a command of one event only.
	CellFromTx bool
	// PayloadFromTx: the payload's members are completed by those of the JSON object a
	// statement sent before the event, in the same transaction, put in the transaction-local
	// setting TxPayloadSetting ('' for none). For a command sent in one round trip whose
	// payload only the database can complete (a donation's step: the state before and the
	// amount, which the timeline's replay of the balance needs). Append takes it for a command
	// of one event only.
	PayloadFromTx bool
}

// TxCellSetting is the setting a statement sets for a CellFromTx event:
// set_config('eventstore.cell', cell::text, true), or the empty string for no cell.
const TxCellSetting = "eventstore.cell"

// TxPayloadSetting is the setting a statement sets for a PayloadFromTx event:
// set_config('eventstore.payload', json_build_object(…)::text, true).
const TxPayloadSetting = "eventstore.payload"

// Draft is an event not yet appended.
type Draft struct {
	meta    *Meta
	header  Header
	payload any
}

// New makes a draft of this kind.
func (k Kind[P]) New(h Header, p P) Draft { return Draft{meta: k.meta, header: h, payload: p} }

// Is reports whether e is of this kind (any version).
func (k Kind[P]) Is(e Event) bool { return e.Type == k.meta.Name }

// Decode reads e's payload. It fails when e is of another kind or another version.
func (k Kind[P]) Decode(e Event) (P, error) {
	var p P
	if e.Type != k.meta.Name || e.Version != k.meta.Version {
		return p, fmt.Errorf("eventstore: event %s is %s/v%d, not %s/v%d", e.Position, e.Type, e.Version, k.meta.Name, k.meta.Version)
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return p, fmt.Errorf("eventstore: decode %s/v%d at %s: %w", e.Type, e.Version, e.Position, err)
	}
	return p, nil
}
