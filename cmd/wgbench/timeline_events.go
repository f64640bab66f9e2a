package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
)

// eventMix counts the events a busy town wrote, by what happened.
type eventMix struct {
	total                                                     int
	garnrollen, knoten, spun, twisted, expired, dissolved, an int
	einsprueche                                               int
}

func (m eventMix) String() string {
	parts := []string{
		fmt.Sprintf("%d Garnrollen registered", m.garnrollen),
		fmt.Sprintf("%d Knoten placed (each with its creator's Faden)", m.knoten),
		fmt.Sprintf("%d Fäden spun to Knoten of the map", m.spun),
		fmt.Sprintf("%d twisted into Garn", m.twisted),
		fmt.Sprintf("%d expired", m.expired),
		fmt.Sprintf("%d Knoten dissolved", m.dissolved),
		fmt.Sprintf("%d Anträge filed (half at a Knoten)", m.an),
		fmt.Sprintf("%d Einsprüche", m.einsprueche),
	}
	return strings.Join(parts, ", ")
}

// writeTownEvents appends about total events of a busy town to the log, their times spread
// over (from, to), in transactions of 50 commands as the instance writes them (each command
// its own time). They go to the log only, not to the live tables: the timeline reads the log
// and its history, nothing else. The Knoten they name are the history's, alive at step (ids,
// point: the history's Knoten); the Fäden that expire are not in the history (it holds no
// Fäden section), which costs the replay the same as ones that are.
func writeTownEvents(ctx context.Context, e *env, total int, from, to time.Time, n, c, step int,
	ids func(int) uuid.UUID, point func(int) geo.Point) eventMix {
	rng := rand.New(rand.NewPCG(uint64(total), 15))
	type kind int
	const (
		kGarnrolle kind = iota
		kKnoten
		kSpin
		kTwist
		kExpire
		kDissolve
		kAntrag
		kEinspruch
	)
	// Shares of the events, in percent; a new Knoten is two events (it and its first Faden).
	shares := []struct {
		k      kind
		pct    int
		events int
	}{{kGarnrolle, 5, 1}, {kKnoten, 20, 2}, {kSpin, 35, 1}, {kTwist, 10, 1}, {kExpire, 15, 1}, {kDissolve, 5, 1},
		{kAntrag, 5, 1}, {kEinspruch, 5, 1}}
	var cmds []kind
	for _, s := range shares {
		for range total * s.pct / 100 / s.events {
			cmds = append(cmds, s.k)
		}
	}
	rng.Shuffle(len(cmds), func(i, j int) { cmds[i], cmds[j] = cmds[j], cmds[i] })
	alive := func() int { return step*c + rng.IntN(n) }
	randomPoint := func() geo.Point {
		return geo.Point{Lat: minLat + rng.Float64()*(maxLat-minLat), Lon: minLon + rng.Float64()*(maxLon-minLon)}
	}
	accounts := []uuid.UUID{e.resident}
	var spun []knoten.FadenGesponnenV1 // not yet twisted
	var antraege []uuid.UUID
	var mix eventMix
	week := 7 * 24 * time.Hour
	command := func(k kind, at time.Time) []eventstore.Draft {
		who := accounts[rng.IntN(len(accounts))]
		if k == kTwist && len(spun) == 0 {
			k = kSpin
		}
		if k == kEinspruch && len(antraege) == 0 {
			k = kAntrag
		}
		spin := func(knotenID uuid.UUID, p geo.Point) eventstore.Draft {
			exp := at.Add(week)
			f := knoten.FadenGesponnenV1{FadenID: uuid.New(), KnotenID: knotenID, AccountID: who, Type: "beitrag", ExpiresAt: &exp}
			spun = append(spun, f)
			cell, _ := p.Cell()
			return knoten.FadenGesponnen.New(eventstore.Header{Actor: who, Subject: f.FadenID, Cell: cell}, f)
		}
		switch k {
		case kGarnrolle:
			mix.garnrollen++
			id := uuid.New()
			accounts = append(accounts, id)
			p := randomPoint()
			return []eventstore.Draft{account.GarnrolleAngelegt.New(eventstore.Header{Actor: id, Subject: id},
				account.GarnrolleAngelegtV1{AccountID: id, Handle: "b" + id.String()[:8], Name: "Bewohnerin " + id.String()[:4], Position: &p})}
		case kKnoten:
			mix.knoten++
			p := randomPoint()
			cell, _ := p.Cell()
			id := uuid.New()
			return []eventstore.Draft{
				knoten.KnotenGeknuepft.New(eventstore.Header{Actor: who, Subject: id, Cell: cell}, knoten.KnotenGeknuepftV1{
					KnotenID: id, Type: "idee", Title: "Neu " + id.String()[:8], Lat: p.Lat, Lon: p.Lon, H3: fmt.Sprintf("%x", cell), CreatedBy: who}),
				spin(id, p),
			}
		case kSpin:
			mix.spun++
			i := alive()
			return []eventstore.Draft{spin(ids(i), point(i))}
		case kTwist:
			mix.twisted++
			j := rng.IntN(len(spun))
			f := spun[j]
			spun = append(spun[:j], spun[j+1:]...)
			return []eventstore.Draft{knoten.FadenVerzwirnt.New(eventstore.Header{Actor: f.AccountID, Subject: f.FadenID},
				knoten.FadenVerzwirntV1{FadenID: f.FadenID, KnotenID: f.KnotenID})}
		case kExpire:
			mix.expired++
			i := alive()
			id := uuid.New()
			return []eventstore.Draft{knoten.FadenAbgelaufen.New(eventstore.Header{Subject: id},
				knoten.FadenAbgelaufenV1{FadenID: id, KnotenID: ids(i), ExpiredAt: at})}
		case kDissolve:
			mix.dissolved++
			i := alive()
			return []eventstore.Draft{knoten.KnotenAufgeloest.New(eventstore.Header{Subject: ids(i)},
				knoten.KnotenAufgeloestV1{KnotenID: ids(i), DissolvedAt: at})}
		case kAntrag:
			mix.an++
			id := uuid.New()
			antraege = append(antraege, id)
			var at0 *uuid.UUID
			if rng.IntN(2) == 0 {
				k := ids(alive())
				at0 = &k
			}
			return []eventstore.Draft{antrag.AntragGestellt.New(eventstore.Header{Actor: who, Subject: id}, antrag.AntragGestelltV1{
				AntragID: id, ApplicantID: who, Title: "Antrag " + id.String()[:8], DetailsMD: "Eine **Bank** am Markt.",
				KnotenID: at0, DecisionDeadline: at.Add(week)})}
		default:
			mix.einsprueche++
			a := antraege[rng.IntN(len(antraege))]
			return []eventstore.Draft{antrag.EinspruchErhoben.New(eventstore.Header{Actor: who, Subject: a},
				antrag.EinspruchErhobenV1{AntragID: a, AccountID: who, Reason: "Zu laut."})}
		}
	}
	step4 := to.Sub(from) / time.Duration(len(cmds)+1)
	const perTx = 50
	for lo := 0; lo < len(cmds); lo += perTx {
		check(database.InTx(ctx, e.inst.Pool, func(tx *database.Tx) error {
			for i := lo; i < min(lo+perTx, len(cmds)); i++ {
				at := from.Add(time.Duration(i+1) * step4)
				drafts := command(cmds[i], at)
				mix.total += len(drafts)
				if err := eventstore.Append(tx, at, drafts...); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return mix
}
