package instance_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A search of thousands of words (a 15 KB URL) took the database minutes, and four of them
// slowed every read tenfold. It is refused before it reaches the database; an ordinary search
// still finds parts of compounds.
func TestHostileSearchIsRefused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	c := inst.VerifiedResident("Jana", 51.3362, 12.3363)
	c.Post("/api/knoten", map[string]any{"type": "einrichtung", "title": "Gemeinschaftsgarten", "lat": 51.3338, "lon": 12.3312}).Expect(t, 201)
	words := make([]string, 2500)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	for q, code := range map[string]string{
		strings.Join(words, " "):                          "search_too_long",
		"eins zwei drei vier fünf sechs sieben acht neun": "too_many_search_words",
	} {
		res := inst.Client().Get("/api/knoten?" + url.Values{"q": {q}}.Encode())
		if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != code {
			t.Errorf("a search of %d bytes: %d %s, want 422 %s", len(q), res.Status, res.Body, code)
		}
	}
	var list struct{ Knoten []struct{ Title string } }
	inst.Client().Get("/api/knoten?q=garten").Expect(t, 200).JSON(t, &list)
	if len(list.Knoten) != 1 || list.Knoten[0].Title != "Gemeinschaftsgarten" {
		t.Errorf("q=garten: %+v, want the Gemeinschaftsgarten", list.Knoten)
	}
}
