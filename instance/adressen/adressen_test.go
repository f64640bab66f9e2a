package adressen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/adressen"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// monaco is the bundled extract: deploy/osm in the repository, or the shared copy it was
// taken from.
func monaco(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../deploy/osm/monaco-latest.osm.pbf", "../../../shared/osm/monaco-latest.osm.pbf", "/work/shared/osm/monaco-latest.osm.pbf"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("no monaco-latest.osm.pbf: neither deploy/osm/ nor the shared copy")
	return ""
}

func services(t *testing.T) (*adressen.Service, *ortsweberei.Service, *pgxpool.Pool) {
	pool := pgtest.Pool(t)
	c := clock.System{}
	o := ortsweberei.NewService(pool, c)
	return adressen.NewService(pool, c, o), o, pool
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func labels(as []adressen.Adresse) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Label
	}
	return out
}

// Monaco's extract becomes an index a resident finds their address in, the way they type it.
func TestImportMonacoAndSearch(t *testing.T) {
	t.Parallel()
	svc, _, pool := services(t)
	ctx := context.Background()
	res, err := svc.Import(ctx, monaco(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %+v", res)
	if res.Addresses < 150 || res.Streets < 100 || res.Places < 20 {
		t.Errorf("too few entries from Monaco: %+v", res.Source)
	}

	cases := []struct {
		q     string
		first string // prefix of the first label
	}{
		{"Bd des Moul 1", "Boulevard des Moulins 1"},
		{"boulevard des moulins 18", "Boulevard des Moulins 18, 98000"},
		{"BOULEVARD DES MOULINS 18", "Boulevard des Moulins 18, 98000"},
		{"Av des Spelugues", "Avenue des Spélugues"},     // diacritics typed without
		{"avenue des spélugues", "Avenue des Spélugues"}, // and with
		{"Pl d'Armes", "Place d'Armes"},                  // pl = place
		{"Rue Grimaldi", "Rue Grimaldi"},
	}
	for _, c := range cases {
		found, err := svc.Search(ctx, c.q, 8)
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if len(found) == 0 || !strings.HasPrefix(found[0].Label, c.first) {
			t.Errorf("%q: first %q, want %q…; all: %q", c.q, labels(found), c.first, labels(found))
		}
	}
	found, err := svc.Search(ctx, "Bd des Moul 1", 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range found {
		if a.Kind != adressen.KindAddress || a.Street != "Boulevard des Moulins" || !strings.HasPrefix(a.HouseNumber, "1") {
			t.Errorf("Bd des Moul 1 found %+v", a)
		}
		if a.Point.Lat < 43.72 || a.Point.Lat > 43.76 || a.Point.Lon < 7.40 || a.Point.Lon > 7.45 {
			t.Errorf("%s lies at %v, not in Monaco", a.Label, a.Point)
		}
		// No. 19 is tagged with its postcode only: the town is that of the postcode's others.
		if !strings.HasSuffix(a.Label, ", 98000 Monaco") {
			t.Errorf("label %q lacks its postcode and town", a.Label)
		}
		if s := fmt.Sprint(a.Point.Lat); len(s) > len("43.1234567") {
			t.Errorf("%s: latitude %s has more digits than OSM's seven", a.Label, s)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE type = 'AdressenImportiert'`); n != 1 {
		t.Errorf("%d AdressenImportiert events, want 1", n)
	}

	// A street before its addresses, although "Avenue des Spélugues 12" (no postcode) has the
	// shorter label; and a square that is both a named way and a place=square node is one entry.
	found, err = svc.Search(ctx, "avenue des spelugues", 8)
	if err != nil || len(found) == 0 || found[0].Kind != adressen.KindStreet {
		t.Errorf("avenue des spelugues: %q %v", labels(found), err)
	}
	found, err = svc.Search(ctx, "Place du Casino", 8)
	if err != nil {
		t.Fatal(err)
	}
	var squares int
	for _, a := range found {
		if a.Street == "Place du Casino" || a.Name == "Place du Casino" {
			squares++
		}
	}
	if squares != 1 {
		t.Errorf("Place du Casino: %q, want it once", labels(found))
	}
}

// A second import of the same file changes nothing: no rows rewritten, no event.
func TestReimportIsIdempotent(t *testing.T) {
	t.Parallel()
	svc, _, pool := services(t)
	ctx := context.Background()
	if _, err := svc.Import(ctx, monaco(t), nil); err != nil {
		t.Fatal(err)
	}
	xmin := count(t, pool, `SELECT sum(xmin::text::bigint) FROM adressen`)
	res, err := svc.Import(ctx, monaco(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Unchanged {
		t.Error("the same file again was not recognised")
	}
	if n := count(t, pool, `SELECT count(*) FROM events WHERE type = 'AdressenImportiert'`); n != 1 {
		t.Errorf("%d AdressenImportiert events after importing twice, want 1", n)
	}
	if after := count(t, pool, `SELECT sum(xmin::text::bigint) FROM adressen`); after != xmin {
		t.Error("the rows were rewritten by the second import")
	}

	// The same file clipped differently is a different index.
	clip, err := adressen.ParseClip("7.415,43.725,7.425,43.735")
	if err != nil {
		t.Fatal(err)
	}
	res, err = svc.Import(ctx, monaco(t), clip)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged {
		t.Fatal("a new clip was taken for the same import")
	}
	if n := count(t, pool, `SELECT count(*) FROM adressen WHERE lon < 7.415 OR lon > 7.425 OR lat < 43.725 OR lat > 43.735`); n != 0 {
		t.Errorf("%d entries outside the clip", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM adressen`); n == 0 || n >= res.Addresses+res.Streets+res.Places+1 {
		t.Errorf("%d entries in the clipped index (%+v)", n, res.Source)
	}
}

// `inside` says whether a match lies within the Ortsweberei's bounds.
func TestInsideTheBounds(t *testing.T) {
	t.Parallel()
	svc, o, _ := services(t)
	ctx := context.Background()
	if _, err := svc.Import(ctx, monaco(t), nil); err != nil {
		t.Fatal(err)
	}
	found, err := svc.Search(ctx, "Boulevard des Moulins", 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range found {
		if !a.Inside {
			t.Errorf("%s is outside although there are no bounds", a.Label)
		}
	}
	// Bounds around Monte-Carlo's casino: Boulevard des Moulins (to its north-east) is outside,
	// Avenue des Spélugues inside.
	bounds := json.RawMessage(`{"type":"Polygon","coordinates":[[[7.4255,43.7365],[7.4310,43.7365],[7.4310,43.7415],[7.4255,43.7415],[7.4255,43.7365]]]}`)
	if err := o.Ensure(ctx, "Casino", bounds); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]bool{"Boulevard des Moulins 27": false, "Avenue des Spélugues": true} {
		found, err := svc.Search(ctx, q, 1)
		if err != nil || len(found) != 1 {
			t.Fatalf("%q: %v %v", q, found, err)
		}
		a := found[0]
		inBox := a.Point.Lon >= 7.4255 && a.Point.Lon <= 7.4310 && a.Point.Lat >= 43.7365 && a.Point.Lat <= 43.7415
		if a.Inside != want || a.Inside != inBox {
			t.Errorf("%s at %v: inside %v, want %v", a.Label, a.Point, a.Inside, want)
		}
	}
}

// A German extract's usual spellings: "Str." for Straße, umlauts typed or not, and the house
// number typed so far. The extract is OSM XML written here (the same reader as a .pbf's).
func TestGermanStreets(t *testing.T) {
	t.Parallel()
	svc, _, _ := services(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lindenau.osm")
	if err := os.WriteFile(path, []byte(lindenau), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import(ctx, path, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ q, first string }{
		{"Lützner Str. 30", "Lützner Straße 30, 04177 Leipzig"},
		{"lutzner strasse 30", "Lützner Straße 30, 04177 Leipzig"},
		{"Luetzner Straße 30", "Lützner Straße 30, 04177 Leipzig"},
		{"Lützner Str. 32", "Lützner Straße 32, 04177 Leipzig"},
		{"Merseburger Straße 9", "Merseburger Str. 9, 04177 Leipzig"}, // spelled short in the data
		{"Hauptstr 5", "Hauptstraße 5"},
		{"Karl-Heine-Str 50", "Karl-Heine-Straße 50"},
		{"karl heine", "Karl-Heine-Straße"}, // the street first: shorter than its addresses
		{"1", "Am Wasserturm 1, 04177"},     // the exact house number before the shorter "Ring 10"
		{"Hauptstr 5 b", "Hauptstraße 5b"},  // the letter typed apart
	}
	for _, c := range cases {
		found, err := svc.Search(ctx, c.q, 8)
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if len(found) == 0 || !strings.HasPrefix(found[0].Label, c.first) {
			t.Errorf("%q: got %q, want %q first", c.q, labels(found), c.first)
		}
	}
	// A building drawn as a multipolygon: its point is the middle of its outer way; a building
	// way's is the middle of its corners.
	for q, at := range map[string][2]float64{"Gießerstr 16": {51.3255, 12.3405}, "Karl-Heine-Straße 50": {51.33305, 12.32905}} {
		found, err := svc.Search(ctx, q, 1)
		if err != nil || len(found) != 1 {
			t.Fatalf("%q: %v %v", q, found, err)
		}
		if p := found[0].Point; math.Abs(p.Lat-at[0]) > 1e-6 || math.Abs(p.Lon-at[1]) > 1e-6 {
			t.Errorf("%s at %v, want %v", found[0].Label, p, at)
		}
	}
	// "Lützner Str. 3" finds Lützner Straße 30 and the others the number may grow into, with
	// the exact house number first and then the shorter labels.
	found, err := svc.Search(ctx, "Lützner Str. 3", 8)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Lützner Straße 3, 04177 Leipzig", "Lützner Straße 30, 04177 Leipzig", "Lützner Straße 32, 04177 Leipzig", "Lützner Straße 300, 04177 Leipzig"}
	if got := labels(found); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Lützner Str. 3: %q, want %q", got, want)
	}
}

// Queries out of bounds are refused with their code; what is only punctuation finds nothing.
func TestSearchLimits(t *testing.T) {
	t.Parallel()
	svc, _, _ := services(t)
	ctx := context.Background()
	for _, c := range []struct {
		q     string
		limit int
		code  string
	}{
		{"", 8, "invalid_query"},
		{"   ", 8, "invalid_query"},
		{strings.Repeat("a", adressen.MaxQueryLen+1), 8, "invalid_query"},
		{"Lützner", 21, "invalid_limit"},
		{"Lützner", -1, "invalid_limit"},
	} {
		_, err := svc.Search(ctx, c.q, c.limit)
		if f, ok := fault.As(err); !ok || f.Code != c.code || f.Kind != fault.Malformed {
			t.Errorf("%q limit %d: %v, want %s", c.q, c.limit, err, c.code)
		}
	}
	if found, err := svc.Search(ctx, strings.Repeat("ä", adressen.MaxQueryLen), 8); err != nil || len(found) != 0 {
		t.Errorf("100 characters: %v %v", found, err)
	}
	if found, err := svc.Search(ctx, "-.,", 8); err != nil || found == nil || len(found) != 0 {
		t.Errorf("punctuation: %v %v", found, err)
	}
}

const lindenau = `<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="weltgewebe test">
 <node id="1" lat="51.3362" lon="12.3363"><tag k="addr:street" v="Lützner Straße"/><tag k="addr:housenumber" v="30"/><tag k="addr:postcode" v="04177"/><tag k="addr:city" v="Leipzig"/></node>
 <node id="2" lat="51.3363" lon="12.3370"><tag k="addr:street" v="Lützner Straße"/><tag k="addr:housenumber" v="32"/><tag k="addr:postcode" v="04177"/><tag k="addr:city" v="Leipzig"/></node>
 <node id="3" lat="51.3370" lon="12.3450"><tag k="addr:street" v="Lützner Straße"/><tag k="addr:housenumber" v="3"/><tag k="addr:postcode" v="04177"/><tag k="addr:city" v="Leipzig"/></node>
 <node id="4" lat="51.3340" lon="12.3200"><tag k="addr:street" v="Lützner Straße"/><tag k="addr:housenumber" v="300"/><tag k="addr:postcode" v="04177"/><tag k="addr:city" v="Leipzig"/></node>
 <node id="5" lat="51.3395" lon="12.3275"><tag k="addr:street" v="Merseburger Str."/><tag k="addr:housenumber" v="9"/><tag k="addr:postcode" v="04177"/><tag k="addr:city" v="Leipzig"/></node>
 <node id="6" lat="51.3300" lon="12.3300"><tag k="addr:street" v="Hauptstraße"/><tag k="addr:housenumber" v="5"/></node>
 <node id="9" lat="51.3301" lon="12.3301"><tag k="addr:street" v="Hauptstraße"/><tag k="addr:housenumber" v="5b"/></node>
 <node id="7" lat="51.3350" lon="12.3350"><tag k="addr:street" v="Am Wasserturm"/><tag k="addr:housenumber" v="1"/><tag k="addr:postcode" v="04177"/><tag k="addr:city" v="Leipzig"/></node>
 <node id="8" lat="51.3351" lon="12.3351"><tag k="addr:street" v="Ring"/><tag k="addr:housenumber" v="10"/></node>
 <node id="10" lat="51.3329" lon="12.3289"/>
 <node id="11" lat="51.3329" lon="12.3292"/>
 <node id="12" lat="51.3332" lon="12.3292"/>
 <node id="13" lat="51.3332" lon="12.3289"/>
 <node id="20" lat="51.3320" lon="12.3280"/>
 <node id="21" lat="51.3330" lon="12.3300"/>
 <node id="22" lat="51.3340" lon="12.3320"/>
 <way id="100"><nd ref="10"/><nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="10"/>
  <tag k="building" v="yes"/><tag k="addr:street" v="Karl-Heine-Straße"/><tag k="addr:housenumber" v="50"/><tag k="addr:postcode" v="04229"/><tag k="addr:city" v="Leipzig"/></way>
 <node id="30" lat="51.3250" lon="12.3400"/>
 <node id="31" lat="51.3250" lon="12.3410"/>
 <node id="32" lat="51.3260" lon="12.3410"/>
 <node id="33" lat="51.3260" lon="12.3400"/>
 <way id="102"><nd ref="30"/><nd ref="31"/><nd ref="32"/><nd ref="33"/><nd ref="30"/></way>
 <relation id="200"><member type="way" ref="102" role="outer"/><tag k="type" v="multipolygon"/><tag k="building" v="yes"/>
  <tag k="addr:street" v="Gießerstraße"/><tag k="addr:housenumber" v="16"/><tag k="addr:postcode" v="04229"/><tag k="addr:city" v="Leipzig"/></relation>
 <way id="101"><nd ref="20"/><nd ref="21"/><nd ref="22"/><tag k="highway" v="residential"/><tag k="name" v="Karl-Heine-Straße"/></way>
</osm>
`

// The bounded search ranks as sorting every match would: for prefixes of labels as they are
// typed, the same entries in the same order as the obvious query that sorts all matches (while
// there are at most the 500 the bounded query samples). In Monaco's index every entry is among
// the 2000 best ranked; the synthetic one has 3000 addresses more, so the GIN part answers too.
func TestSearchRanksLikeSortingEveryMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("Monaco", func(t *testing.T) {
		t.Parallel()
		svc, _, pool := services(t)
		if _, err := svc.Import(ctx, monaco(t), nil); err != nil {
			t.Fatal(err)
		}
		compareWithSortingAll(t, svc, pool, 6)
	})
	t.Run("synthetic", func(t *testing.T) {
		t.Parallel()
		svc, _, pool := services(t)
		var b strings.Builder
		b.WriteString("<osm version=\"0.6\">\n")
		stems := []string{"Linden", "Eichen", "Birken", "Ahorn", "Garten", "Kirch", "Schul", "Bahnhof", "Berg", "Wald"}
		kinds := []string{"straße", "weg", "platz", "allee", "ring", "gasse"}
		id := 1
		for si, stem := range stems {
			for ki, kind := range kinds {
				for hn := 1; hn <= 55; hn++ {
					fmt.Fprintf(&b, `<node id="%d" lat="%f" lon="%f"><tag k="addr:street" v="%s%s"/><tag k="addr:housenumber" v="%d"/><tag k="addr:postcode" v="0%d"/><tag k="addr:city" v="Stadt %d"/></node>`+"\n",
						id, 51+float64(si)/100+float64(hn)/10000, 12+float64(ki)/100, stem, kind, hn, 4100+ki, si%3)
					id++
				}
			}
		}
		b.WriteString("</osm>\n")
		path := filepath.Join(t.TempDir(), "synthetisch.osm")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := svc.Import(ctx, path, nil); err != nil || res.Addresses != 3300 {
			t.Fatalf("import: %+v %v", res, err)
		}
		compareWithSortingAll(t, svc, pool, 41)
	})
}

func compareWithSortingAll(t *testing.T, svc *adressen.Service, pool *pgxpool.Pool, every int) {
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT label FROM adressen ORDER BY ord`)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var checked, beyondTop int
	for i, label := range all {
		if i%every != 0 {
			continue
		}
		r := []rune(label)
		for n := 1; n <= len(r); n += 2 {
			q := string(r[:n])
			ws := adressen.QueryWords(q)
			if len(ws) == 0 {
				continue
			}
			var exact []string
			for _, w := range ws {
				if w[0] >= '0' && w[0] <= '9' {
					exact = append(exact, "#"+w)
				}
			}
			var matches, inTop int
			var want []string
			err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE ord < 2000), (SELECT coalesce(array_agg(label), '{}') FROM (
    SELECT label FROM adressen WHERE terms @> $1 ORDER BY terms && $2 DESC, ord LIMIT 8) x)
FROM adressen WHERE terms @> $1`, ws, exact).Scan(&matches, &inTop, &want)
			if err != nil {
				t.Fatal(err)
			}
			if matches > 500 {
				continue
			}
			found, err := svc.Search(ctx, q, 8)
			if err != nil {
				t.Fatal(err)
			}
			if got := labels(found); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%q: %q, sorting every match: %q", q, got, want)
			}
			checked++
			if inTop < matches && inTop < 8 {
				beyondTop++
			}
		}
	}
	t.Logf("%d queries compared, %d of them with matches beyond the 2000 best ranked", checked, beyondTop)
	if checked < 500 {
		t.Errorf("only %d queries compared", checked)
	}
}
