package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A busy instance is moved to a new machine the documented way: export while it serves,
// restore the export into a fresh data directory (a new cluster, whose transaction counter starts low),
// serve from there under the same address. Its log's followers must go on: a new Antrag reaches
// the neighbour, and a map client that reconnects with the cursor it had from the old machine
// gets the new change.
func TestRestoreOnNewMachine(t *testing.T) {
	bin := binary(t)
	ctx := context.Background()
	neighbour := instancetest.Start(t, instancetest.Options{Host: "127.0.0.42", Name: "Plagwitz"})
	oldDir := filepath.Join(reachableTempDir(t), "data")
	srv := start(t, bin, "serve", "--dev", "--listen", "127.0.0.41:0", "--data-dir", oldDir)
	sql := func(q string) int {
		t.Helper()
		db, err := pgx.Connect(ctx, "postgres://postgres@/postgres?host="+filepath.Join(oldDir, "run")+"&sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close(ctx)
		var n int
		if _, err := db.Exec(ctx, `SET synchronous_commit = off`); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(q, "DO") {
			_, err = db.Exec(ctx, q)
		} else {
			err = db.QueryRow(ctx, q).Scan(&n)
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	cmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	cmd("admin", "federate", "--data-dir", oldDir, "--public-url", srv.url, "--dev", neighbour.URL)
	instancetest.WaitFor(t, "mutual following", func() bool {
		return sql(`SELECT count(*) FROM ap_following WHERE accepted`) == 1 && neighbour.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1
	})
	cmd("admin", "create", "--email", "admin@example.org", "--password", "admin password", "--name", "Admin", "--data-dir", oldDir)
	// The restored instance serves under the same address (checked below), so Jana's client
	// goes on with it.
	jana := instancetest.NewClient(t, srv.url)
	const lat, lon = 51.3370, 12.3340
	jana.Post("/api/auth/register", fmt.Sprintf(`{"name":"Jana","address":"Weg 1","lat":%f,"lon":%f,"email":"jana@example.org","password":"lange genug"}`, lat, lon)).Expect(t, 202)
	cmd("admin", "verify", "--by", "admin@example.org", "--email", "jana@example.org", "--data-dir", oldDir)
	jana.Post("/api/auth/login", `{"email":"jana@example.org","password":"lange genug"}`).Expect(t, 200)
	listed := func(title string) func() bool {
		return func() bool {
			var list struct{ Antraege []struct{ Title string } }
			neighbour.Client().Get("/api/antraege").Expect(t, 200).JSON(t, &list)
			return slices.ContainsFunc(list.Antraege, func(a struct{ Title string }) bool { return a.Title == title })
		}
	}
	outbox := func() int {
		req, _ := http.NewRequest("GET", srv.url+"/ap/ortsweberei/outbox", nil)
		req.Header.Set("Accept", "application/activity+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var coll struct{ TotalItems int }
		if err := json.NewDecoder(res.Body).Decode(&coll); err != nil {
			t.Fatal(err)
		}
		return coll.TotalItems
	}
	jana.Post("/api/antraege", `{"title":"Bank am Kanal"}`).Expect(t, 201)
	instancetest.WaitFor(t, "Antrag at the neighbour before the move", listed("Bank am Kanal"))

	// A busy instance has used many more transaction ids than a new cluster has.
	sql(`DO $$ BEGIN FOR i IN 1..30000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`)

	// A map client watching the cells around Jana sees a new Knoten and keeps the cursor.
	var cells struct{ Cells []string }
	q := url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {"14"}}
	if jana.Get("/api/map/cells?"+q.Encode()).Expect(t, 200).JSON(t, &cells); len(cells.Cells) == 0 {
		t.Fatalf("cells: %v", cells)
	}
	client := instancetest.DialMap(t, srv.url)
	client.Subscribe(cells.Cells)
	knotenID := func(res *instancetest.Response) string {
		var k struct{ ID string }
		res.JSON(t, &k)
		return k.ID
	}
	before := knotenID(jana.Post("/api/knoten", fmt.Sprintf(`{"type":"idee","title":"Vor dem Umzug","lat":%f,"lon":%f}`, lat, lon)).Expect(t, 201))
	cursor := client.Until("the Knoten made before the move", func(m instancetest.MapMessage) bool { return m.Type == "delta" && m.Has(before) }).Cursor
	client.Close()
	published := outbox()

	dump := filepath.Join(reachableTempDir(t), "instance.dump")
	cmd("export", "database", "--data-dir", oldDir, dump)
	srv.stop(t)
	addr := strings.TrimPrefix(srv.url, "http://")

	newDir := filepath.Join(reachableTempDir(t), "data")
	cmd("restore", "--data-dir", newDir, "--from-export", dump)
	srv = start(t, bin, "serve", "--dev", "--listen", addr, "--data-dir", newDir)
	defer srv.stop(t)
	if srv.url != "http://"+addr {
		t.Fatalf("the restored instance serves at %s, not at %s", srv.url, addr)
	}

	// What was published before is still there, and the map's head is where the old machine's was: not behind the client's cursor.
	if n := outbox(); n != published {
		t.Errorf("the restored outbox has %d items, the old one had %d", n, published)
	}
	// The map's head is not behind the cursor a client had from the old machine.
	observer := instancetest.DialMap(t, srv.url)
	old, err := eventstore.ParsePosition(cursor)
	if err != nil {
		t.Fatal(err)
	}
	if head, err := eventstore.ParsePosition(observer.Hello.Cursor); err != nil || old.After(head) {
		t.Errorf("after the restore the map's head is %q, behind the cursor %q a client had before (%v)", observer.Hello.Cursor, cursor, err)
	}

	// A Knoten made while the client is away; the observer, watching the same cells, tells
	// when the hub has read it.
	observer.Subscribe(cells.Cells)
	after := knotenID(jana.Post("/api/knoten", fmt.Sprintf(`{"type":"idee","title":"Nach dem Umzug","lat":%f,"lon":%f}`, lat, lon)).Expect(t, 201))
	observer.Until("the Knoten made after the move, at the observer", func(m instancetest.MapMessage) bool { return m.Type == "delta" && m.Has(after) })

	// The client comes back with its old cursor: its catch-up holds the Knoten.
	client = instancetest.DialMap(t, srv.url)
	client.Send(map[string]any{"type": "subscribe", "cells": cells.Cells, "cursor": cursor})
	caughtUp := false
	for range cells.Cells {
		m := client.Until("a catch-up", func(m instancetest.MapMessage) bool { return m.Type == "delta" && m.Catchup })
		caughtUp = caughtUp || m.Has(after)
	}
	if !caughtUp {
		t.Error("the client that came back with its cursor from before the move was not told of the Knoten made since")
	}

	jana.Post("/api/antraege", `{"title":"Brunnen am Markt"}`).Expect(t, 201)
	instancetest.WaitFor(t, "Antrag filed after the move at the neighbour", listed("Brunnen am Markt"))
}
