package convert

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/instance/stream"
)

// ActivityTypes are the public events that have an ActivityStreams form (ActivityFor): an
// outbox lists these and counts these. ActivityFor gives no form to a type not listed, so the
// list and the switch cannot drift apart unnoticed.
var ActivityTypes = []string{
	knoten.KnotenGeknuepft.Name(), knoten.FadenGesponnen.Name(), knoten.FadenVerzwirnt.Name(), knoten.FadenEntzwirnt.Name(),
	knoten.FadenAbgelaufen.Name(), knoten.KnotenAufgeloest.Name(),
	account.GarnrolleAngelegt.Name(), account.GarnrolleVerifiziert.Name(), account.GarnrollePositioniert.Name(), account.GarnrolleUmbenannt.Name(),
	ortsweberei.Festgelegt.Name(),
	antrag.AntragGestellt.Name(), antrag.EinspruchErhoben.Name(), antrag.AntragVerborgen.Name(), antrag.EinspruchVerborgen.Name(),
	antrag.AntragFristVerlaengert.Name(), antrag.AntragZurAbstimmung.Name(), antrag.AntragAngenommen.Name(),
	antrag.AntragAbgelehnt.Name(), antrag.AntragZurueckgezogen.Name(),
	abstimmung.AbstimmungEroeffnet.Name(), abstimmung.AbstimmungGeschlossen.Name(), abstimmung.StimmeAbgegeben.Name(), abstimmung.StimmeGeaendert.Name(),
	delegation.DelegationAngefragt.Name(), delegation.DelegationWirksam.Name(), delegation.DelegationWiderrufen.Name(),
	delegation.DelegationAbgelehnt.Name(), delegation.DelegationBeendet.Name(), delegation.DelegationAbgelaufen.Name(),
	stream.StreamGestartet.Name(), stream.StreamBeendet.Name(),
}

// Hidden leaves out of an outbox scope the events ActivityFor answers ErrHidden for, so that
// its totalItems counts what its pages serve (Mastodon shows it as the account's post count):
// what was said in and about a hidden Antrag but its Delete, a hidden Einspruch's Create, a
// hidden Knoten's and Faden's Create and Updates (their Deletes stay: they carry no words).
// What moderators hid is few; it is asked anew for every outbox read.
func (s *Converter) Hidden(ctx context.Context, sc eventstore.Scope) (eventstore.Scope, error) {
	sc.Types = ActivityTypes
	if sc.Actor != uuid.Nil {
		// The post about a livestream is the Ortsweberei's, not that of the streamer who
		// ended the stream: it is in the Ortsweberei's outbox only.
		sc.Types = slices.DeleteFunc(slices.Clone(ActivityTypes), func(t string) bool { return slices.Contains(StreamTypes, t) })
	}
	sc.Only = streamOnly // a stream's first go-live and its end, not the drops between
	sc.Omit = nil
	if s.svc.Knoten != nil {
		ks, fs, err := s.svc.Knoten.HiddenAll(ctx)
		if err != nil {
			return sc, err
		}
		for _, k := range ks {
			sc.Omit = append(sc.Omit, eventstore.Omit{Subject: k, Types: []string{knoten.KnotenGeknuepft.Name()}})
		}
		for _, f := range fs {
			sc.Omit = append(sc.Omit, eventstore.Omit{Subject: f,
				Types: []string{knoten.FadenGesponnen.Name(), knoten.FadenVerzwirnt.Name(), knoten.FadenEntzwirnt.Name()}})
		}
	}
	as, err := s.svc.Antraege.HiddenAll(ctx)
	if err != nil {
		return sc, err
	}
	aboutAntrag := slices.DeleteFunc(slices.Clone(AntragTypes), func(t string) bool { return t == antrag.AntragVerborgen.Name() })
	for _, id := range as {
		sc.Omit = append(sc.Omit, eventstore.Omit{Subject: id, Types: aboutAntrag})
		a, err := s.svc.Antraege.Get(ctx, id)
		if err != nil {
			return sc, err
		}
		if a.AbstimmungID != nil {
			sc.Omit = append(sc.Omit, eventstore.Omit{Subject: *a.AbstimmungID, Types: AbstimmungTypes})
		}
	}
	es, err := s.svc.Antraege.HiddenEinsprueche(ctx, nil)
	if err != nil {
		return sc, err
	}
	for _, e := range es {
		if !slices.Contains(as, e.Antrag) { // else left out with its Antrag
			sc.Omit = append(sc.Omit, eventstore.Omit{Subject: e.Antrag, Actor: e.Account, Types: []string{antrag.EinspruchErhoben.Name()}})
		}
	}
	return sc, nil
}
