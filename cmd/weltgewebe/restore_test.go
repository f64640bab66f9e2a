package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/instancetest"
)

// A busy instance is moved to a new machine the documented way: backup while it serves,
// restore into a fresh data directory (a new cluster, whose transaction counter starts low),
// serve from there under the same address. Its log's followers must go on: a new Antrag reaches
// the neighbour, and a map client that reconnects with the cursor it had from the old machine
// gets the new change.
func TestRestoreOnNewMachine(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "weltgewebe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const wait = 30 * time.Second // a safety net only: every wait below ends on the event
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
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(wait); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s", what, wait)
			}
		}
	}

	cmd("admin", "federate", "--data-dir", oldDir, "--public-url", srv.url, "--dev", neighbour.URL)
	waitFor("mutual following", func() bool {
		return sql(`SELECT count(*) FROM ap_following WHERE accepted`) == 1 && neighbour.Count(`SELECT count(*) FROM ap_following WHERE accepted`) == 1
	})
	cmd("admin", "create", "--email", "admin@example.org", "--password", "admin password", "--name", "Admin", "--data-dir", oldDir)
	jar, _ := cookiejar.New(nil)
	jana := &http.Client{Jar: jar}
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, srv.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := jana.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, out)
		}
		return out
	}
	const lat, lon = 51.3370, 12.3340
	call("POST", "/api/auth/register", fmt.Sprintf(`{"name":"Jana","address":"Weg 1","lat":%f,"lon":%f,"email":"jana@example.org","password":"lange genug"}`, lat, lon), 202)
	cmd("admin", "verify", "--by", "admin@example.org", "--email", "jana@example.org", "--data-dir", oldDir)
	call("POST", "/api/auth/login", `{"email":"jana@example.org","password":"lange genug"}`, 200)
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
	call("POST", "/api/antraege", `{"title":"Bank am Kanal"}`, 201)
	waitFor("Antrag at the neighbour before the move", listed("Bank am Kanal"))

	// A busy instance has used many more transaction ids than a new cluster has.
	sql(`DO $$ BEGIN FOR i IN 1..30000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`)

	// A map client watching the cells around Jana sees a new Knoten and keeps the cursor.
	var cells struct{ Cells []string }
	q := url.Values{"bbox": {fmt.Sprintf("%f,%f,%f,%f", lon-0.002, lat-0.001, lon+0.002, lat+0.001)}, "zoom": {"14"}}
	if err := json.Unmarshal(call("GET", "/api/map/cells?"+q.Encode(), "", 200), &cells); err != nil || len(cells.Cells) == 0 {
		t.Fatalf("cells: %v %v", cells, err)
	}
	client := dialMap(t, srv.url)
	client.send(map[string]any{"type": "subscribe", "cells": cells.Cells})
	for range cells.Cells {
		client.until(t, "the cells' state", func(m mapMsg) bool { return m.Type == "state" })
	}
	knotenID := func(b []byte) string {
		var k struct{ ID string }
		if err := json.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	before := knotenID(call("POST", "/api/knoten", fmt.Sprintf(`{"type":"idee","title":"Vor dem Umzug","lat":%f,"lon":%f}`, lat, lon), 201))
	cursor := client.until(t, "the Knoten made before the move", func(m mapMsg) bool { return m.Type == "delta" && m.has(before) }).Cursor
	client.conn.CloseNow()
	published := outbox()

	dump := filepath.Join(reachableTempDir(t), "instance.dump")
	cmd("backup", "--data-dir", oldDir, dump)
	srv.stop(t)
	addr := strings.TrimPrefix(srv.url, "http://")

	newDir := filepath.Join(reachableTempDir(t), "data")
	cmd("restore", "--data-dir", newDir, dump)
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
	observer := dialMap(t, srv.url)
	old, err := eventstore.ParsePosition(cursor)
	if err != nil {
		t.Fatal(err)
	}
	if head, err := eventstore.ParsePosition(observer.hello.Cursor); err != nil || old.After(head) {
		t.Errorf("after the restore the map's head is %q, behind the cursor %q a client had before (%v)", observer.hello.Cursor, cursor, err)
	}

	// A Knoten made while the client is away; the observer, watching the same cells, tells
	// when the hub has read it.
	observer.send(map[string]any{"type": "subscribe", "cells": cells.Cells})
	for range cells.Cells {
		observer.until(t, "the cells' state", func(m mapMsg) bool { return m.Type == "state" })
	}
	after := knotenID(call("POST", "/api/knoten", fmt.Sprintf(`{"type":"idee","title":"Nach dem Umzug","lat":%f,"lon":%f}`, lat, lon), 201))
	observer.until(t, "the Knoten made after the move, at the observer", func(m mapMsg) bool { return m.Type == "delta" && m.has(after) })

	// The client comes back with its old cursor: its catch-up holds the Knoten.
	client = dialMap(t, srv.url)
	client.send(map[string]any{"type": "subscribe", "cells": cells.Cells, "cursor": cursor})
	caughtUp := false
	for range cells.Cells {
		m := client.until(t, "a catch-up", func(m mapMsg) bool { return m.Type == "delta" && m.Catchup })
		caughtUp = caughtUp || m.has(after)
	}
	if !caughtUp {
		t.Error("the client that came back with its cursor from before the move was not told of the Knoten made since")
	}

	call("POST", "/api/antraege", `{"title":"Brunnen am Markt"}`, 201)
	waitFor("Antrag filed after the move at the neighbour", listed("Brunnen am Markt"))
}

// mapClient is a /ws/map client.
type mapClient struct {
	conn  *websocket.Conn
	msgs  chan mapMsg
	hello mapMsg
	t     *testing.T
}

type mapMsg struct {
	Type    string `json:"type"`
	Cursor  string `json:"cursor"`
	Catchup bool   `json:"catchup"`
	Knoten  []struct {
		ID string `json:"id"`
	} `json:"knoten"`
}

func (m mapMsg) has(knoten string) bool {
	return slices.ContainsFunc(m.Knoten, func(k struct {
		ID string `json:"id"`
	}) bool {
		return k.ID == knoten
	})
}

func dialMap(t *testing.T, base string) *mapClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http://", "ws://", 1)+"/ws/map", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(16 << 20)
	c := &mapClient{conn: conn, msgs: make(chan mapMsg, 1000), t: t}
	t.Cleanup(func() { conn.CloseNow() })
	go func() {
		defer close(c.msgs)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m mapMsg
			if json.Unmarshal(data, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	c.hello = c.until(t, "hello", func(m mapMsg) bool { return true })
	if c.hello.Type != "hello" {
		t.Fatalf("first message: %+v", c.hello)
	}
	return c
}

func (c *mapClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *mapClient) until(t *testing.T, what string, ok func(mapMsg) bool) mapMsg {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				t.Fatalf("connection closed while waiting for %s", what)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within 30s", what)
		}
	}
}
