package instance_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

type snapshotIndex struct {
	Instance  string `json:"instance"`
	Key       string `json:"key"`
	Snapshots []struct {
		Date      string    `json:"date"`
		Kind      string    `json:"kind"`
		AsOf      time.Time `json:"as_of"`
		Hash      string    `json:"hash"`
		Previous  *string   `json:"previous"`
		Base      *string   `json:"base"`
		Bytes     int64     `json:"bytes"`
		URL       string    `json:"url"`
		Signature string    `json:"signature"`
	} `json:"snapshots"`
}

func berlinZone(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// What a neighbour or a resident with a script does: read the index, fetch a snapshot and its
// signature, take the key from the Ortsweberei's actor, and check the document, its proof and
// the detached signature with nothing else. The files are immutable for caches; a name that is
// not exactly a recorded snapshot's is a 404 in the API's error format, whatever it tries.
func TestSnapshotsServedAndCheckedWithTheActorsKey(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{SnapshotSchedule: snapshot.Schedule{Location: berlinZone(t)}})
	c := inst.Client()

	var idx snapshotIndex
	c.Get("/snapshots/").Expect(t, http.StatusOK).JSON(t, &idx)
	if len(idx.Snapshots) != 1 { // the start made up the last night's full snapshot
		t.Fatalf("index after start: %+v", idx)
	}
	e := idx.Snapshots[0]
	actorID := inst.Federation.GroupIRI()
	if idx.Instance != actorID || idx.Key != actorID+"#snapshot-key" || e.Kind != snapshot.KindFull || e.Previous != nil ||
		e.Base != nil || e.URL != "/snapshots/"+e.Hash+".json.gz" || e.Signature != "/snapshots/"+e.Hash+".sig" ||
		e.Date != e.AsOf.In(berlinZone(t)).Format(time.DateOnly) {
		t.Fatalf("index entry: %+v (instance %s, key %s)", e, idx.Instance, idx.Key)
	}

	file := c.Get(e.URL).Expect(t, http.StatusOK)
	for h, want := range map[string]string{"Content-Type": "application/gzip", "ETag": `"` + e.Hash + `"`,
		"Cache-Control": "public, max-age=31536000, immutable"} {
		if got := file.Header.Get(h); got != want {
			t.Errorf("%s: %s %q, want %q", e.URL, h, got, want)
		}
	}
	if int64(len(file.Body)) != e.Bytes {
		t.Errorf("%s: %d bytes, the index says %d", e.URL, len(file.Body), e.Bytes)
	}
	sigRes := c.Get(e.Signature).Expect(t, http.StatusOK)
	if ct := sigRes.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || sigRes.Header.Get("ETag") != `"`+e.Hash+`"` {
		t.Errorf("%s: Content-Type %q, ETag %q", e.Signature, ct, sigRes.Header.Get("ETag"))
	}

	// The key, from the actor alone.
	var actor struct {
		ID              string `json:"id"`
		AssertionMethod []struct {
			ID, Type, Controller string
			PublicKeyMultibase   string `json:"publicKeyMultibase"`
		} `json:"assertionMethod"`
	}
	c.With(http.Header{"Accept": {"application/activity+json"}}).Get("/ap/ortsweberei").Expect(t, http.StatusOK).JSON(t, &actor)
	var pubText string
	for _, k := range actor.AssertionMethod {
		if k.ID == actorID+"#snapshot-key" && k.Type == "Multikey" && k.Controller == actorID {
			pubText = k.PublicKeyMultibase
		}
	}
	pub, err := proof.DecodeMultikey(pubText)
	if err != nil || actor.ID != actorID {
		t.Fatalf("the actor %s publishes no snapshot key (%v): %+v", actor.ID, err, actor.AssertionMethod)
	}
	doc, err := snapshot.Read(bytes.NewReader(file.Body), nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := snapshot.DecodeSignature(sigRes.Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Hash != e.Hash || doc.Instance != actorID {
		t.Fatalf("the file's hash is %s and instance %s; served as %s of %s", doc.Hash, doc.Instance, e.Hash, actorID)
	}
	if err := snapshot.VerifyDocument(doc, pub); err != nil {
		t.Fatalf("the document does not verify with the actor's key: %v", err)
	}
	if err := snapshot.VerifyDetached(doc.Hash, sig, pub); err != nil {
		t.Fatalf("the detached signature does not verify with the actor's key: %v", err)
	}

	// A cache that has it asks again with its ETag: nothing to send.
	for _, inm := range []string{`"` + e.Hash + `"`, `W/"` + e.Hash + `"`, `"other", "` + e.Hash + `"`, "*"} {
		if res := c.With(http.Header{"If-None-Match": {inm}}).Get(e.URL); res.Status != http.StatusNotModified || len(res.Body) != 0 {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", inm, res.Status, len(res.Body))
		}
	}
	if res := c.With(http.Header{"If-None-Match": {`"other"`}}).Get(e.URL); res.Status != http.StatusOK {
		t.Errorf("If-None-Match of another ETag: %d", res.Status)
	}

	// A file in the directory that no recorded snapshot names (a half-written one would be
	// such a file, were it ever under a snapshot's name) is not served.
	stray := strings.Repeat("a", 64)
	for _, suffix := range []string{".json.gz", ".sig"} {
		if err := os.WriteFile(filepath.Join(inst.Snapshots.Dir(), stray+suffix), file.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var again snapshotIndex
	c.Get("/snapshots/").Expect(t, http.StatusOK).JSON(t, &again)
	if len(again.Snapshots) != 1 {
		t.Errorf("the index lists %d snapshots with a stray file in the directory, want 1", len(again.Snapshots))
	}
	unknown := strings.Repeat("0", 64)
	for _, path := range []string{
		"/snapshots/" + unknown + ".json.gz", "/snapshots/" + unknown + ".sig",
		"/snapshots/" + stray + ".json.gz", "/snapshots/" + stray + ".sig",
		"/snapshots/" + strings.ToUpper(e.Hash) + ".json.gz", "/snapshots/" + e.Hash + ".json", "/snapshots/" + e.Hash,
		"/snapshots/" + e.Hash + ".json.zst", "/snapshots/" + e.Hash[:63] + ".sig", "/snapshots/" + e.Hash + "0.sig",
		"/snapshots/" + e.Hash + ".json.gz/x", "/snapshots/x/" + e.Hash + ".sig", "/snapshots/.tmp-1.json.gz",
		"/snapshots/..%2f..%2f..%2fetc%2fpasswd", "/snapshots/%2e%2e/" + e.Hash + ".sig",
	} {
		res := c.Get(path)
		if res.Status != http.StatusNotFound || res.ErrorCode() != "snapshot_not_found" {
			t.Errorf("GET %s: %d %q, want 404 snapshot_not_found; body %.200s", path, res.Status, res.ErrorCode(), res.Body)
		}
	}
	// A NUL in the path is refused before any route, as everywhere.
	if res := c.Get("/snapshots/" + e.Hash + ".json.gz%00"); res.Status != http.StatusBadRequest || res.ErrorCode() != "invalid_text" {
		t.Errorf("a NUL in the name: %d %q", res.Status, res.ErrorCode())
	}
}

// The dev clock moved past 02:00 in the Ortsweberei's time zone brings exactly one full
// snapshot for that night, even when the sweep runs several times at once: two dev-clock calls
// (each runs every sweep through the job queue) and the service called directly, as another
// replica's would be.
func TestDevClockPastTwoTakesOneFullSnapshot(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{SnapshotSchedule: snapshot.Schedule{Location: berlinZone(t)}})
	ctx := context.Background()
	before, err := inst.Snapshots.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := inst.DevClock.Now()
	slot, kind := inst.Snapshots.Schedule().NextAfter(now)
	for kind != snapshot.KindFull {
		slot, kind = inst.Snapshots.Schedule().NextAfter(slot)
	}
	if _, err := inst.DevClock.Advance(slot.Sub(now) + time.Minute); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res := inst.Client().Post("/api/dev/clock", map[string]string{"advance": "0s"}); res.Status != http.StatusOK {
				t.Errorf("dev clock: %d %s", res.Status, res.Body)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := inst.Snapshots.Sweep(ctx); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()

	after, err := inst.Snapshots.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var taken []snapshot.Record
	for _, r := range after[len(before):] {
		taken = append(taken, r)
	}
	if len(taken) != 1 || taken[0].Kind != snapshot.KindFull || !taken[0].Slot.Equal(slot) ||
		taken[0].Previous != before[len(before)-1].Hash {
		t.Fatalf("moving past %s (02:00 in Berlin) took %+v; want one full snapshot for it, after %s", slot, taken,
			before[len(before)-1].Hash)
	}
	if local := slot.In(berlinZone(t)); local.Hour() != 2 && !(local.Hour() == 3 && local.Month() == time.March) {
		t.Fatalf("the slot %s is not 02:00 in Berlin", local)
	}
}
