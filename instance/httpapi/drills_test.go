package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/drill"
)

// The drill log is public: the list newest first, each report by its name, and nothing else
// in or outside the directory by any other name.
func TestDrillLog(t *testing.T) {
	dir := t.TempDir()
	for i, passed := range []bool{true, false, true} {
		started := time.Date(2026, 10+time.Month(i), 1, 3, 0, 0, 0, time.UTC)
		r := &drill.Report{Name: started.Format(drill.NameLayout), Started: started, Passed: passed, RestoreSeconds: float64(10 + i),
			Tables: []drill.TableResult{{Name: "sessions", SourceRows: 42, RestoredRows: 42, Equal: true}}}
		if err := r.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Deps{Drills: &drill.Reports{Dir: dir}})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/api/betrieb/drills")
	var list []drill.Summary
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 3 {
		t.Fatalf("list: %d %s", code, body)
	}
	if list[0].Name != "20261201T030000Z" || !list[0].Passed || list[1].Passed || list[2].Name != "20261001T030000Z" || list[2].RestoreSeconds != 10 {
		t.Fatalf("list not newest first: %+v", list)
	}
	code, body = get("/api/betrieb/drills/20261101T030000Z")
	var r drill.Report
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil || r.Passed || r.RestoreSeconds != 11 {
		t.Fatalf("report: %d %s", code, body)
	}
	// Which tables matched is public; how many sessions a town has is not.
	if len(r.Tables) != 1 || r.Tables[0].Name != "sessions" || !r.Tables[0].Equal || strings.Contains(body, "42") {
		t.Fatalf("report's tables: %s", body)
	}
	// Nor does a failed drill's list of differences tell it, or its error the server's log.
	failed := &drill.Report{Name: "20261215T030000Z", Error: "restore: recovery failed\nPostgreSQL said:\nFATAL: secret detail",
		Differences: []drill.Difference{{What: "table", Name: "sessions", Detail: "4711 rows, the source had 4712"},
			{What: "missing table", Name: "mails", Detail: "the source had 4713 rows"},
			{What: "extra table", Name: "failed_logins", Detail: "4714 rows the source did not have"}}}
	if err := failed.Write(dir); err != nil {
		t.Fatal(err)
	}
	code, body = get("/api/betrieb/drills/20261215T030000Z")
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil || len(r.Differences) != 3 || r.Differences[1].Name != "mails" {
		t.Fatalf("failed report: %d %s", code, body)
	}
	for _, secret := range []string{"4711", "4712", "4713", "4714", "secret detail"} {
		if strings.Contains(body, secret) {
			t.Errorf("the published report tells %q: %s", secret, body)
		}
	}
	for _, name := range []string{"20261101T030000", "..%2F..%2Fetc%2Fpasswd", "20261101T030000Z.json", "x"} {
		if code, body := get("/api/betrieb/drills/" + name); code != 404 || !strings.Contains(body, "drill_not_found") {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
}
