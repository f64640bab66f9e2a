// Package demo seeds a small demo Ortsweberei for `make run`: a few verified residents in
// Monaco (Monaco-Ville, La Condamine, Monte-Carlo — the OpenStreetMap extract at hand, so the
// basemap and the address search show real streets), Knoten at real places with Fäden, one
// Garn, an Antrag with an Einspruch, and a delegation. The texts are German, like every
// Ortsweberei's. Everything goes through the domain services, so the demo writes the same
// events a real community would.
package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/adressen"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/delegation"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/knoten"
	"github.com/weltgewebe/weltgewebe/instance/ortskonto"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
)

// Password is the password of every demo account.
const Password = "weltgewebe-demo"

// Logins are the demo accounts to try.
var (
	ResidentEmail = "jana@demo.weltgewebe.local"
	AdminEmail    = "admin@demo.weltgewebe.local"
)

// Name and Bounds of the demo Ortsweberei: Monaco-Ville on its rock, the harbour quarter La
// Condamine and Monte-Carlo.
const Name = "Demo-Weberei Monaco"

var Bounds = json.RawMessage(`{"type":"Polygon","coordinates":[[[7.415,43.727],[7.435,43.727],[7.435,43.746],[7.415,43.746],[7.415,43.727]]]}`)

// Extract is the OpenStreetMap extract of the demo (deploy/osm, relative to the repository),
// the source of its address index and basemap.
const Extract = "deploy/osm/monaco-latest.osm.pbf"

// Residents are the demo's residents; their addresses are real ones of the extract, and their
// homes where the address index puts them.
var Residents = []struct {
	Name, Email, Address string
	Home                 geo.Point
}{
	{"Jana Weber", ResidentEmail, "Rue Grimaldi 6, 98000 Monaco", geo.Point{Lat: 43.73300, Lon: 7.41886}},
	{"Emil Spinner", "emil@demo.weltgewebe.local", "Boulevard des Moulins 18, 98000 Monaco", geo.Point{Lat: 43.74263, Lon: 7.42811}},
	{"Mara Zwirn", "mara@demo.weltgewebe.local", "Place de la Visitation 2, 98000 Monaco-Ville", geo.Point{Lat: 43.73148, Lon: 7.42584}},
}

// Places are where the demo's Knoten stand: each a named place of the extract, at its point.
var Places = []struct {
	Name  string
	Point geo.Point
}{
	{"Jardins de Saint-Martin", geo.Point{Lat: 43.72983, Lon: 7.42346}},
	{"Marché de la Condamine", geo.Point{Lat: 43.73263, Lon: 7.41953}},
	{"Place Saint Nicolas", geo.Point{Lat: 43.73051, Lon: 7.42232}},
	{"Square Beaumarchais", geo.Point{Lat: 43.73864, Lon: 7.42605}},
}

// Index imports the demo's extract at path into the address index unless the index holds
// something already (an admin's own import stays). It reports whether it imported.
func Index(ctx context.Context, a *adressen.Service, path string) (bool, error) {
	empty, err := a.Empty(ctx)
	if err != nil || !empty {
		return false, err
	}
	if _, err := a.Import(ctx, path, nil); err != nil {
		return false, fmt.Errorf("demo: address index: %w", err)
	}
	return true, nil
}

// Services are what seeding uses.
type Services struct {
	Accounts    *account.Service
	Knoten      *knoten.Service
	Ortsweberei *ortsweberei.Service
	Antraege    *antrag.Service
	Delegations *delegation.Service
	Konto       *ortskonto.Service // nil: no Ortskonto in the demo
}

// Konto is the demo Ortskonto: a valid test IBAN (no real account) and a place by the Mairie
// in Monaco-Ville, inside the demo's bounds.
var Konto = ortskonto.Settings{Empfaenger: "Demo-Weberei Monaco e.V.", IBAN: "DE02120300000000202051", BIC: "BYLADEM1001",
	Position: geo.Point{Lat: 43.73145, Lon: 7.42140}}

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
	ids := make([]uuid.UUID, len(Residents))
	people := make([]account.Account, len(Residents))
	for i, r := range Residents {
		a, err := s.Accounts.Register(ctx, account.Registration{Name: r.Name, Address: r.Address, Home: r.Home, Email: r.Email, Password: Password})
		if err != nil {
			return false, fmt.Errorf("demo: resident %s: %w", r.Name, err)
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
		{0, knoten.Placement{Type: "einrichtung", Title: "Gemeinschaftsgarten in den Jardins de Saint-Martin",
			Description: "Hochbeete für alle am Felsen, Gießdienst im Wechsel.", Point: Places[0].Point}, []int{1, 2}, true},
		{1, knoten.Placement{Type: "ereignis", Title: "Repair-Café am Samstag",
			Description: "In der Markthalle der Condamine: kaputte Toaster, Fahrräder und Jacken mitbringen.", Point: Places[1].Point}, []int{0}, false},
		{2, knoten.Placement{Type: "werkzeug", Title: "Lastenrad zum Ausleihen",
			Description: "Schlüssel bei Mara, Place de la Visitation; das Rad steht an der Place Saint Nicolas.", Point: Places[2].Point}, nil, false},
		{0, knoten.Placement{Type: "idee", Title: "Eine Bank im Square Beaumarchais",
			Description: "Im Square Beaumarchais fehlt Schatten und eine Bank.", Point: Places[3].Point}, []int{2}, false},
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
		DetailsMD:   "Die Gießkannen den Felsen hinaufzutragen, kostet jeden Sommer Nerven.\n\n- Anschluss über den Hof der Mairie\n- Zähler, Abrechnung über das Ortskonto",
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
	if s.Konto != nil {
		if err := seedKonto(ctx, s, admin, people); err != nil {
			return false, fmt.Errorf("demo: ortskonto: %w", err)
		}
	}
	return true, nil
}

// seedKonto sets the Ortskonto, makes Mara the Kassenwart and has the residents give: visible
// and anonymous donations in every state but failed, so that the slider and the map show
// Goldfäden ausstehend, gebucht and storniert.
func seedKonto(ctx context.Context, s Services, admin account.Account, people []account.Account) error {
	if _, err := s.Konto.Configure(ctx, admin, Konto); err != nil {
		return err
	}
	kasse, err := s.Accounts.GrantRole(ctx, admin, people[2].ID, account.Kassenwart)
	if err != nil {
		return err
	}
	gifts := []struct {
		by      int
		cents   int64
		visible bool
		message string
		steps   []string
	}{
		{0, 2500, true, "Für den Wasseranschluss im Garten!", []string{ortskonto.StatusPending, ortskonto.StatusSettled}},
		{1, 5000, false, "", []string{ortskonto.StatusPending, ortskonto.StatusSettled}},
		{2, 1250, true, "Fürs Repair-Café", []string{ortskonto.StatusPending}},
		{1, 800, true, "", nil},
		{0, 1000, false, "", nil},
		{2, 500, true, "", []string{ortskonto.StatusPending, ortskonto.StatusSettled, ortskonto.StatusReversed}},
	}
	for i, g := range gifts {
		sp, _, err := s.Konto.Donate(ctx, people[g.by], ortskonto.Donation{AmountCents: g.cents, Visible: g.visible, Message: g.message},
			fmt.Sprintf("demo-%d", i))
		if err != nil {
			return err
		}
		for _, to := range g.steps {
			if _, err := s.Konto.Transition(ctx, kasse, sp.ID, to, ""); err != nil {
				return err
			}
		}
	}
	return nil
}
