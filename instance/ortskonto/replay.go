package ortskonto

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
)

// The timeline's replay of the Ortskonto's events onto its snapshot objects
// (snapshot.Replayer): the balance as the projection moves it, and the Goldfäden. Every
// Ortskonto event is private; what the replay makes of them is what the next snapshot's dump
// holds, nothing more: an anonymous donation moves the balance's sums and counts only, and
// never becomes an object (its events carry no donor, and it has no Goldfaden to change).

// stepPayload is what the replay reads of a donation's step, of either version (v1 has no
// from and no amount: see Replay).
type stepPayload struct {
	SpendeID    uuid.UUID `json:"spende_id"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	AmountCents int64     `json:"amount_cents"`
}

var stepEvents = spendeEvents[1:] // every step but the announcement

// Replay: what event e does to the balance object. A step written before its v2 (without
// the state before and the amount) leaves it as it is: such events are in the log only for
// the hours after the upgrade, and the next snapshot has the balance right.
func (kontoSection) Replay(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	if !slices.Contains(kontoEvents, e.Type) {
		return nil, nil, nil
	}
	var k SnapshotKonto
	if o, ok := current(SnapshotKontoID); ok {
		if err := json.Unmarshal(o.JSON, &k); err != nil {
			return nil, nil, err
		}
	}
	k.ID = SnapshotKontoID
	var d delta
	switch {
	case OrtskontoEingerichtet.Is(e):
		p, err := OrtskontoEingerichtet.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		c, err := p.Position.Cell()
		if err != nil {
			return nil, nil, err
		}
		pos, at := p.Position, e.At.UTC()
		k.Bank = &snapshotBank{Empfaenger: p.Empfaenger, IBAN: p.IBAN, BIC: p.BIC}
		k.Position, k.H3, k.ConfiguredAt = &pos, geo.CellHex(c), &at
	case SpendeInitiiert.Is(e):
		p, err := SpendeInitiiert.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		d = stepDelta("", StatusInitiated, p.AmountCents)
	case slices.Contains(stepEvents, e.Type):
		if e.Version < 2 {
			return nil, nil, nil
		}
		var p stepPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return nil, nil, err
		}
		d = stepDelta(p.From, p.To, p.AmountCents)
	case AuszahlungBewilligt.Is(e):
		p, err := AuszahlungBewilligt.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k.ReservedCents += p.BetragCents
	case AuszahlungGeleistet.Is(e):
		p, err := AuszahlungGeleistet.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k.ReservedCents -= p.BetragCents
		k.PaidCents += p.BetragCents
	case AuszahlungAbgebrochen.Is(e):
		p, err := AuszahlungAbgebrochen.Decode(e)
		if err != nil {
			return nil, nil, err
		}
		k.ReservedCents -= p.BetragCents
	default:
		// KontoauszugImportiert (its steps have their own events), AuszahlungBeantragt and
		// AuszahlungEntfallen do not move the balance row.
		return nil, nil, nil
	}
	k.PendingCents += d.pending
	k.SettledCents += d.settled
	k.ReversedCents += d.reversed
	k.Counts.Initiated += int64(d.counts[0])
	k.Counts.Pending += int64(d.counts[1])
	k.Counts.Settled += int64(d.counts[2])
	k.Counts.Failed += int64(d.counts[3])
	k.Counts.Reversed += int64(d.counts[4])
	k.BalanceCents = k.SettledCents - k.ReversedCents - k.PaidCents
	k.AvailableCents = k.BalanceCents - k.ReservedCents
	b, err := json.Marshal(k)
	return []snapshot.Object{{ID: SnapshotKontoID, JSON: b}}, nil, err
}

// Replay: what event e does to the Goldfäden. A visible donation's announcement makes one; its
// steps change its status (a failed one is no Goldfaden: removed). A step of a donation the
// section does not hold (an anonymous one) changes nothing: the section never learns of it.
func (goldfaedenSection) Replay(e eventstore.Event, current func(id string) (snapshot.Object, bool)) ([]snapshot.Object, []string, error) {
	switch {
	case SpendeInitiiert.Is(e):
		p, err := SpendeInitiiert.Decode(e)
		if err != nil || !p.Visible || p.AccountID == nil {
			return nil, nil, err
		}
		at := e.At.UTC()
		g := SnapshotGoldfaden{ID: p.SpendeID, AccountID: *p.AccountID, Status: StatusInitiated, AmountCents: p.AmountCents,
			Currency: p.Currency, Message: p.Message, CreatedAt: at, UpdatedAt: at}
		b, err := json.Marshal(g)
		return []snapshot.Object{{ID: g.ID.String(), JSON: b}}, nil, err
	case slices.Contains(stepEvents, e.Type):
		// A step without the Ortskonto's cell is an anonymous donation's (header, spende.go):
		// not even looked up (the timeline would ask its history for an id it never holds).
		if e.Cell == 0 {
			return nil, nil, nil
		}
		var p stepPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return nil, nil, err
		}
		o, ok := current(p.SpendeID.String())
		if !ok {
			return nil, nil, nil
		}
		if p.To == StatusFailed {
			return nil, []string{o.ID}, nil
		}
		var g SnapshotGoldfaden
		if err := json.Unmarshal(o.JSON, &g); err != nil {
			return nil, nil, err
		}
		g.Status, g.UpdatedAt = p.To, e.At.UTC()
		b, err := json.Marshal(g)
		return []snapshot.Object{{ID: o.ID, JSON: b}}, nil, err
	}
	return nil, nil, nil
}

var (
	_ snapshot.Replayer = kontoSection{}
	_ snapshot.Replayer = goldfaedenSection{}
)
