package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// `weltgewebe snapshot verify` accepts an Ortsweberei's snapshot as its neighbour mirrors it,
// after the Ortsweberei's own server is gone, with the key the neighbour's index names (the one
// it verified the file with); without the key it cannot, since the actor is gone too.
func TestSnapshotVerifyFromAMirror(t *testing.T) {
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	waitRows := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second) // a safety net: the loop waits for the rows
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	a.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": b.URL}).Expect(t, http.StatusAccepted)
	waitRows("the two to follow each other", func() bool {
		return a.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1 && b.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1
	})
	b.Advance("24h")
	a.Advance("24h") // past the next 02:00: Lindenau takes the day's full snapshot and announces it
	var hash string
	if err := a.Pool.QueryRow(context.Background(), `SELECT hash FROM snapshots WHERE kind = 'full' ORDER BY as_of DESC LIMIT 1`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.URL, "http://")
	waitRows("Plagwitz to mirror it", func() bool {
		return b.Count(`SELECT count(*) FROM snapshot_mirrors WHERE origin = $1 AND hash = $2`, host, hash) == 1
	})
	a.Stop()

	// The key the neighbour verified the file with, from its index: all a checker needs.
	var idx struct {
		Snapshots []struct {
			Hash      string
			PublicKey string `json:"public_key"`
		}
	}
	b.Client().Get("/mirrors/"+host+"/snapshots/").Expect(t, http.StatusOK).JSON(t, &idx)
	key := ""
	for _, e := range idx.Snapshots {
		if e.Hash == hash {
			key = e.PublicKey
		}
	}
	if !strings.HasPrefix(key, "z6Mk") {
		t.Fatalf("Plagwitz's index names no key for %s: %+v", hash, idx)
	}

	url := b.URL + "/mirrors/" + host + "/snapshots/" + hash + ".json.gz"
	out, err := runVerify(url, "--key", key)
	if err != nil || !strings.Contains(out, hash) || !strings.Contains(out, "OK") {
		t.Fatalf("verify the mirrored snapshot: %v\n%s", err, out)
	}
	if out, err := runVerify(url); err == nil {
		t.Fatalf("verified without a key while its actor is gone:\n%s", out)
	}
}
