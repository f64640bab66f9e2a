// Package demo seeds a small demo Ortsweberei for `make run`: a few verified residents in
// Leipzig-Lindenau, Knoten with Fäden, one Garn, an Antrag with an Einspruch, and a delegation. Everything goes through the domain services, so
// the demo writes the same events a real community would.
package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
)

// Password is the password of every demo account.
const Password = "weltgewebe-demo"

// Logins are the demo accounts to try.
var (
	ResidentEmail = "jana@demo.weltgewebe.local"
	AdminEmail    = "admin@demo.weltgewebe.local"
)

// Name and Bounds of the demo Ortsweberei.
const Name = "Demo-Weberei Lindenau"

var Bounds = json.RawMessage(`{"type":"Polygon","coordinates":[[[12.305,51.328],[12.355,51.328],[12.355,51.348],[12.305,51.348],[12.305,51.328]]]}`)

// Services are what seeding uses.
type Services struct {
	Accounts    *account.Service
	Knoten      *knoten.Service
	Ortsweberei *ortsweberei.Service
	Antraege    *antrag.Service
	Delegations *delegation.Service
}

// Seed creates the demo unless its accounts exist already. It reports whether it wrote.
func Seed(ctx context.Context, s Services) (bool, error) {
	admin, err := s.Accounts.CreateAdmin(ctx, "Ada Admin", AdminEmail, Password)
	if fault.Is(err, "email_taken") {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("demo: admin: %w", err)
	}
	if _, err := s.Ortsweberei.Set(ctx, admin, Name, Bounds); err != nil {
		return false, fmt.Errorf("demo: ortsweberei: %w", err)
	}
	residents := []struct {
		name, email, address string
		home                 geo.Point
	}{
		{"Jana Weber", ResidentEmail, "Lützner Straße 30, 04177 Leipzig", geo.Point{Lat: 51.3362, Lon: 12.3363}},
		{"Emil Spinner", "emil@demo.weltgewebe.local", "Karl-Heine-Straße 50, 04229 Leipzig", geo.Point{Lat: 51.3330, Lon: 12.3290}},
		{"Mara Zwirn", "mara@demo.weltgewebe.local", "Merseburger Straße 90, 04177 Leipzig", geo.Point{Lat: 51.3395, Lon: 12.3275}},
	}
	ids := make([]uuid.UUID, len(residents))
	people := make([]account.Account, len(residents))
	for i, r := range residents {
		a, err := s.Accounts.Register(ctx, account.Registration{Name: r.name, Address: r.address, Home: r.home, Email: r.email, Password: Password})
		if err != nil {
			return false, fmt.Errorf("demo: resident %s: %w", r.name, err)
		}
		if people[i], err = s.Accounts.Verify(ctx, admin, a.ID); err != nil {
			return false, fmt.Errorf("demo: verify: %w", err)
		}
		ids[i] = a.ID
	}

	knotenSeeds := []struct {
		by    int
		place knoten.Placement
		spins []int // residents who spin a Faden to it
		garn  bool  // the creator twists the first Faden into Garn
	}{
		{0, knoten.Placement{Type: "einrichtung", Title: "Gemeinschaftsgarten am Kanal",
			Description: "Hochbeete für alle, Gießdienst im Wechsel.", Point: geo.Point{Lat: 51.3338, Lon: 12.3312}}, []int{1, 2}, true},
		{1, knoten.Placement{Type: "ereignis", Title: "Repair-Café am Samstag",
			Description: "Kaputte Toaster, Fahrräder und Jacken mitbringen.", Point: geo.Point{Lat: 51.3371, Lon: 12.3398}}, []int{0}, false},
		{2, knoten.Placement{Type: "werkzeug", Title: "Lastenrad zum Ausleihen",
			Description: "Schlüssel bei Mara, Merseburger Straße.", Point: geo.Point{Lat: 51.3402, Lon: 12.3281}}, nil, false},
		{0, knoten.Placement{Type: "idee", Title: "Eine Bank am Spielplatz",
			Description: "Am Spielplatz Henricistraße fehlt Schatten und eine Bank.", Point: geo.Point{Lat: 51.3355, Lon: 12.3245}}, []int{2}, false},
	}
	var garten uuid.UUID
	for _, ks := range knotenSeeds {
		k, first, err := s.Knoten.Place(ctx, ids[ks.by], ks.place)
		if err != nil {
			return false, fmt.Errorf("demo: knoten %q: %w", ks.place.Title, err)
		}
		if garten == uuid.Nil {
			garten = k.ID
		}
		for _, who := range ks.spins {
			if _, err := s.Knoten.Spin(ctx, ids[who], knoten.Spinning{KnotenID: k.ID, Type: "gespraech"}); err != nil {
				return false, fmt.Errorf("demo: faden: %w", err)
			}
		}
		if ks.garn {
			if _, err := s.Knoten.Twist(ctx, ids[ks.by], first.ID); err != nil {
				return false, fmt.Errorf("demo: garn: %w", err)
			}
		}
	}

	// The Webrat: an Antrag about the garden, one Einspruch, and Mara delegating to Jana.
	amount := int64(180000)
	a, err := s.Antraege.File(ctx, people[0], antrag.Filing{
		Title:       "Trinkwasseranschluss für den Gemeinschaftsgarten",
		DetailsMD:   "Die Gießkannen vom Kanal zu schleppen, kostet jeden Sommer Nerven.\n\n- Anschluss über den Hof der Nr. 12\n- Zähler, Abrechnung über das Ortskonto",
		AmountCents: &amount,
		KnotenID:    &garten,
	})
	if err != nil {
		return false, fmt.Errorf("demo: antrag: %w", err)
	}
	if _, err := s.Antraege.Object(ctx, people[1], a.ID, "Erst einen Kostenvoranschlag einholen, bitte."); err != nil {
		return false, fmt.Errorf("demo: einspruch: %w", err)
	}
	if _, err := s.Delegations.Request(ctx, people[2], ids[0]); err != nil {
		return false, fmt.Errorf("demo: delegation: %w", err)
	}
	return true, nil
}
