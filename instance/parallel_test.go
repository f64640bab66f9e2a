package instance_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Twenty parallel first votes of one resident are one Stimme, one event, and twenty clean
// answers; the other first-time writes hold the same way: one takes effect, the rest get a
// clean answer, nobody a 500.
func TestParallelFirstWrites(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.VerifiedResident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	cara := inst.VerifiedResident("Cara", lat, lon)
	admin := inst.Admin()
	_, abstimmung := toVote(t, inst, ada, ben, "Parallel")
	neu := inst.Resident("Neu", lat, lon)
	k := place(t, cara, "Bank")
	offen := fileAntrag(t, ada, "Offen")
	zurueck := fileAntrag(t, cara, "Zurückzuziehen")

	const n = 20
	parallel := func(name string, do func() *instancetest.Response, okStatus int, conflict string) map[int]int {
		t.Helper()
		var wg sync.WaitGroup
		start := make(chan struct{})
		res := make([]*instancetest.Response, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res[i] = do()
			}()
		}
		close(start)
		wg.Wait()
		statuses := map[int]int{}
		for _, r := range res {
			statuses[r.Status]++
			if r.Status != okStatus && !(r.Status == http.StatusConflict && r.ErrorCode() == conflict) {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		return statuses
	}

	vote := func(choice string) func() *instancetest.Response {
		return func() *instancetest.Response {
			return cara.Post("/api/abstimmungen/"+abstimmung+"/vote", map[string]string{"choice": choice})
		}
	}
	if s := parallel("first vote", vote("yes"), http.StatusOK, ""); s[http.StatusOK] != n {
		t.Errorf("first votes: %v, want %d × 200", s, n)
	}
	if got := eventsOfType(inst, "StimmeAbgegeben", abstimmung); got != 1 {
		t.Errorf("%d StimmeAbgegeben events, want 1", got)
	}
	if got := inst.Count(`SELECT count(*) FROM stimmen_verlauf WHERE abstimmung_id = $1 AND account_id = $2`, abstimmung, cara.ID); got != 1 {
		t.Errorf("%d history entries, want 1", got)
	}
	if v := getAbstimmung(t, cara, abstimmung); v.Tally.Yes != 1 || len(v.Votes) != 1 {
		t.Errorf("tally %+v, votes %d", v.Tally, len(v.Votes))
	}
	// A first vote of another resident racing its own changes: still one Stimme, and every
	// answer clean; the history holds one entry per change that took effect.
	var turn atomic.Int32
	parallel("first vote and changes", func() *instancetest.Response {
		choice := []string{"yes", "no", "abstain"}[turn.Add(1)%3]
		return ben.Post("/api/abstimmungen/"+abstimmung+"/vote", map[string]string{"choice": choice})
	}, http.StatusOK, "")
	if got := eventsOfType(inst, "StimmeAbgegeben", abstimmung); got != 2 {
		t.Errorf("%d StimmeAbgegeben events, want 2", got)
	}
	if got, changes := inst.Count(`SELECT count(*) FROM stimmen_verlauf WHERE abstimmung_id = $1 AND account_id = $2`, abstimmung, ben.ID),
		eventsOfType(inst, "StimmeGeaendert", abstimmung); got != 1+changes {
		t.Errorf("%d history entries for %d changes", got, changes)
	}

	check := func(name string, s map[int]int, ok int, events string, subject string) {
		t.Helper()
		if s[ok] != 1 {
			t.Errorf("%s: %v, want one %d", name, s, ok)
		}
		if got := eventsOfType(inst, events, subject); got != 1 {
			t.Errorf("%s: %d %s events, want 1", name, got, events)
		}
	}
	check("twist", parallel("twist", func() *instancetest.Response { return cara.Post("/api/faeden/"+k.Faden.ID+"/twist", nil) },
		http.StatusOK, "already_twisted"), http.StatusOK, "FadenVerzwirnt", k.Faden.ID)
	check("verify", parallel("verify", func() *instancetest.Response { return admin.Post("/api/admin/accounts/"+neu.ID+"/verify", nil) },
		http.StatusOK, "already_verified"), http.StatusOK, "GarnrolleVerifiziert", neu.ID)
	check("einspruch", parallel("einspruch", func() *instancetest.Response {
		return cara.Post("/api/antraege/"+offen.ID+"/einspruch", map[string]string{"reason": "Nein"})
	}, http.StatusCreated, "already_objected"), http.StatusCreated, "EinspruchErhoben", offen.ID)
	check("withdraw", parallel("withdraw", func() *instancetest.Response { return cara.Post("/api/antraege/"+zurueck.ID+"/withdraw", nil) },
		http.StatusOK, "antrag_not_open"), http.StatusOK, "AntragZurueckgezogen", zurueck.ID)
	// Residents of the same name registering at once each get a handle of their own.
	var seq atomic.Int32
	s := parallel("registration", func() *instancetest.Response {
		return inst.Client().Post("/api/auth/register", map[string]any{"name": "Jana Weber", "address": "Lützner Straße 1",
			"lat": lat, "lon": lon, "email": fmt.Sprintf("jana%d@example.org", seq.Add(1)), "password": "correct horse battery"})
	}, http.StatusAccepted, "")
	if s[http.StatusAccepted] != n || inst.Count(`SELECT count(DISTINCT handle) FROM accounts WHERE name = 'Jana Weber'`) != n {
		t.Errorf("registrations: %v, %d handles", s, inst.Count(`SELECT count(DISTINCT handle) FROM accounts WHERE name = 'Jana Weber'`))
	}
	s = parallel("delegation", func() *instancetest.Response {
		return ada.Post("/api/delegationen", map[string]string{"to_account_id": cara.ID})
	}, http.StatusCreated, "already_delegated")
	if s[http.StatusCreated] != 1 || inst.Count(`SELECT count(*) FROM delegationen WHERE from_id = $1`, ada.ID) != 1 {
		t.Errorf("delegation: %v, %d rows", s, inst.Count(`SELECT count(*) FROM delegationen WHERE from_id = $1`, ada.ID))
	}
}
