package federation

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/federation/internal/delivery"
	"github.com/weltgewebe/weltgewebe/federation/internal/forward"
	"github.com/weltgewebe/weltgewebe/federation/internal/inbox"
	"github.com/weltgewebe/weltgewebe/federation/internal/mirror"
	"github.com/weltgewebe/weltgewebe/federation/internal/publish"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// The names that outlive a process: River jobs in flight (kind, queue, args JSON) are picked
// up by the next version after an upgrade, the delivery follower's cursor is stored under its
// consumer name, its advisory lock keeps replicas apart only if every version takes the same
// one, and federation's events stay in the log under their names, versions and payload tags.
// Moving code between packages must change none of them; a change here needs a migration of
// the jobs, cursors or events, not an edit of this test.
func TestPersistedNames(t *testing.T) {
	if got := (inbox.Args{}).Kind(); got != "federation_inbox" {
		t.Errorf("inbox job kind %q", got)
	}
	if got := (delivery.Args{}).Kind(); got != "federation_deliver" {
		t.Errorf("delivery job kind %q", got)
	}
	if got := (mirror.Args{}).Kind(); got != "federation_mirror_snapshot" {
		t.Errorf("mirror job kind %q", got)
	}
	if got := (forward.Args{}).Kind(); got != "federation_forward_flag" {
		t.Errorf("forward job kind %q", got)
	}
	for _, c := range []struct {
		args any
		want string
	}{
		{inbox.Args{ActivityIDs: []string{"https://x.example/a"}}, `{"activity_ids":["https://x.example/a"]}`},
		{delivery.Args{Outgoing: 7, Host: "x.example", Inboxes: []string{"https://x.example/inbox"}, Tries: 2},
			`{"outgoing":7,"host":"x.example","inboxes":["https://x.example/inbox"],"tries":2}`},
		{delivery.Args{Outgoing: 7, Host: "x.example", Inboxes: []string{"https://x.example/inbox"}},
			`{"outgoing":7,"host":"x.example","inboxes":["https://x.example/inbox"]}`},
		{forward.Args{Report: uuid.MustParse("01a24523-9b03-769e-ae3f-6ff05a327fc3"), Targets: []string{"https://x.example/users/a"}, Comment: "c"},
			`{"report":"01a24523-9b03-769e-ae3f-6ff05a327fc3","targets":["https://x.example/users/a"],"comment":"c"}`},
	} {
		b, err := json.Marshal(c.args)
		if err != nil || string(b) != c.want {
			t.Errorf("%T marshals to %s (%v), jobs in flight hold %s", c.args, b, err, c.want)
		}
	}
	var queues []string
	for q := range Queues() {
		queues = append(queues, q)
	}
	slices.Sort(queues)
	if want := []string{"federation_delivery", "federation_inbox", "federation_mirror"}; !slices.Equal(queues, want) {
		t.Errorf("queues %v, want %v", queues, want)
	}
	if inbox.Queue != "federation_inbox" || delivery.Queue != "federation_delivery" || mirror.Queue != "federation_mirror" {
		t.Errorf("jobs are inserted into %q, %q and %q", inbox.Queue, delivery.Queue, mirror.Queue)
	}
	if publish.Consumer != "federation-delivery" {
		t.Errorf("the delivery cursor is stored as %q", publish.Consumer)
	}
	if publish.Lock != 0x77676465 {
		t.Errorf("the delivery follower's advisory lock is %#x", publish.Lock)
	}

	// The event types the delivery follower reads: a renamed type would silently stop
	// federating.
	types := slices.Clone(publish.Types())
	slices.Sort(types)
	if got, want := strings.Join(types, " "), "AbstimmungEroeffnet AbstimmungGeschlossen AntragAbgelehnt AntragAngenommen "+
		"AntragFristVerlaengert AntragGestellt AntragVerborgen AntragZurAbstimmung AntragZurueckgezogen DelegationAbgelaufen DelegationBeendet "+
		"DelegationWirksam EinspruchErhoben EinspruchVerborgen StimmeAbgegeben StimmeGeaendert StreamBeendet StreamGestartet"; got != want {
		t.Errorf("delivered types\n got %s\nwant %s", got, want)
	}

	// Federation's own events: name, version, visibility and payload JSON tags.
	want := map[string]string{
		"FolgerHinzugefuegt/v1": "private local,follower",
		"FolgerEntfernt/v1":     "private local,follower",
		"NachbarAngefragt/v1":   "private neighbour,follow_id",
		"DomainGesperrt/v1":     "private domain",
		"DomainEntsperrt/v1":    "private domain",
	}
	got := map[string]string{}
	for _, m := range eventstore.Kinds() {
		key := fmt.Sprintf("%s/v%d", m.Name, m.Version)
		if _, ours := want[key]; !ours {
			continue
		}
		vis := "private"
		if m.Public {
			vis = "public"
		}
		var tags []string
		for i := range m.Payload.NumField() {
			tags = append(tags, strings.Split(m.Payload.Field(i).Tag.Get("json"), ",")[0])
		}
		got[key] = vis + " " + strings.Join(tags, ",")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("federation's event kinds\n got %v\nwant %v", got, want)
	}
}
