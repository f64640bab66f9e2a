package instance_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

type wortliste struct {
	Words []string `json:"words"`
	Hold  []string `json:"hold"`
}

// The word list is the admins': nobody else reads or changes it (401 without a session, 403
// for residents, verified or not, and for the treasurer), and a refused change changes
// nothing. An admin's list comes back as stored (trimmed, without repeats); lists out of
// bounds are refused with a code the app words; a change through one process applies on
// another.
func TestWortfilterAPI(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	replica := instancetest.Start(t, instancetest.Options{ReplicaOf: inst})
	admin := inst.Admin()
	ada := inst.Resident("Ada", lat, lon)
	ben := inst.VerifiedResident("Ben", lat, lon)
	kasse := inst.VerifiedResident("Kasse", lat, lon)
	admin.Do("PUT", "/api/admin/accounts/"+kasse.ID+"/roles/kassenwart", nil).Expect(t, http.StatusOK)

	var empty wortliste
	admin.Get("/api/admin/wortfilter").Expect(t, http.StatusOK).JSON(t, &empty)
	if empty.Words == nil || empty.Hold == nil || len(empty.Words)+len(empty.Hold) != 0 {
		t.Fatalf("the list at first: %+v, want two empty arrays", empty)
	}

	list := map[string][]string{"words": {" Arsch ", "*idiot*", "arsch"}, "hold": {"Mist"}}
	inst.Client().Get("/api/admin/wortfilter").Expect(t, http.StatusUnauthorized)
	inst.Client().Do("PUT", "/api/admin/wortfilter", list).Expect(t, http.StatusUnauthorized)
	for who, c := range map[string]*instancetest.Client{"a resident": ada, "a verified resident": ben, "the treasurer": kasse} {
		if code := c.Get("/api/admin/wortfilter").Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
			t.Errorf("GET by %s: %q", who, code)
		}
		if code := c.Do("PUT", "/api/admin/wortfilter", list).Expect(t, http.StatusForbidden).ErrorCode(); code != "admin_required" {
			t.Errorf("PUT by %s: %q", who, code)
		}
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'WortfilterGeaendert'`); n != 0 {
		t.Fatalf("refused changes recorded %d events", n)
	}

	var stored wortliste
	admin.Do("PUT", "/api/admin/wortfilter", list).Expect(t, http.StatusOK).JSON(t, &stored)
	want := wortliste{Words: []string{"Arsch", "*idiot*"}, Hold: []string{"Mist"}}
	if !slices.Equal(stored.Words, want.Words) || !slices.Equal(stored.Hold, want.Hold) {
		t.Fatalf("PUT answered %+v, want %+v", stored, want)
	}
	var got wortliste
	admin.On(replica).Get("/api/admin/wortfilter").Expect(t, http.StatusOK).JSON(t, &got)
	if !slices.Equal(got.Words, want.Words) || !slices.Equal(got.Hold, want.Hold) {
		t.Fatalf("GET through the replica: %+v, want %+v", got, want)
	}
	if v := inst.Wortfilter.Check("Du Vollidiot"); v != (moderation.Verdict{Action: moderation.ActionBlock, Word: "*idiot*"}) {
		t.Errorf("the process that took the change checks %+v", v)
	}
	instancetest.WaitFor(t, "the replica to hold with the new list", func() bool {
		return replica.Wortfilter.Check("So ein Mist") == moderation.Verdict{Action: moderation.ActionHold, Word: "Mist"}
	})

	// Out of bounds; each refusal leaves the list as it was.
	tooMany := make([]string, wortfilter.MaxEntries+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("wort%d", i)
	}
	huge := strings.Repeat("a", httpapi.MaxWortfilterBytes)
	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string][]string{"words": tooMany, "hold": {}}, http.StatusUnprocessableEntity, "wortfilter_too_many"},
		{map[string][]string{"words": {"ok", ""}, "hold": {}}, http.StatusUnprocessableEntity, "wortfilter_entry_length"},
		{map[string][]string{"words": {strings.Repeat("ä", wortfilter.MaxEntryLength+1)}, "hold": {}}, http.StatusUnprocessableEntity, "wortfilter_entry_length"},
		{map[string][]string{"words": {}, "hold": {"f*ck"}}, http.StatusUnprocessableEntity, "wortfilter_entry_star"},
		{map[string][]string{"words": {"?!"}, "hold": {}}, http.StatusUnprocessableEntity, "wortfilter_entry_no_word"},
		{map[string][]string{"words": {"a\u0007b"}, "hold": {}}, http.StatusUnprocessableEntity, "wortfilter_entry_invalid"},
		{map[string][]string{"words": {"arsch"}}, http.StatusUnprocessableEntity, "missing_field"},
		{`{"words": ["arsch"], "hold": null}`, http.StatusUnprocessableEntity, "missing_field"},
		{`{"words": ["arsch", 5], "hold": []}`, http.StatusBadRequest, "invalid_field_type"},
		{`{"words": [], "hold": [], "block": []}`, http.StatusBadRequest, "unknown_field"},
		{`{"words": ["` + huge + `"], "hold": []}`, http.StatusRequestEntityTooLarge, "body_too_large"},
	} {
		res := admin.Do("PUT", "/api/admin/wortfilter", c.body)
		if res.Status != c.status || res.ErrorCode() != c.code {
			t.Errorf("PUT %.80v: %d %q, want %d %q", c.body, res.Status, res.ErrorCode(), c.status, c.code)
		}
	}
	admin.Get("/api/admin/wortfilter").Expect(t, http.StatusOK).JSON(t, &got)
	if !slices.Equal(got.Words, want.Words) || !slices.Equal(got.Hold, want.Hold) {
		t.Fatalf("after the refused changes: %+v, want %+v", got, want)
	}

	// A full list of the longest entries is taken, and the list can be emptied again.
	full := make([]string, wortfilter.MaxEntries)
	for i := range full {
		full[i] = fmt.Sprintf("%0*d", wortfilter.MaxEntryLength, i)
	}
	admin.Do("PUT", "/api/admin/wortfilter", map[string][]string{"words": full[:9000], "hold": full[9000:]}).Expect(t, http.StatusOK)
	if v := inst.Wortfilter.Check(full[9999]); v.Action != moderation.ActionHold {
		t.Errorf("the last entry of a full list: %+v", v)
	}
	admin.Do("PUT", "/api/admin/wortfilter", map[string][]string{"words": {}, "hold": {}}).Expect(t, http.StatusOK).JSON(t, &got)
	if len(got.Words)+len(got.Hold) != 0 || inst.Wortfilter.Check("Du Arsch").Action != "" {
		t.Errorf("emptied: %+v, checks %+v", got, inst.Wortfilter.Check("Du Arsch"))
	}
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'WortfilterGeaendert' AND NOT public`); n != 3 {
		t.Errorf("%d private WortfilterGeaendert events, want 3 (set, full, emptied)", n)
	}
}
