package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/mapfeed"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
	"github.com/weltgewebe/weltgewebe/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var lindenau = json.RawMessage(`{"type":"Polygon","coordinates":[[[12.305,51.328],[12.355,51.328],[12.355,51.348],[12.305,51.348],[12.305,51.328]]]}`)

// TestBrowser runs e2e/app.e2e.mjs in headless Chromium against a real instance: registration,
// login, a Knoten placed on one screen arriving on another over /ws/map, Faden and Garn, Antrag,
// Einspruch, the dev clock, votes listed by name, the chat. The feed batches every 2 s, the low
// end of what serve allows (--map-batch 2–3 s); the script logs how long the Knoten took to
// arrive but does not fail on it (a busy CI machine under -race decides that, not the code: the
// latency is measured by `make bench`, docs/BENCHMARKS.md).
func TestBrowser(t *testing.T) {
	b := requireBrowser(t)
	inst := instancetest.Start(t, instancetest.Options{Name: "E2E-Weberei", Bounds: lindenau,
		MapFeed: mapfeed.Options{Batch: 2 * time.Second}})
	adminEmail := "e2e-admin@example.org"
	if _, err := inst.Accounts.CreateAdmin(context.Background(), "Ada Admin", adminEmail, "admin password"); err != nil {
		t.Fatal(err)
	}
	bea := inst.VerifiedResident("Bea Beispiel", 51.3372, 12.3290)
	b.run(t, "e2e/app.e2e.mjs",
		"WG_URL="+inst.URL,
		"WG_ADMIN_EMAIL="+adminEmail, "WG_ADMIN_PASSWORD=admin password",
		"WG_BEA_EMAIL="+bea.Email, "WG_BEA_PASSWORD=correct horse battery", "WG_BEA_NAME=Bea Beispiel")
}

// TestUserTextStaysText runs e2e/text.e2e.mjs: a resident's name, Knoten and chat message
// carrying markup show as the literal text wherever the app puts them, and make no element.
func TestUserTextStaysText(t *testing.T) {
	b := requireBrowser(t)
	inst := instancetest.Start(t, instancetest.Options{Name: "Text-Weberei", Bounds: lindenau})
	name := `<img src=x onerror="window.__xss=1"><b>Mallory</b>`
	title := `<img src=x onerror="window.__xss=2"><b>Bank</b>`
	description := `<script>window.__xss=3</script><i>kursiv</i> & "mehr"`
	chatText := `<img src=x onerror="window.__xss=4"><b>Hallo</b>`
	mallory := inst.Resident(name, 51.3372, 12.3290)
	var k struct{ ID string }
	mallory.Post("/api/knoten", map[string]any{"type": "idee", "title": title, "description": description, "lat": 51.3365, "lon": 12.3300}).
		Expect(t, http.StatusCreated).JSON(t, &k)
	mallory.Post("/api/chat", map[string]string{"text": chatText}).Expect(t, http.StatusCreated)
	var p struct{ Position struct{ Lat, Lon float64 } }
	inst.Client().Get("/api/accounts/"+mallory.ID).Expect(t, http.StatusOK).JSON(t, &p)
	b.run(t, "e2e/text.e2e.mjs", "WG_URL="+inst.URL, "WG_NAME="+name, "WG_TITLE="+title, "WG_DESCRIPTION="+description,
		"WG_CHAT="+chatText, "WG_KNOTEN="+k.ID, fmt.Sprintf("WG_LAT=%f", p.Position.Lat), fmt.Sprintf("WG_LON=%f", p.Position.Lon))
}

// TestPhone runs e2e/phone.e2e.mjs: the app on a 390×844 phone screen in Chromium, with a
// crowd of Knoten (for the clustering), one whose title is a long German compound word, a
// verified and an unverified resident. Each defect of issue 13's phone list is one check.
func TestPhone(t *testing.T) {
	b := requireBrowser(t)
	inst := instancetest.Start(t, instancetest.Options{Name: "Phone-Weberei", Bounds: lindenau})
	vera := inst.VerifiedResident("Vera Verifiziert", 51.3420, 12.3300)
	uwe := inst.Resident("Uwe Unbestätigt", 51.3330, 12.3400)
	long := "Donaudampfschifffahrtsgesellschaftskapitänsmützenaufbewahrungsschrankschlüsselanhängerherstellungsbetriebsversammlungsprotokoll"
	var k struct{ ID string }
	vera.Post("/api/knoten", map[string]any{"type": "einrichtung", "title": long, "lat": 51.3400, "lon": 12.3200}).
		Expect(t, http.StatusCreated).JSON(t, &k)
	// The crowd: 300 Knoten in a square of about 700 m in the south-east of the Ortsweberei.
	for i := range 300 {
		vera.Post("/api/knoten", map[string]any{"type": []string{"idee", "ereignis", "werkzeug"}[i%3],
			"title": fmt.Sprintf("Knoten %d", i), "lat": 51.3300 + float64(i%20)*0.0003, "lon": 12.3400 + float64(i/20)*0.0007}).
			Expect(t, http.StatusCreated)
	}
	var p struct{ Position struct{ Lat, Lon float64 } }
	inst.Client().Get("/api/accounts/"+vera.ID).Expect(t, http.StatusOK).JSON(t, &p)
	b.run(t, "e2e/phone.e2e.mjs", "WG_URL="+inst.URL, "WG_LONG_TITLE="+long, "WG_LONG_KNOTEN="+k.ID,
		"WG_VERA_EMAIL="+vera.Email, "WG_UWE_EMAIL="+uwe.Email, "WG_PASSWORD="+instancetest.ResidentPassword,
		fmt.Sprintf("WG_ROLLE=%f,%f", p.Position.Lat, p.Position.Lon))
}

// TestBasemap serves the app with a PMTiles basemap (a one-tile fixture made from Natural
// Earth) in front of a real instance, and checks in Chromium that the tiles are read with range
// requests and painted under the pins.
func TestBasemap(t *testing.T) {
	b := requireBrowser(t)
	fixture := filepath.Join(t.TempDir(), "basemap.pmtiles")
	if out, err := exec.Command(b.node, "e2e/pmtiles-fixture.mjs", fixture).CombinedOutput(); err != nil {
		t.Fatalf("pmtiles fixture: %v\n%s", err, out)
	}
	inst := instancetest.Start(t, instancetest.Options{Name: "Basemap-Weberei", Bounds: lindenau})
	inst.Resident("Jana Weber", 51.3362, 12.3363).
		Post("/api/knoten", map[string]any{"type": "idee", "title": "Trinkbrunnen", "lat": 51.336, "lon": 12.334}).
		Expect(t, http.StatusCreated)

	// The instance's API and feeds behind the app as `serve --basemap` assembles it.
	target, _ := url.Parse(inst.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.Handle("/api/", proxy)
	mux.Handle("/ws/", proxy)
	mux.Handle("/", web.Handler(web.Options{Basemap: fixture, Dev: true}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b.run(t, "e2e/basemap.e2e.mjs", "WG_URL="+srv.URL)
}

type browserTools struct{ node, chromium string }

// requireBrowser finds node, the npm packages and Chromium. Without them the browser tests
// fail (CI must run them), unless WG_SKIP_BROWSER=1 says to skip them.
func requireBrowser(t *testing.T) browserTools {
	t.Helper()
	if os.Getenv("WG_SKIP_BROWSER") == "1" {
		t.Skip("WG_SKIP_BROWSER=1")
	}
	if _, err := os.Stat("dist/index.html"); err != nil {
		t.Fatal("web/dist is not built: run `make web` first")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: run `make deps` (or set WG_SKIP_BROWSER=1 to skip the browser tests)")
	}
	chromium := os.Getenv("WG_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no Chromium at %s: run `make deps` (Debian package chromium), or set WG_CHROMIUM", chromium)
	}
	if _, err := os.Stat("node_modules/playwright-core/package.json"); err != nil {
		t.Fatal("web/node_modules has no playwright-core: run `make web` (npm ci)")
	}
	return browserTools{node: node, chromium: chromium}
}

// run runs a Node script of e2e/; it fails the test with its output and where its screenshots are.
func (b browserTools) run(t *testing.T, script string, env ...string) {
	t.Helper()
	artifacts, err := filepath.Abs(filepath.Join("e2e", "artifacts", t.Name()+"-"+time.Now().Format("20060102-150405")))
	if err != nil {
		t.Fatal(err)
	}
	// A safety net for a hung browser; the script's own waits are for what it expects to see.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, script)
	cmd.Env = append(append(os.Environ(), "WG_CHROMIUM="+b.chromium, "WG_ARTIFACTS="+artifacts), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s", script, out)
	if err != nil {
		t.Fatalf("%s failed (%v); screenshots in %s", script, err, artifacts)
	}
}
