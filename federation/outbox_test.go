package federation_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// apGet fetches an ActivityPub document the way a Fediverse server does and returns its body.
func apGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/activity+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/activity+json") {
		t.Errorf("GET %s: Content-Type %q", url, res.Header.Get("Content-Type"))
	}
	return res.StatusCode, b
}

// mustAP is apGet for documents that must be there, decoded.
func mustAP(t *testing.T, url string) map[string]any {
	t.Helper()
	code, b := apGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return m
}

// outboxPage is one walk step: the page and its items.
type outboxPage struct {
	URL   string
	Doc   map[string]any
	Items []map[string]any
}

// walkOutbox reads an outbox the way a Fediverse server backfills one: the collection, then
// first and next until a page has no next. It checks the collection's shape on the way.
func walkOutbox(t *testing.T, url string) (total int, pages []outboxPage) {
	t.Helper()
	coll := mustAP(t, url)
	if coll["type"] != "OrderedCollection" || coll["id"] != url {
		t.Fatalf("outbox %s: %v", url, coll)
	}
	n, ok := coll["totalItems"].(float64)
	first, _ := coll["first"].(string)
	if !ok || first == "" {
		t.Fatalf("outbox %s: totalItems and first: %v", url, coll)
	}
	seen := map[string]bool{}
	for next := first; next != ""; {
		if seen[next] || len(pages) > 50 {
			t.Fatalf("outbox %s: paging loops at %s", url, next)
		}
		seen[next] = true
		page := mustAP(t, next)
		if page["type"] != "OrderedCollectionPage" || page["partOf"] != url {
			t.Fatalf("outbox page %s: %v", next, page)
		}
		raw, _ := page["orderedItems"].([]any)
		p := outboxPage{URL: next, Doc: page}
		for _, it := range raw {
			m, ok := it.(map[string]any)
			if !ok {
				t.Fatalf("outbox page %s: an item is not an embedded activity: %v", next, it)
			}
			p.Items = append(p.Items, m)
		}
		if len(p.Items) > 20 {
			t.Fatalf("outbox page %s has %d items", next, len(p.Items))
		}
		pages = append(pages, p)
		next, _ = page["next"].(string)
	}
	return int(n), pages
}

func publicEventIDs(t *testing.T, inst *instancetest.Instance, where string, args ...any) []string {
	t.Helper()
	rows, err := inst.Pool.Query(t.Context(), `SELECT id FROM events WHERE public AND `+where+` ORDER BY tx DESC, id DESC`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprintf("%s/ap/activities/%d", inst.URL, id))
	}
	return ids
}

// The Ortsweberei's outbox is every public event of the log, a resident's outbox what that
// resident did, each as its ActivityStreams form, newest first, in pages of 20; private
// events (a resident's move) are in neither.
func TestOutboxes(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	jana := inst.VerifiedResident("Jana Weber", lat, lon)
	ben := inst.VerifiedResident("Ben Zwirn", lat, lon)
	var last struct {
		ID    string `json:"id"`
		Faden struct {
			ID string `json:"id"`
		} `json:"faden"`
	}
	for i := range 11 {
		jana.Post("/api/knoten", map[string]any{"type": "idee", "title": fmt.Sprintf("Bank %d", i), "lat": lat, "lon": lon}).Expect(t, 201).JSON(t, &last)
	}
	ben.Post("/api/knoten", map[string]any{"type": "idee", "title": "Brunnen", "lat": lat, "lon": lon}).Expect(t, 201)
	// A move is private: the log says that she moved, and that stays off every outbox.
	jana.Patch("/api/me", map[string]any{"address": "Karl-Heine-Straße 1, 04229 Leipzig"}).Expect(t, 200)
	moved := inst.Count(`SELECT count(*) FROM events WHERE type = 'GarnrolleUmgezogen'`)
	if moved != 1 {
		t.Fatalf("the move should be one private event, found %d", moved)
	}
	var movedID int64
	if err := inst.Pool.QueryRow(t.Context(), `SELECT id FROM events WHERE type = 'GarnrolleUmgezogen'`).Scan(&movedID); err != nil {
		t.Fatal(err)
	}
	movedIRI := fmt.Sprintf("%s/ap/activities/%d", inst.URL, movedID)
	var janaID string
	if err := inst.Pool.QueryRow(t.Context(), `SELECT id::text FROM accounts WHERE handle = 'jana.weber'`).Scan(&janaID); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, url string
		want      []string
	}{
		{"Ortsweberei", inst.URL + "/ap/ortsweberei/outbox", publicEventIDs(t, inst, "true")},
		{"resident", inst.URL + "/ap/users/jana.weber/outbox", publicEventIDs(t, inst, "actor_id = $1", janaID)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.want) <= 20 {
				t.Fatalf("the test needs more than one page: %d events", len(c.want))
			}
			var total int
			var pages []outboxPage
			deadline := time.Now().Add(patience)
			for { // the outbox reads below the log's horizon, which other tests' transactions on the cluster hold back
				total, pages = walkOutbox(t, c.url)
				if total == len(c.want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if total != len(c.want) {
				t.Fatalf("totalItems %d, want %d", total, len(c.want))
			}
			var got []string
			for i, p := range pages {
				if _, hasNext := p.Doc["next"]; hasNext != (i < len(pages)-1) {
					t.Errorf("page %d of %d: next %v", i+1, len(pages), p.Doc["next"])
				}
				for _, it := range p.Items {
					id, _ := it["id"].(string)
					got = append(got, id)
					if id == movedIRI {
						t.Errorf("the private move is in the outbox: %v", it)
					}
					// The item is the event's ActivityStreams form, the same document its id serves.
					served := mustAP(t, id)
					delete(served, "@context")
					if !reflect.DeepEqual(served, it) {
						t.Errorf("outbox item %s differs from the activity at its id:\n%v\n%v", id, it, served)
					}
				}
			}
			if len(pages) < 2 || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%d pages; items, newest first:\n got %v\nwant %v", len(pages), got, c.want)
			}
			// Newest first: the last thing Jana did was her eleventh Knoten (its Faden, then
			// the Knoten itself, written in that order in one command).
			if c.name == "resident" {
				f, k := pages[0].Items[0], pages[0].Items[1]
				if f["type"] != "Create" || objectOf(f)["id"] != inst.URL+"/ap/faeden/"+last.Faden.ID || objectOf(f)["knoten"] != inst.URL+"/ap/knoten/"+last.ID {
					t.Errorf("newest item: %v", f)
				}
				if k["type"] != "Create" || objectOf(k)["name"] != "Bank 10" || k["actor"] != inst.URL+"/ap/users/jana.weber" {
					t.Errorf("second newest item: %v", k)
				}
			}
			for _, it := range pages[0].Items {
				if c.name == "resident" && it["actor"] != inst.URL+"/ap/users/jana.weber" {
					t.Errorf("someone else's activity in Jana's outbox: %v", it)
				}
			}
		})
	}
}
