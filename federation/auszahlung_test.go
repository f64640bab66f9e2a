package federation_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A payout is this Ortskonto's business: the Antrag that asks for it federates as before
// (amountCents, what it says it costs, included), but nothing of the payout goes out — not in
// the ActivityPub object, not in the outbox — and a neighbour's copy neither shows one nor,
// when the Antrag is accepted there too, creates one from the neighbour's Ortskonto.
func TestPayoutStaysWithItsOrtskonto(t *testing.T) {
	t.Parallel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	federate(t, a, b, patience)
	ada := a.VerifiedResident("Ada", 51.3362, 12.3363)
	const betrag = "424242" // a number that appears nowhere else
	an := fileAntrag(t, ada, map[string]any{"title": "Trinkbrunnen", "amount_cents": 250000, "betrag_cents": 424242})

	fetch := func(url string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Accept", "application/activity+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
		}
		return string(body)
	}
	obj := fetch(an.Fediverse.ID)
	if !strings.Contains(obj, "250000") {
		t.Fatalf("the object carries amountCents as before: %s", obj)
	}
	outbox := fetch(a.URL + "/ap/ortsweberei/outbox?page=true")
	for what, doc := range map[string]string{"the Antrag's object": obj, "the outbox": outbox} {
		if strings.Contains(doc, betrag) || strings.Contains(strings.ToLower(doc), "auszahlung") || strings.Contains(strings.ToLower(doc), "betrag") {
			t.Errorf("%s tells of the payout: %s", what, doc)
		}
	}

	remote := remoteAntrag(t, b, patience)
	for _, path := range []string{"/api/antraege", "/api/antraege/" + remote} {
		body := string(b.Client().Get(path).Expect(t, http.StatusOK).Body)
		if strings.Contains(body, betrag) || strings.Contains(body, `"auszahlung"`) {
			t.Errorf("the neighbour's %s shows a payout: %s", path, body)
		}
	}

	advance("7d", a, b)
	var decided struct {
		Status     string
		Auszahlung *struct{ Status string }
	}
	ada.Get("/api/antraege/"+an.ID).Expect(t, http.StatusOK).JSON(t, &decided)
	if decided.Status != "angenommen" || decided.Auszahlung == nil || decided.Auszahlung.Status != "bewilligt" {
		t.Fatalf("accepted at home, its payout approved there: %+v", decided)
	}
	waitFor(t, "the neighbour to hear of the acceptance", patience, func() bool {
		var r struct{ Status string }
		b.Client().Get("/api/antraege/"+remote).Expect(t, http.StatusOK).JSON(t, &r)
		return r.Status == "angenommen"
	})
	if n := b.Count(`SELECT count(*) FROM auszahlungen`) + b.Count(`SELECT count(*) FROM events WHERE type LIKE 'Auszahlung%'`); n != 0 {
		t.Fatalf("the neighbour made a payout of its own: %d rows and events", n)
	}
	if k := b.Count(`SELECT reserved_cents + paid_cents FROM ortskonto`); k != 0 {
		t.Fatalf("the neighbour's Ortskonto moved: %d", k)
	}
}
