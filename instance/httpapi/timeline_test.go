package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/timeline"
)

// The timeline's answer, written directly, is byte for byte what respond.JSON wrote for the map
// it was before: objects as PostgreSQL's jsonb text gives them (a space after every colon and
// comma, also inside strings, which stay as they are), as encoding/json gives them (HTML
// characters escaped, sorted keys), with escapes and non-ASCII text in strings; empty sections;
// no Ortskonto and one.
func TestTimelineJSONAsEncodingJSON(t *testing.T) {
	objs := map[string][]json.RawMessage{
		"knoten": {
			json.RawMessage(`{"id": "k1", "lat": 51.3, "lon": 12.4, "title": "Bänke, Tische: \"alle\" \\ hier", "dissolved_at": null, "tags": [1, 2, {"a": [ ]}]}`),
			json.RawMessage(`{"id":"k2","title":"a \u003c b \u0026 c","x":[true,false]}`),
		},
		"faeden":     {json.RawMessage("{\n\t\"id\" : \"f1\" ,\r\n \"account_name\": \"Gerda <g@x>\"\n}")},
		"garnrollen": {},
		"antraege":   {json.RawMessage(`{"id": "a1", "details_md": "Eine **Bank**\\n am Markt.", "knoten_id": null}`)},
	}
	for _, konto := range []json.RawMessage{nil, json.RawMessage(`{"id": "ortskonto", "balance_cents": 1250, "position": {"lat": 51.3, "lon": 12.4}}`)} {
		st := timeline.State{
			AsOf:      time.Date(2026, 11, 14, 22, 59, 59, 999999000, time.UTC),
			Source:    timeline.SourceInfo{Snapshot: "ab12", SnapshotAsOf: time.Date(2026, 11, 14, 19, 0, 0, 0, time.UTC), EventsReplayed: 3000, Exact: true},
			Objects:   objs,
			Ortskonto: konto,
		}
		// What the handler wrote before.
		out := map[string]any{
			"as_of":     st.AsOf.Format(time.RFC3339Nano),
			"date":      "2026-11-14",
			"source":    st.Source,
			"ortskonto": st.Ortskonto,
		}
		for _, sec := range timeline.Sections {
			o := st.Objects[sec]
			if o == nil {
				o = []json.RawMessage{}
			}
			out[sec] = o
		}
		w := httptest.NewRecorder()
		respond.JSON(w, 200, out)
		if got, want := string(timelineJSON(st, "2026-11-14")), w.Body.String(); got != want {
			t.Errorf("written directly:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}
