package federation_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/snapshot"
	"github.com/weltgewebe/weltgewebe/internal/proof"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/jsonld"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// snapshotIndex is the index an origin serves at /snapshots/ and a mirror at
// /mirrors/<host>/snapshots/.
type snapshotIndex struct {
	Instance  string
	Key       string
	Snapshots []struct {
		Kind, Hash, URL, Signature string
		PublicKey                  string    `json:"public_key"`
		AsOf                       time.Time `json:"as_of"`
		Previous, Base             *string
	}
}

func hostOf(inst *instancetest.Instance) string { return strings.TrimPrefix(inst.URL, "http://") }

// getBytes GETs url from inst's side (any client would do: the files are public).
func getBytes(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res, b
}

// lastFull is the newest full snapshot in inst's own index.
func lastFull(t *testing.T, inst *instancetest.Instance) (hash, sigURL string) {
	t.Helper()
	var idx snapshotIndex
	inst.Client().Get("/snapshots/").Expect(t, 200).JSON(t, &idx)
	for _, s := range idx.Snapshots {
		if s.Kind == "full" {
			hash, sigURL = s.Hash, s.Signature
		}
	}
	if hash == "" {
		t.Fatalf("%s has no full snapshot: %+v", inst.URL, idx)
	}
	return hash, sigURL
}

// cachedSnapshotKey is the snapshot key of the Ortsweberei origin as inst has it cached from
// origin's actor document.
func cachedSnapshotKey(t *testing.T, inst, origin *instancetest.Instance) []byte {
	t.Helper()
	group := origin.URL + "/ap/ortsweberei"
	var raw []byte
	if err := inst.Pool.QueryRow(context.Background(), `SELECT multikeys FROM ap_actors WHERE iri = $1`, group).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var keys []vocab.Multikey
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == snapshot.KeyID(group) {
			pub, err := proof.DecodeMultikey(k.PublicKeyMultibase)
			if err != nil {
				t.Fatal(err)
			}
			return pub
		}
	}
	t.Fatalf("%s has no snapshot key of %s cached: %s", inst.URL, group, raw)
	return nil
}

// Lindenau and Plagwitz are neighbours, and a Mastodon account follows Lindenau too.
// Lindenau's next daily snapshot is announced to Plagwitz only, which fetches, verifies and
// mirrors it. Then Lindenau's server is gone: Plagwitz still serves Lindenau's snapshot, with
// its signature, and the file checks out against the key Plagwitz keeps of Lindenau's actor.
func TestSnapshotMirrorOutlivesItsOrigin(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	// Gohlis, a second neighbour, mirrors nothing larger than 100 bytes.
	g := instancetest.Start(t, instancetest.Options{Host: "127.0.0.3", Name: "Gohlis", MaxMirrorBytes: 100})
	peer := mastopeer.Start(t, "127.0.0.4")
	a.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": b.URL}).Expect(t, http.StatusAccepted)
	a.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": g.URL}).Expect(t, http.StatusAccepted)
	waitFor(t, "Lindenau and its two neighbours to follow each other", patience, func() bool {
		return a.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 2 && b.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1 &&
			g.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1
	})
	peer.FollowAccepted(t, ctx, a.URL+"/ap/ortsweberei", patience)
	jana := a.VerifiedResident("Jana", lat, lon)
	var bank, far struct{ ID string }
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank am Kanal", "lat": lat, "lon": lon}).Expect(t, 201).JSON(t, &bank)
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Weit weg", "lat": lat + 0.5, "lon": lon}).Expect(t, 201).JSON(t, &far)

	// Lindenau's snapshot of its first day, taken at its start, before it had neighbours.
	first, _ := lastFull(t, a)
	// Past the next 02:00: Lindenau's sweep takes the day's full snapshot and announces it;
	// Plagwitz's sweeps (moved on first) catch up on the first one from Lindenau's index.
	advance("24h", a, b)
	hash, _ := lastFull(t, a)
	if hash == first {
		t.Fatal("Lindenau took no new full snapshot")
	}
	waitFor(t, "Plagwitz to catch up on Lindenau's first snapshot", patience, func() bool {
		return b.Count(`SELECT count(*) FROM snapshot_mirrors WHERE origin = $1 AND hash = $2`, hostOf(a), first) == 1
	})
	waitFor(t, "Plagwitz to mirror Lindenau's snapshot", patience, func() bool {
		return b.Count(`SELECT count(*) FROM snapshot_mirrors WHERE origin = $1 AND hash = $2`, hostOf(a), hash) == 1
	})
	// The announcement went to the neighbour's host alone (queued in one go, when the
	// snapshot was recorded), never to the Mastodon follower.
	var hosts []string
	if err := a.Pool.QueryRow(ctx, `
SELECT coalesce(array_agg(j.args->>'host'), '{}') FROM river_job j JOIN ap_outgoing o ON o.id = (j.args->>'outgoing')::bigint
WHERE j.kind = 'federation_deliver' AND o.body::text LIKE '%"Snapshot"%'`).Scan(&hosts); err != nil {
		t.Fatal(err)
	}
	slices.Sort(hosts)
	if want := []string{hostOf(b), hostOf(g)}; !slices.Equal(hosts, want) {
		t.Fatalf("the announcement was queued for %v, want %v", hosts, want)
	}
	// Gohlis refuses the file, larger than it takes, and keeps nothing of it.
	waitFor(t, "Gohlis to end its mirror job", patience, func() bool {
		return g.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_mirror_snapshot' AND state IN ('cancelled', 'completed', 'discarded')`) == 1
	})
	var state, reason string
	if err := g.Pool.QueryRow(ctx, `SELECT state::text, coalesce(errors[array_length(errors, 1)]->>'error', '')
FROM river_job WHERE kind = 'federation_mirror_snapshot'`).Scan(&state, &reason); err != nil {
		t.Fatal(err)
	}
	if state != "cancelled" || !strings.Contains(reason, "more than") || g.Count(`SELECT count(*) FROM snapshot_mirrors`) != 0 {
		t.Fatalf("Gohlis with its 100-byte bound: job %s (%s), mirrored %d", state, reason, g.Count(`SELECT count(*) FROM snapshot_mirrors`))
	}
	if entries, _ := os.ReadDir(filepath.Join(g.Snapshots.Dir(), "mirrors", hostOf(a))); len(entries) != 0 {
		t.Fatalf("Gohlis keeps files of Lindenau: %v", entries)
	}
	// The Snapshot and its Create are served where their ids say, and expand with our
	// context to our vocabulary; the Create is what Plagwitz received.
	objectID := a.URL + "/ap/snapshots/" + hash
	obj, create := mustAP(t, objectID), mustAP(t, objectID+"/create")
	if obj["snapshotHash"] != hash || obj["url"] != a.URL+"/snapshots/"+hash+".json.gz" || idOf(create["object"]) != objectID || create["type"] != "Create" {
		t.Fatalf("served: %v\n%v", obj, create)
	}
	used := map[string]bool{}
	for name, doc := range map[string]map[string]any{"snapshot": obj, "create": create} {
		raw, _ := json.Marshal(doc)
		jsonld.Check(t, name, raw, jsonld.Loader(vocab.KnownContext), used)
	}
	for _, key := range []string{"snapshotHash", "snapshotKind", "asOf", "previousSnapshot", "detachedSignature", "signatureValue", "url", "mediaType"} {
		if !used[key] {
			t.Errorf("no document carried %q", key)
		}
	}
	var received string
	if err := b.Pool.QueryRow(ctx, `SELECT body::text FROM ap_inbox WHERE activity_id = $1`, objectID+"/create").Scan(&received); err != nil {
		t.Fatalf("Plagwitz's inbox has no %s/create: %v", objectID, err)
	}
	var got map[string]any
	json.Unmarshal([]byte(received), &got)
	if g, w := fmt.Sprint(got["object"]), fmt.Sprint(create["object"]); g != w {
		t.Fatalf("delivered %s\nserved %s", g, w)
	}
	key := cachedSnapshotKey(t, b, a)
	wantAsOf := a.Count(`SELECT floor(extract(epoch FROM as_of))::bigint FROM snapshots WHERE hash = $1`, hash)

	a.Stop()
	if _, err := http.Get(a.URL + "/snapshots/"); err == nil {
		t.Fatal("Lindenau still answers after it stopped")
	}

	var idx snapshotIndex
	b.Client().Get("/mirrors/"+hostOf(a)+"/snapshots/").Expect(t, 200).JSON(t, &idx)
	if idx.Instance != a.URL+"/ap/ortsweberei" || idx.Key != a.URL+"/ap/ortsweberei#snapshot-key" || len(idx.Snapshots) != 2 ||
		idx.Snapshots[0].Hash != first {
		t.Fatalf("Plagwitz's index of Lindenau: %+v", idx)
	}
	e := idx.Snapshots[1]
	if e.Hash != hash || e.Kind != "full" || e.AsOf.Unix() != int64(wantAsOf) || e.PublicKey != proof.EncodeMultikey(key) {
		t.Fatalf("Plagwitz lists %+v, Lindenau took %s", e, hash)
	}
	res, file := getBytes(t, b.URL+e.URL)
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res.Header.Get("ETag") != `"`+hash+`"` {
		t.Fatalf("GET %s: %d %v", e.URL, res.StatusCode, res.Header)
	}
	doc, err := snapshot.Read(bytes.NewReader(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Hash != hash || doc.Instance != a.URL+"/ap/ortsweberei" {
		t.Fatalf("the mirrored file is %s of %s", doc.Hash, doc.Instance)
	}
	if err := snapshot.VerifyDocument(doc, key); err != nil {
		t.Fatalf("the mirrored file's proof: %v", err)
	}
	_, sigText := getBytes(t, b.URL+e.Signature)
	sig, err := snapshot.DecodeSignature(sigText)
	if err == nil {
		err = snapshot.VerifyDetached(hash, sig, key)
	}
	if err != nil {
		t.Fatalf("the mirrored signature: %v", err)
	}
	// Lindenau's map of that day, from Plagwitz's mirror: the Knoten in the box, not the one
	// outside it, and Jana's Garnrolle; the answer names the mirrored snapshot.
	var tl struct {
		Origin string
		Date   string
		Source struct {
			Snapshot string
			Mirror   bool
		}
		Knoten     []struct{ ID, Title string }
		Garnrollen []struct{ Name string }
	}
	day := e.AsOf.UTC().Format(time.DateOnly)
	box := fmt.Sprintf("%f,%f,%f,%f", lon-0.01, lat-0.01, lon+0.01, lat+0.01)
	b.Client().Get("/mirrors/"+hostOf(a)+"/timeline?date="+day+"&bbox="+box).Expect(t, 200).JSON(t, &tl)
	if tl.Origin != hostOf(a) || tl.Source.Snapshot != hash || !tl.Source.Mirror || len(tl.Knoten) != 1 || tl.Knoten[0].ID != bank.ID ||
		tl.Knoten[0].Title != "Bank am Kanal" || len(tl.Garnrollen) != 1 || tl.Garnrollen[0].Name != "Jana" {
		t.Fatalf("Lindenau's timeline from Plagwitz's mirror: %+v", tl)
	}
	b.Client().Get("/mirrors/"+hostOf(a)+"/timeline?date="+day).Expect(t, 200).JSON(t, &tl)
	if len(tl.Knoten) != 2 || tl.Source.Snapshot != hash {
		t.Fatalf("without a box, Lindenau's whole map: %+v", tl.Knoten)
	}
	// Each answer parses the whole mirrored snapshot, and anyone may ask: while one is being
	// read, another request is turned away at once (503 mirror_busy, Retry-After), not queued.
	started, released := make(chan struct{}), make(chan struct{})
	var hold sync.Once
	federation.SetMirrorReadHook(b.Federation, func(r io.Reader) io.Reader {
		held := false
		hold.Do(func() { held = true })
		if !held {
			return r
		}
		return readerFunc(func(p []byte) (int, error) {
			if started != nil {
				close(started)
				started = nil
				<-released
			}
			return r.Read(p)
		})
	})
	firstDone := make(chan int, 1)
	wait := started
	go func() {
		res, err := http.Get(b.URL + "/mirrors/" + hostOf(a) + "/timeline?date=" + day)
		if err != nil {
			firstDone <- 0
			return
		}
		res.Body.Close()
		firstDone <- res.StatusCode
	}()
	<-wait
	res, busy := getBytes(t, b.URL+"/mirrors/"+hostOf(a)+"/timeline?date="+day)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(busy), `"mirror_busy"`) || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a timeline while another is read: %d %s (Retry-After %q), want 503 mirror_busy", res.StatusCode, busy, res.Header.Get("Retry-After"))
	}
	close(released)
	if code := <-firstDone; code != http.StatusOK {
		t.Fatalf("the timeline being read when the second came: %d", code)
	}
	b.Client().Get("/mirrors/"+hostOf(a)+"/timeline?date="+day).Expect(t, 200)

	// Before the first mirrored snapshot there is nothing to show, and a malformed day is refused.
	b.Client().Get("/mirrors/"+hostOf(a)+"/timeline?date=2020-01-01").Expect(t, 404)
	b.Client().Get("/mirrors/"+hostOf(a)+"/timeline?date=gestern").Expect(t, 400)
	b.Client().Get("/mirrors/"+hostOf(a)+"/timeline?date="+day+"&bbox=1,2,3").Expect(t, 400)

	// A revalidation is answered from the ETag.
	req, _ := http.NewRequest("GET", b.URL+e.URL, nil)
	req.Header.Set("If-None-Match", `"`+hash+`"`)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %v %v", res, err)
	}
	// Names that are not a mirrored file, and hosts not mirrored, are 404 in the error format.
	for _, p := range []string{"/mirrors/" + hostOf(a) + "/snapshots/" + strings.Repeat("0", 64) + ".json.gz",
		"/mirrors/" + hostOf(a) + "/snapshots/" + hash + ".json", "/mirrors/" + hostOf(a) + "/snapshots/" + hash[:10] + ".sig",
		"/mirrors/" + hostOf(b) + "/snapshots/" + hash + ".json.gz", "/mirrors/nowhere.example/snapshots/"} {
		res, body := getBytes(t, b.URL+p)
		if res.StatusCode != 404 || !bytes.Contains(body, []byte(`"code"`)) {
			t.Fatalf("GET %s: %d %s", p, res.StatusCode, body)
		}
	}
}

// Plagwitz mirrors only what Lindenau itself announces of itself, and only a file that is what
// Lindenau signed: a third Ortsweberei (Gohlis, also a neighbour of Plagwitz) announcing
// Lindenau's snapshot, or announcing one under its own name with Lindenau's file, gets nothing
// queued; Lindenau's own announcement with a signature that is not the file's is refused before
// any download, and of a file tampered with on its server after the download; nothing is
// stored. Once the file is whole again, the same announcement is mirrored (so the refusals were
// for what they say); then a snapshot signed with Lindenau's key that names the mirrored one as
// previous but is older than it does not follow it, and is refused; of two that follow it, the
// second is a fork (a rewritten history) and is refused.
func TestSnapshotMirrorRefusesForgeries(t *testing.T) {
	t.Parallel()
	// Lindenau takes full snapshots only (no incrementals: Every is a day), so that its one
	// snapshot is the predecessor the forged one below names.
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", Name: "Lindenau", SnapshotSchedule: snapshot.Schedule{Every: 24 * time.Hour}})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", Name: "Plagwitz"})
	g := instancetest.Start(t, instancetest.Options{Host: "127.0.0.3", Name: "Gohlis"})
	federate(t, a, b, patience)
	b.Admin().Post("/api/admin/federation/neighbours", map[string]string{"target": g.URL}).Expect(t, http.StatusAccepted)
	waitFor(t, "Plagwitz to follow both neighbours", patience, func() bool {
		return b.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 2
	})

	// Lindenau's snapshot from its start, taken before it had neighbours: never announced.
	hash, sigURL := lastFull(t, a)
	_, sigText := getBytes(t, a.URL+sigURL)
	var asOf time.Time
	if err := a.Pool.QueryRow(context.Background(), `SELECT as_of FROM snapshots WHERE hash = $1`, hash).Scan(&asOf); err != nil {
		t.Fatal(err)
	}
	// object is a Snapshot announcement of Lindenau's file, with id and attribution as given.
	object := func(id, attributedTo string) map[string]any {
		return map[string]any{"id": id, "type": "Snapshot", "attributedTo": attributedTo, "url": a.URL + "/snapshots/" + hash + ".json.gz",
			"mediaType": "application/gzip", "snapshotHash": hash, "snapshotKind": "full", "asOf": asOf.UTC().Format(time.RFC3339Nano),
			"detachedSignature": a.URL + "/snapshots/" + hash + ".sig", "signatureValue": strings.TrimSpace(string(sigText)),
			"published": time.Now().UTC().Format(time.RFC3339), "to": []string{vocab.Public}}
	}
	n := 0
	send := func(t *testing.T, inst *instancetest.Instance, obj map[string]any) {
		t.Helper()
		n++
		actor := inst.URL + "/ap/ortsweberei"
		act := map[string]any{"@context": vocab.Context, "id": fmt.Sprintf("%s/ap/activities/snapshot-%d", inst.URL, n), "type": "Create",
			"actor": actor, "object": obj, "to": []string{vocab.Public}}
		if code, body := postSigned(t, b.URL+"/ap/inbox", actor, keysOf(t, inst, "/ap/ortsweberei"), act); code != http.StatusAccepted {
			t.Fatalf("Create: %d %s", code, body)
		}
		waitFor(t, "Plagwitz to process "+act["id"].(string), patience, func() bool {
			return b.Count(`SELECT count(*) FROM ap_inbox WHERE activity_id = $1 AND processed_at IS NOT NULL`, act["id"]) == 1
		})
	}
	jobs := func() int { return b.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_mirror_snapshot'`) }
	mirrored := func() int { return b.Count(`SELECT count(*) FROM snapshot_mirrors`) }
	mirrorDir := filepath.Join(b.Snapshots.Dir(), "mirrors", hostOf(a))
	nothingOnDisk := func(t *testing.T) {
		t.Helper()
		entries, _ := os.ReadDir(mirrorDir)
		if len(entries) != 0 {
			t.Fatalf("Plagwitz keeps files of Lindenau: %v", entries)
		}
	}

	t.Run("a third Ortsweberei announces the origin's snapshot", func(t *testing.T) {
		send(t, g, object(a.URL+"/ap/snapshots/"+hash, a.URL+"/ap/ortsweberei"))
		if jobs() != 0 || mirrored() != 0 {
			t.Fatalf("jobs %d, mirrored %d", jobs(), mirrored())
		}
	})
	t.Run("a third Ortsweberei announces the origin's file as its own", func(t *testing.T) {
		send(t, g, object(g.URL+"/ap/snapshots/"+hash, g.URL+"/ap/ortsweberei"))
		if jobs() != 0 || mirrored() != 0 {
			t.Fatalf("jobs %d, mirrored %d", jobs(), mirrored())
		}
	})

	file := filepath.Join(a.Snapshots.Dir(), hash+".json.gz")
	genuine, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// ended waits until n mirror jobs have ended on Plagwitz and returns the newest's state and
	// its last error.
	ended := func(t *testing.T, n int) (state, reason string) {
		t.Helper()
		waitFor(t, "the mirror job to end", patience, func() bool {
			return b.Count(`SELECT count(*) FROM river_job WHERE kind = 'federation_mirror_snapshot' AND state IN ('cancelled', 'completed', 'discarded')`) == n
		})
		if err := b.Pool.QueryRow(context.Background(), `SELECT state::text, coalesce(errors[array_length(errors, 1)]->>'error', '')
FROM river_job WHERE kind = 'federation_mirror_snapshot' ORDER BY id DESC LIMIT 1`).Scan(&state, &reason); err != nil {
			t.Fatal(err)
		}
		return state, reason
	}

	t.Run("the origin announces it with another signature", func(t *testing.T) {
		obj := object(a.URL+"/ap/snapshots/"+hash, a.URL+"/ap/ortsweberei")
		sig, _ := snapshot.DecodeSignature(sigText)
		sig[0] ^= 1
		obj["signatureValue"] = string(snapshot.EncodeSignature(sig))
		send(t, a, obj)
		state, reason := ended(t, 1)
		if state != "cancelled" || !strings.Contains(reason, "detached signature") || mirrored() != 0 {
			t.Fatalf("a wrong signature: job %s (%s), mirrored %d", state, reason, mirrored())
		}
		nothingOnDisk(t)
	})

	t.Run("the origin's file is tampered with", func(t *testing.T) {
		zr, err := gzip.NewReader(bytes.NewReader(genuine))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		// Another Ortsweberei's name for the same state: the same length, another hash.
		from, to := []byte(`"instance":"http://127.0.0.1:`), []byte(`"instance":"http://127.0.0.9:`)
		if !bytes.Contains(plain, from) {
			t.Fatalf("the document has no %s: %.300s", from, plain)
		}
		var tampered bytes.Buffer
		zw := gzip.NewWriter(&tampered)
		zw.Write(bytes.Replace(plain, from, to, 1))
		zw.Close()
		if err := os.WriteFile(file, tampered.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		send(t, a, object(a.URL+"/ap/snapshots/"+hash, a.URL+"/ap/ortsweberei"))
		state, reason := ended(t, 2)
		if state != "cancelled" || !strings.Contains(reason, "hash") || mirrored() != 0 {
			t.Fatalf("the tampered file: job %s (%s), mirrored %d", state, reason, mirrored())
		}
		nothingOnDisk(t)
	})

	t.Run("the same announcement of the whole file", func(t *testing.T) {
		if err := os.WriteFile(file, genuine, 0o644); err != nil {
			t.Fatal(err)
		}
		// The hash was refused after a download: announced again, it is refused without one
		// (the hourly catch-up would otherwise fetch it every hour).
		send(t, a, object(a.URL+"/ap/snapshots/"+hash, a.URL+"/ap/ortsweberei"))
		state, reason := ended(t, 3)
		if state != "cancelled" || !strings.Contains(reason, "refused before") || mirrored() != 0 {
			t.Fatalf("a refused hash announced again: job %s (%s), mirrored %d", state, reason, mirrored())
		}
		// An operator who knows better removes the refusal: the next announcement is fetched.
		if _, err := b.Pool.Exec(context.Background(), `DELETE FROM snapshot_mirror_refusals WHERE hash = $1`, hash); err != nil {
			t.Fatal(err)
		}
		send(t, a, object(a.URL+"/ap/snapshots/"+hash, a.URL+"/ap/ortsweberei"))
		waitFor(t, "Plagwitz to mirror it", patience, func() bool {
			return b.Count(`SELECT count(*) FROM snapshot_mirrors WHERE origin = $1 AND hash = $2`, hostOf(a), hash) == 1
		})
		got, err := os.ReadFile(filepath.Join(mirrorDir, hash+".json.gz"))
		if err != nil || !bytes.Equal(got, genuine) {
			t.Fatalf("the mirrored file differs from Lindenau's (%v)", err)
		}
	})
	// forge makes a snapshot of Lindenau as of at, naming the mirrored one as previous,
	// signed with Lindenau's own snapshot key and served by Lindenau (its file in Lindenau's
	// directory, its row in Lindenau's index; a row naming the same previous is removed
	// first, as Lindenau keeps one chain), and returns its hash and announcement.
	var forgedRow string
	forge := func(t *testing.T, at time.Time) (string, map[string]any) {
		t.Helper()
		var seed []byte
		var slot time.Time
		if err := a.Pool.QueryRow(context.Background(), `SELECT ed25519_seed FROM snapshot_keys`).Scan(&seed); err != nil {
			t.Fatal(err)
		}
		if err := a.Pool.QueryRow(context.Background(), `SELECT slot FROM snapshots WHERE hash = $1`, hash).Scan(&slot); err != nil {
			t.Fatal(err)
		}
		h := snapshot.Header{AsOf: at.UTC().Truncate(time.Microsecond), Instance: a.URL + "/ap/ortsweberei", Kind: snapshot.KindFull, Previous: hash}
		var plain bytes.Buffer
		w, err := snapshot.NewWriter(&plain, h, nil, ed25519.NewKeyFromSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		written, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(plain.Bytes())
		zw.Close()
		sigText := snapshot.EncodeSignature(written.Signature)
		os.WriteFile(filepath.Join(a.Snapshots.Dir(), written.Hash+".json.gz"), gz.Bytes(), 0o644)
		os.WriteFile(filepath.Join(a.Snapshots.Dir(), written.Hash+".sig"), sigText, 0o644)
		if _, err := a.Pool.Exec(context.Background(), `DELETE FROM snapshots WHERE hash = $1`, forgedRow); err != nil {
			t.Fatal(err)
		}
		forgedRow = written.Hash
		if _, err := a.Pool.Exec(context.Background(), `
INSERT INTO snapshots (hash, kind, as_of, pos_xmin, pos_xmax, pos_running, previous, slot, bytes, file, signature, verified_at, created_at)
VALUES ($1, 'full', $2, 1, 1, '{}', $3, $4, $5, $6, $7, now(), now())`,
			written.Hash, h.AsOf, hash, slot.Add(-24*time.Hour), gz.Len(), written.Hash+".json.gz", string(sigText)); err != nil {
			t.Fatal(err)
		}
		obj := object(a.URL+"/ap/snapshots/"+written.Hash, a.URL+"/ap/ortsweberei")
		obj["url"], obj["detachedSignature"] = a.URL+"/snapshots/"+written.Hash+".json.gz", a.URL+"/snapshots/"+written.Hash+".sig"
		obj["snapshotHash"], obj["asOf"], obj["previousSnapshot"] = written.Hash, h.AsOf.Format(time.RFC3339Nano), hash
		obj["signatureValue"] = string(sigText)
		return written.Hash, obj
	}
	kept := func(h string) bool {
		_, err := os.Stat(filepath.Join(mirrorDir, h+".json.gz"))
		return err == nil
	}

	t.Run("a snapshot that does not follow the mirrored one", func(t *testing.T) {
		older, obj := forge(t, asOf.Add(-time.Hour)) // names it as previous, but is older
		send(t, a, obj)
		state, reason := ended(t, 5)
		if state != "cancelled" || !strings.Contains(reason, "chain") || mirrored() != 1 || kept(older) {
			t.Fatalf("a snapshot older than its mirrored predecessor: job %s (%s), mirrored %d", state, reason, mirrored())
		}
	})
	t.Run("two snapshots that follow the same one", func(t *testing.T) {
		next, obj := forge(t, asOf.Add(time.Hour))
		send(t, a, obj)
		if state, reason := ended(t, 6); state != "completed" || mirrored() != 2 || !kept(next) {
			t.Fatalf("the snapshot after the mirrored one: job %s (%s), mirrored %d", state, reason, mirrored())
		}
		fork, obj := forge(t, asOf.Add(2*time.Hour)) // a second successor: the history rewritten
		send(t, a, obj)
		state, reason := ended(t, 7)
		if state != "cancelled" || !strings.Contains(reason, "fork") || mirrored() != 2 || kept(fork) {
			t.Fatalf("a second successor: job %s (%s), mirrored %d", state, reason, mirrored())
		}
	})
}

// readerFunc is a Read method as a function.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
