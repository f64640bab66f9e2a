package federation_test

import (
	"context"
	"net/http"
	"sort"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/gtspeer"
)

// A new Antrag costs each server one signed POST, the one it uses. A GoToSocial user follows
// the Ortsweberei and a neighbouring Ortsweberei is federated with it: GoToSocial gets the
// Group's Announce (a Create from the Antrag's actor, whom nobody there follows, it would
// drop, answering 202), the neighbour gets the Create that carries the Antrag (and no
// Announce, which would only make it fetch the same Antrag again). Both go on to take what
// happens to it: the withdrawal, an Update, reaches both.
func TestNewAntragSendsEachServerWhatItUses(t *testing.T) {
	t.Parallel()
	a := startTLS(t, "127.0.0.35")
	b := startTLS(t, "127.0.0.36")
	federate(t, a, b, patience)
	peer := gtspeer.Start(t, "127.0.0.37", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	follow, err := peer.Follow(ctx, a.URL+"/ap/ortsweberei")
	if err != nil {
		t.Fatalf("vera follows the Ortsweberei: %v", err)
	}
	peer.WaitAccepted(t, follow, patience)
	jana := a.VerifiedResident("Jana Weber", lat, lon)

	antrag := fileAntrag(t, jana, map[string]string{"title": "Trinkbrunnen am Markt"})
	if st := peer.WaitStatus(t, antrag.Fediverse.ID, patience, nil); !st.Boosted {
		t.Errorf("the Antrag reached GoToSocial other than through the Announce: %+v", st)
	}
	remoteStatus := func() string {
		var status string
		_ = b.Pool.QueryRow(ctx, `SELECT status FROM remote_antraege WHERE iri = $1`, antrag.Fediverse.ID).Scan(&status)
		return status
	}
	waitFor(t, "the neighbour to keep the Antrag", patience, func() bool { return remoteStatus() != "" })
	waitDelivered(t, a)

	// What was queued for each server, by activity type.
	rows, err := a.Pool.Query(ctx, `
SELECT j.args->>'host', o.body->>'type'
FROM river_job j JOIN ap_outgoing o ON o.id = (j.args->>'outgoing')::bigint
WHERE j.kind = 'federation_deliver' AND o.body->>'type' IN ('Create', 'Announce')`)
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string][]string{}
	for rows.Next() {
		var host, typ string
		if err := rows.Scan(&host, &typ); err != nil {
			t.Fatal(err)
		}
		sent[host] = append(sent[host], typ)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for host := range sent {
		sort.Strings(sent[host])
	}
	if got := sent[peer.Host()]; len(got) != 1 || got[0] != "Announce" {
		t.Errorf("GoToSocial was sent %v for the new Antrag, want only the Announce", got)
	}
	if got := sent[hostPort(b.URL)]; len(got) != 1 || got[0] != "Create" {
		t.Errorf("the neighbour was sent %v for the new Antrag, want only the Create", got)
	}
	for _, d := range peer.Drops() {
		t.Errorf("GoToSocial dropped %s %s: %s", d.Type, d.ActivityID, d.Reason)
	}

	jana.Post("/api/antraege/"+antrag.ID+"/withdraw", nil).Expect(t, http.StatusOK)
	waitFor(t, "the neighbour to take the withdrawal", patience, func() bool { return remoteStatus() == "zurueckgezogen" })
	waitDelivered(t, a)
	updates := 0
	for _, r := range peer.Received() {
		if r.Activity["type"] == "Update" && objectOf(r.Activity)["id"] == antrag.Fediverse.ID {
			updates++
		}
	}
	if updates == 0 {
		t.Errorf("GoToSocial got no Update of the withdrawn Antrag")
	}
	for _, d := range peer.Drops() {
		t.Errorf("GoToSocial dropped %s %s: %s", d.Type, d.ActivityID, d.Reason)
	}
}

func hostPort(u string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	return u
}
