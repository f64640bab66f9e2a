package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/adressen"
)

// benchAdressen: GET /api/adressen?q= over n synthetic German addresses, imported from an OSM
// file through the real import, against the bare search query. The queries are what a
// resident types, keystroke by keystroke: every prefix of "Street number" of random addresses,
// half of them with the street abbreviated ("Lindenstr. 1").
func benchAdressen(ctx context.Context, e *env, cfg config) {
	n := cfg.adressen
	dir, err := os.MkdirTemp("", "wgbench-adressen-")
	check(err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "synthetisch.osm")
	rng := rand.New(rand.NewPCG(7, 7))
	typed := writeSyntheticExtract(path, n, rng)

	log.Printf("adressen: importing %d addresses", n)
	start := time.Now()
	res, err := e.inst.Adressen.Import(ctx, path, nil)
	check(err)
	took := time.Since(start)
	e.exec(ctx, `VACUUM ANALYZE adressen`)
	log.Printf("adressen: imported %+v in %s", res.Source, took.Round(time.Millisecond))

	var queries []string
	for len(queries) < cfg.queries {
		full := typed[rng.IntN(len(typed))]
		if rng.IntN(2) == 0 {
			full = strings.NewReplacer("straße ", "str. ", "Straße ", "Str. ").Replace(full)
		}
		for i := 1; i <= utf8.RuneCountInString(full); i++ {
			if q := strings.TrimSpace(string([]rune(full)[:i])); q != "" && !strings.HasSuffix(q, ".") {
				queries = append(queries, q)
			}
		}
	}
	queries = queries[:cfg.queries]

	var found int
	// The bare query: the words already normalised, every match sorted, a plan for each.
	bare := func(q string) {
		words := adressen.QueryWords(q)
		var exact []string
		for _, w := range words {
			if w[0] >= '0' && w[0] <= '9' {
				exact = append(exact, "#"+w)
			}
		}
		rows, err := e.inst.Pool.Query(ctx, `
SELECT kind, label, street, housenumber, postcode, city, name, lat, lon
FROM adressen WHERE terms @> $1::text[]
ORDER BY terms && $2::text[] DESC, ord LIMIT 8`, pgx.QueryExecModeExec, words, exact)
		check(err)
		for rows.Next() {
			found++
		}
		check(rows.Err())
	}
	service := func(q string) {
		_, err := e.inst.Adressen.Search(ctx, q, 8)
		check(err)
	}
	client := &http.Client{}
	httpGet := func(q string) {
		res, err := client.Get(e.url + "/api/adressen?q=" + url.QueryEscape(q))
		check(err)
		_, err = io.Copy(io.Discard, res.Body)
		check(err)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			log.Fatalf("GET /api/adressen: %d", res.StatusCode)
		}
	}
	variants := []func(string){bare, service, httpGet}
	for _, q := range queries[:min(200, len(queries))] {
		for _, v := range variants {
			v(q)
		}
	}
	found = 0
	times := make([][]time.Duration, len(variants))
	var short []time.Duration // the HTTP times of queries of one or two characters
	for i, q := range queries {
		for j := range variants {
			v := (i + j) % len(variants)
			t := time.Now()
			variants[v](q)
			d := time.Since(t)
			times[v] = append(times[v], d)
			if v == 2 && utf8.RuneCountInString(q) <= 2 {
				short = append(short, d)
			}
		}
	}
	b, s, h := sortDurations(times[0]), sortDurations(times[1]), sortDurations(times[2])

	fmt.Println("## Address search")
	fmt.Println()
	fmt.Printf("%d synthetic addresses (%d streets, %d places) on %d street names in five towns, imported from an\n",
		res.Addresses, res.Streets, res.Places, len(streetNames))
	fmt.Printf("OSM file through `adressen.Import` in %s. %d queries: every prefix of \"street number\" of random\n", took.Round(100*time.Millisecond), len(queries))
	fmt.Println("addresses as a resident types it, keystroke by keystroke, half with the street abbreviated")
	fmt.Printf("(\"Lindenstr. 1\"); %.1f matches each on average (limit 8). Each query asked three ways in a row\n", float64(found)/float64(len(queries)))
	fmt.Println("(rotating order). Baseline: the obvious query, with the words already normalised — every match")
	fmt.Println("the GIN index finds, sorted by exact house number and rank (`ORDER BY … LIMIT 8`). Ours:")
	fmt.Println("`adressen.Search` (normalising; the bounded query of adressen.go, which sorts at most a few")
	fmt.Println("hundred matches; `inside` from the Ortsweberei, in the same transaction), and the whole HTTP")
	fmt.Println("request with JSON encoding over loopback.")
	fmt.Println()
	fmt.Println("| | p50 | p95 | p99 | p50 ratio | p95 ratio |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	row := func(name string, d []time.Duration) {
		fmt.Printf("| %s | %s | %s | %s | %.2f× | %.2f× |\n", name, ms(percentile(d, .5)), ms(percentile(d, .95)), ms(percentile(d, .99)),
			float64(percentile(d, .5))/float64(percentile(b, .5)), float64(percentile(d, .95))/float64(percentile(b, .95)))
	}
	row("bare SQL", b)
	row("adressen.Search", s)
	row("GET /api/adressen?q=", h)
	short = sortDurations(short)
	row(fmt.Sprintf("… of which 1–2 characters (%d)", len(short)), short)
	fmt.Println()
}

var (
	streetStems = []string{"Linden", "Eichen", "Birken", "Ahorn", "Garten", "Kirch", "Schul", "Bahnhof", "Berg", "Wald",
		"Feld", "Mühlen", "Rosen", "Tulpen", "Goethe", "Schiller", "Lessing", "Bach", "Mozart", "Beethoven", "Kant",
		"Hegel", "Luther", "Brunnen", "Markt", "Post", "Hafen", "Wiesen", "Sonnen", "Blumen", "Fichten", "Tannen",
		"Buchen", "Erlen", "Weiden", "Pappel", "Kastanien", "Holunder", "Flieder", "Nelken", "Lilien", "Veilchen",
		"Dahlien", "Astern", "Georg-Schwarz-", "Karl-Heine-", "Friedrich-Ebert-", "Wilhelm-Busch-", "Heinrich-Heine-",
		"Ludwig-Hupfeld-", "Otto-Schill-", "August-Bebel-", "Lützner ", "Merseburger ", "Zschochersche ",
		"Dieskau", "Gießer", "Naumburger ", "Erich-Zeigner-", "Käthe-Kollwitz-"}
	streetSuffixes = []string{"straße", "weg", "gasse", "platz", "allee", "ring", "ufer", "steig", "pfad"}
	streetPrefixes = []string{"", "Alte ", "Neue ", "Kleine ", "Große ", "Obere "}
	towns          = []struct{ postcode, city string }{{"04177", "Leipzig"}, {"04229", "Leipzig"},
		{"04416", "Markkleeberg"}, {"04425", "Taucha"}, {"04435", "Schkeuditz"}}
	streetNames = func() []string {
		var out []string
		for _, p := range streetPrefixes {
			for _, s := range streetStems {
				for _, x := range streetSuffixes {
					if strings.HasSuffix(s, " ") || strings.HasSuffix(s, "-") {
						x = strings.ToUpper(x[:1]) + x[1:] // "Lützner Straße", "Karl-Heine-Straße"
					}
					out = append(out, p+s+x)
				}
			}
		}
		return out
	}()
)

// writeSyntheticExtract writes n addresses as OSM XML nodes (house numbers 1… on each street,
// some with a letter) and each street as a named way, and returns "street number" of each
// address as a resident would type it.
func writeSyntheticExtract(path string, n int, rng *rand.Rand) []string {
	f, err := os.Create(path)
	check(err)
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, `<?xml version="1.0" encoding="UTF-8"?>`)
	fmt.Fprintln(w, `<osm version="0.6" generator="wgbench">`)
	perStreet := n/len(streetNames) + 1
	typed := make([]string, 0, n)
	id := 1
	type wayNodes struct{ a, b int }
	ways := make([]wayNodes, len(streetNames))
	for si, street := range streetNames {
		town := towns[si%len(towns)]
		lat0, lon0 := minLat+rng.Float64()*(maxLat-minLat), minLon+rng.Float64()*(maxLon-minLon)
		for h := 1; h <= perStreet && len(typed) < n; h++ {
			hn := fmt.Sprint(h)
			if rng.IntN(10) == 0 {
				hn += "a"
			}
			fmt.Fprintf(w, ` <node id="%d" lat="%.7f" lon="%.7f"><tag k="addr:street" v="%s"/><tag k="addr:housenumber" v="%s"/><tag k="addr:postcode" v="%s"/><tag k="addr:city" v="%s"/></node>`+"\n",
				id, lat0+float64(h)*0.00005, lon0, street, hn, town.postcode, town.city)
			typed = append(typed, street+" "+hn)
			id++
		}
		fmt.Fprintf(w, ` <node id="%d" lat="%.7f" lon="%.7f"/>`+"\n", id, lat0, lon0-0.0001)
		fmt.Fprintf(w, ` <node id="%d" lat="%.7f" lon="%.7f"/>`+"\n", id+1, lat0+0.003, lon0-0.0001)
		ways[si] = wayNodes{id, id + 1}
		id += 2
	}
	for si, street := range streetNames {
		fmt.Fprintf(w, ` <way id="%d"><nd ref="%d"/><nd ref="%d"/><tag k="highway" v="residential"/><tag k="name" v="%s"/></way>`+"\n",
			si+1, ways[si].a, ways[si].b, street)
	}
	fmt.Fprintln(w, `</osm>`)
	check(w.Flush())
	check(f.Close())
	return typed
}
