package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// afterNextSlot moves the dev clock just past the next snapshot slot of kind (to just before
// it first, so that what else is due runs in its own move) and returns the snapshot taken.
func afterNextSlot(t *testing.T, inst *instancetest.Instance, kind string) snapshot.Record {
	t.Helper()
	now := inst.Clock.Now()
	slot, k := inst.Snapshots.Schedule().NextAfter(now)
	for k != kind {
		slot, k = inst.Snapshots.Schedule().NextAfter(slot)
	}
	if before := int(slot.Sub(now).Minutes()) - 1; before > 0 {
		inst.Advance(fmt.Sprintf("%dm", before))
	}
	inst.Advance(fmt.Sprintf("%dm", int(slot.Sub(inst.Clock.Now()).Minutes())+2))
	r, err := inst.Snapshots.Latest(context.Background(), kind)
	if err != nil || r.AsOf.Before(slot) {
		t.Fatalf("no %s snapshot at the slot %s: %+v, %v", kind, slot, r, err)
	}
	return r
}

// weltgewebe restore --from-snapshots DIR rebuilds an instance from another's snapshot
// directory (its full snapshot and the incremental after it) in a new cluster; it refuses to
// run again on the restored database; the restored instance serves the state, lists the
// restored snapshots and continues their chain with its next snapshot.
func TestRestoreFromSnapshotsContinuesTheChain(t *testing.T) {
	ctx := context.Background()
	old := instancetest.Start(t, instancetest.Options{Name: "Connewitz"})
	rita := old.VerifiedResident("Rita Rückkehr", 51.3201, 12.3802)
	full := afterNextSlot(t, old, snapshot.KindFull)
	rita.Post("/api/knoten", map[string]any{"type": "idee", "title": "Nach der Nacht", "description": "", "lat": 51.3210, "lon": 12.3810}).
		Expect(t, http.StatusCreated)
	inc := afterNextSlot(t, old, snapshot.KindIncremental)
	if inc.Base != full.Hash {
		t.Fatalf("incremental %+v not on the full %s", inc, full.Hash)
	}
	pub, err := snapshot.NewKeys(old.Pool, old.Clock).Public(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(reachableTempDir(t), "data")
	args := []string{"restore", "--from-snapshots", old.Snapshots.Dir(), "--key", proof.EncodeMultikey(pub), "--data-dir", data}
	var out bytes.Buffer
	if err := run(ctx, args, &out, &out); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), inc.Hash) {
		t.Errorf("restore did not restore up to the incremental %s:\n%s", inc.Hash, out.String())
	}
	if err := run(ctx, args, &out, &out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second restore into the restored database: %v, want a refusal", err)
	}
	// A wrong key: refused before the database is touched.
	other := filepath.Join(reachableTempDir(t), "data")
	bad := []string{"restore", "--from-snapshots", old.Snapshots.Dir(), "--key", "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "--data-dir", other}
	if err := run(ctx, bad, &out, &out); err == nil {
		t.Errorf("a restore with another key succeeded")
	}

	// The resident gets her login back from an admin; only once.
	reclaim := []string{"admin", "reclaim", "--email", "rita@example.org", "--password", "Zurück im Gewebe 2027", "--data-dir", data, rita.ID}
	if err := run(ctx, reclaim, &out, &out); err != nil {
		t.Fatalf("admin reclaim: %v\n%s", err, out.String())
	}
	if err := run(ctx, reclaim, &out, &out); err == nil {
		t.Errorf("a second reclaim of the same account succeeded")
	}

	// The same from the old instance's /snapshots/ index over HTTP, the key taken from its actor.
	viaURL := filepath.Join(reachableTempDir(t), "data")
	out.Reset()
	if err := run(ctx, []string{"restore", "--from-snapshots", old.URL + "/snapshots/", "--data-dir", viaURL}, &out, &out); err != nil {
		t.Errorf("restore from %s/snapshots/: %v\n%s", old.URL, err, out.String())
	} else if !strings.Contains(out.String(), inc.Hash) {
		t.Errorf("restore from the index did not restore up to the incremental %s:\n%s", inc.Hash, out.String())
	}

	restored := instancetest.Start(t, instancetest.Options{DataDir: data, SnapshotDir: filepath.Join(data, "snapshots")})
	var list struct {
		Knoten []struct{ Title string } `json:"knoten"`
	}
	restored.Client().Get("/api/knoten?bbox=12.37,51.31,12.39,51.33").Expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Knoten) != 1 || list.Knoten[0].Title != "Nach der Nacht" {
		t.Errorf("the restored instance's map: %+v", list.Knoten)
	}
	res := restored.Client().Post("/api/auth/login", map[string]any{"email": rita.Email, "password": instancetest.ResidentPassword})
	if res.Status != http.StatusUnauthorized {
		t.Errorf("login with the old instance's e-mail and password: %d", res.Status)
	}
	restored.Client().Post("/api/auth/login", map[string]any{"email": "rita@example.org", "password": "Zurück im Gewebe 2027"}).
		Expect(t, http.StatusOK)
	recs, err := restored.Snapshots.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]snapshot.Record{}
	for _, r := range recs {
		hashes[r.Hash] = r
	}
	if _, ok := hashes[full.Hash]; !ok {
		t.Errorf("the restored instance does not list the restored full snapshot %s: %+v", full.Hash, recs)
	}
	if _, ok := hashes[inc.Hash]; !ok {
		t.Errorf("the restored instance does not list the restored incremental %s: %+v", inc.Hash, recs)
	}
	// The chain goes on from the restored one: the restored instance's first snapshot (the
	// full one it takes at start, its slot not taken yet) names the last restored as previous.
	// (Its as_of lies before the restored ones' here only because a test's dev clock starts at
	// the real time while the old instance's had been moved on.)
	continued := false
	for _, r := range recs {
		continued = continued || r.Previous == inc.Hash
	}
	if !continued {
		t.Errorf("no snapshot of the restored instance continues the chain from %s: %+v", inc.Hash, recs)
	}
}
