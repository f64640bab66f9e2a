package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// benchFanOutHosts counts what a new Antrag costs in signed POSTs when its followers are spread
// over many servers, the way the Fediverse follows an Ortsweberei: Mastodon-like servers
// (every follower's activities go to the server's shared inbox) and GoToSocial-like ones (no
// shared inbox: one inbox per follower). The baseline in the same run is the follower-only
// case: one activity to the same followers once each (the Update the Antrag's withdrawal
// sends), which costs one signature per receiving inbox.
func benchFanOutHosts(ctx context.Context, e *env, cfg config) {
	const hosts = 100
	n := cfg.followers
	applicant := e.verifiedResident(ctx)
	fmt.Printf("## Federation: signatures per new Antrag\n\n")
	fmt.Printf("%d followers of the Ortsweberei on %d servers (%d each), in-process receivers on loopback that answer 202 and count the POSTs by activity type and whether they are signed. A new Antrag is filed, and once the delivery follower has passed its event and no delivery job is left, the POSTs are counted; then the Antrag is withdrawn, an `Update` to the same followers (the follower-only case: one activity, once per receiving inbox), and counted the same way. Every POST is signed on its own (RSA-2048), so signatures = signed POSTs. Repeats are POSTs of an activity to an inbox that had it already (a delivery retried after an error on the sender's side; counted in the POSTs).\n\n",
		n, hosts, n/hosts)
	fmt.Printf("| servers | inboxes | new Antrag: POSTs (signed) | of which | repeats | follower-only `Update`: POSTs (repeats) | new Antrag ÷ follower-only |\n|---|---:|---:|---|---:|---:|---:|\n")
	for _, shared := range []bool{true, false} {
		recv := startCounters(hosts)
		rows, fRows := make([][]any, 0, n), make([][]any, 0, n)
		now := time.Now()
		for i := range n {
			r := recv.urls[i%hosts]
			iri := fmt.Sprintf("%s/users/f%d", r, i)
			var sharedInbox any
			if shared {
				sharedInbox = r + "/inbox"
			}
			rows = append(rows, []any{iri, r[len("http://"):], "Person", iri + "/inbox", sharedInbox, now})
			fRows = append(fRows, []any{"ortsweberei", iri, iri + "#follow", now})
		}
		conn, err := e.inst.Pool.Acquire(ctx)
		check(err)
		_, err = conn.CopyFrom(ctx, pgx.Identifier{"ap_actors"}, []string{"iri", "host", "type", "inbox", "shared_inbox", "fetched_at"}, pgx.CopyFromRows(rows))
		check(err)
		_, err = conn.CopyFrom(ctx, pgx.Identifier{"ap_followers"}, []string{"local", "follower", "follow_id", "created_at"}, pgx.CopyFromRows(fRows))
		check(err)
		conn.Release()
		inboxes := hosts
		kind := "Mastodon-like (shared inbox)"
		if !shared {
			inboxes, kind = n, "GoToSocial-like (an inbox per follower)"
		}

		log.Printf("federation: a new Antrag to %d followers on %d %s servers", n, hosts, kind)
		a, err := e.inst.Antraege.File(ctx, applicant, antrag.Filing{Title: "Signaturen"})
		check(err)
		awaitDelivered(ctx, e, antrag.AntragGestellt.Name(), a.ID)
		created := recv.take()
		_, err = e.inst.Antraege.Withdraw(ctx, applicant, a.ID)
		check(err)
		awaitDelivered(ctx, e, antrag.AntragZurueckgezogen.Name(), a.ID)
		updated := recv.take()
		recv.close()
		_, err = e.inst.Pool.Exec(ctx, `DELETE FROM ap_actors WHERE iri = ANY($1)`, func() []string {
			s := make([]string, len(rows))
			for i, r := range rows {
				s[i] = r[0].(string)
			}
			return s
		}())
		check(err)
		log.Printf("federation: sent again to the same inbox: %d of the new Antrag's, %d of the Update's", created.again, updated.again)
		fmt.Printf("| %d %s | %d | %d (%d) | %s | %d | %d (%d) | **%.2f×** |\n", hosts, kind, inboxes, created.posts, created.signed, created.byType(),
			created.again, updated.posts, updated.again, float64(created.signed)/float64(updated.signed))
	}
	fmt.Println()
}

// awaitDelivered waits until the delivery follower has passed the event of the type about
// subject and every delivery job it queued has run.
func awaitDelivered(ctx context.Context, e *env, typ string, subject uuid.UUID) {
	var at eventstore.Position
	check(e.inst.Pool.QueryRow(ctx, `SELECT tx, id FROM events WHERE type = $1 AND subject_id = $2`, typ, subject).Scan(&at.Tx, &at.ID))
	for {
		cur, err := eventstore.LoadCursor(ctx, e.inst.Pool, federation.DeliveryConsumer, false)
		check(err)
		if !at.After(cur) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	awaitJobs(ctx, e, "federation_deliver")
}

// counters are receiving servers, one a port: a server is a host and port to the delivery.
type counters struct {
	urls []string
	srvs []*http.Server
	mu   sync.Mutex
	got  postCount
}

type postCount struct {
	posts, signed int
	again         int // the same activity to the same inbox once more
	types         map[string]int
	seen          map[string]bool
}

func (c postCount) byType() string {
	s := ""
	for _, t := range []string{"Create", "Announce", "Update"} {
		if c.types[t] > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%d %s", c.types[t], t)
		}
	}
	return s
}

func startCounters(n int) *counters {
	c := &counters{got: postCount{types: map[string]int{}, seen: map[string]bool{}}}
	for range n {
		// 127.0.0.3 is among the hosts the instance may deliver to on loopback.
		ln, err := net.Listen("tcp", "127.0.0.3:0")
		check(err)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.NotFound(w, r)
				return
			}
			b, _ := io.ReadAll(r.Body)
			var act struct{ ID, Type string }
			_ = json.Unmarshal(b, &act)
			w.WriteHeader(http.StatusAccepted)
			c.mu.Lock()
			defer c.mu.Unlock()
			c.got.posts++
			if r.Header.Get("Signature") != "" {
				c.got.signed++
			}
			c.got.types[act.Type]++
			k := r.Host + r.URL.Path + " " + act.ID
			if c.got.seen[k] {
				c.got.again++
			}
			c.got.seen[k] = true
		})}
		go srv.Serve(ln)
		c.urls = append(c.urls, "http://"+ln.Addr().String())
		c.srvs = append(c.srvs, srv)
	}
	return c
}

// take returns what arrived since the last take.
func (c *counters) take() postCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = postCount{types: map[string]int{}, seen: map[string]bool{}}
	return got
}

func (c *counters) close() {
	for _, s := range c.srvs {
		_ = s.Close()
	}
}
