package federation_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/internal/httpsig"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/mastopeer"
)

// errorAnswer is an error answer as a sender or fetcher sees it.
type errorAnswer struct {
	status        int
	code, message string
	retryAfter    string // "" means no Retry-After header at all
}

// errorContentType is what every error answer of federation is served as today.
const errorContentType = "application/json; charset=utf-8"

// expectErrorAnswer checks an answer against want: status, Content-Type, Retry-After (or its
// absence), and a body that is exactly {"error":{"code":…,"message":…}}, nothing more.
//
// Cache-Control is deliberately not checked: the step that answers federation's errors
// through respond.Error (D1 of docs/plans/federation-layout.md) adds "Cache-Control:
// no-store", and that is the one change of the answers it may make.
func expectErrorAnswer(t *testing.T, what string, got mastopeer.Answer, want errorAnswer) {
	t.Helper()
	if got.Status != want.status {
		t.Errorf("%s: status %d, want %d (%s)", what, got.Status, want.status, got.Body)
	}
	if ct := got.Header.Get("Content-Type"); ct != errorContentType {
		t.Errorf("%s: Content-Type %q, want %q", what, ct, errorContentType)
	}
	// A 401 names the scheme it wants (RFC 9110: a 401 carries a challenge); nothing else does.
	if wa := got.Header.Get("WWW-Authenticate"); want.status == http.StatusUnauthorized && !strings.HasPrefix(wa, `Signature realm="`) {
		t.Errorf("%s: WWW-Authenticate %q, want a Signature challenge", what, wa)
	} else if want.status != http.StatusUnauthorized && wa != "" {
		t.Errorf("%s: WWW-Authenticate %q on a %d", what, wa, want.status)
	}
	if ra, ok := got.Header["Retry-After"]; want.retryAfter == "" && ok {
		t.Errorf("%s: Retry-After %q, want none", what, ra)
	} else if want.retryAfter != "" && got.Header.Get("Retry-After") != want.retryAfter {
		t.Errorf("%s: Retry-After %q, want %q", what, got.Header.Get("Retry-After"), want.retryAfter)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(got.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Errorf("%s: not an error answer of the one shape: %v: %s", what, err, got.Body)
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Errorf("%s: more than one JSON value: %s", what, got.Body)
	}
	if body.Error.Code != want.code || body.Error.Message != want.message {
		t.Errorf("%s: %q %q, want %q %q", what, body.Error.Code, body.Error.Message, want.code, want.message)
	}
}

// answerTo sends req and reads the whole answer.
func answerTo(t *testing.T, req *http.Request) mastopeer.Answer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mastopeer.Answer{Status: res.StatusCode, Header: res.Header, Body: b}
}

// fetchAP GETs url as a Fediverse server does, unsigned.
func fetchAP(t *testing.T, url string) mastopeer.Answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/activity+json")
	return answerTo(t, req)
}

// The error answers of federation's HTTP handlers (inbox, objects, actors, discovery), pinned
// as they are: status, code, message, Content-Type and Retry-After. It guards the move of
// these answers from apError/serverError to respond.Error (step D1), which must leave every
// one of them as it is (Cache-Control aside, see expectErrorAnswer). A new error answer
// belongs in here too.
func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	host := strings.TrimPrefix(inst.URL, "http://")
	inbox := inst.URL + "/ap/inbox"
	jana := inst.VerifiedResident("Jana", lat, lon)
	var knoten struct {
		ID    string `json:"id"`
		Faden struct {
			ID string `json:"id"`
		} `json:"faden"`
	}
	jana.Post("/api/knoten", map[string]any{"type": "idee", "title": "Trinkbrunnen", "lat": lat, "lon": lon}).Expect(t, 201).JSON(t, &knoten)
	inst.Admin().Post("/api/admin/federation/blocks", map[string]string{"domain": "blocked.example"}).Expect(t, http.StatusOK)
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(context.Background(), 5*patience)
	defer cancel()

	n := 0
	// note is a Create of a public Note by actor, new at each call unless id is given.
	note := func(actor, id string) []byte {
		n++
		if id == "" {
			id = fmt.Sprintf("%s/statuses/%d/activity", actor, n)
		}
		b, _ := json.Marshal(map[string]any{"@context": mastopeer.ASContext, "id": id, "type": "Create", "actor": actor,
			"object": map[string]any{"id": fmt.Sprintf("%s/statuses/%d", actor, n), "type": "Note", "attributedTo": actor,
				"content": "<p>Hallo</p>", "to": []string{mastopeer.Public}}})
		return b
	}
	deliver := func(body []byte, opt mastopeer.SignOptions) mastopeer.Answer {
		t.Helper()
		a, err := peer.DeliverAnswer(ctx, inbox, body, opt)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// A delivery taken, so that the peer's key is known.
	taken := note(peer.ActorID(), "")
	if a := deliver(taken, mastopeer.SignOptions{}); a.Status != http.StatusAccepted {
		t.Fatalf("a correct delivery: %d %s", a.Status, a.Body)
	}
	hiccup, hiccupKey := stageActor(t, peer, "hiccup")
	gone, goneKey := stageActor(t, peer, "gone")
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	rows := []struct {
		name string
		do   func(t *testing.T) mastopeer.Answer
		want errorAnswer
	}{
		{"inbox: unsigned", func(t *testing.T) mastopeer.Answer {
			req, _ := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(note(peer.ActorID(), "")))
			req.Header.Set("Content-Type", "application/activity+json")
			return answerTo(t, req)
		}, errorAnswer{401, "signature_missing", "This request needs an HTTP signature.", ""}},
		{"inbox: empty Signature header", func(t *testing.T) mastopeer.Answer {
			req, _ := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(note(peer.ActorID(), "")))
			req.Header.Set("Content-Type", "application/activity+json")
			req.Header.Set("Signature", " ")
			return answerTo(t, req)
		}, errorAnswer{401, "signature_missing", "This request needs an HTTP signature.", ""}},
		{"inbox: body too large", func(t *testing.T) mastopeer.Answer {
			return deliver([]byte(`{"id":"`+peer.ActorID()+`/x","type":"Create","actor":"`+peer.ActorID()+`","pad":"`+strings.Repeat("x", 300<<10)+`"}`), mastopeer.SignOptions{})
		}, errorAnswer{413, "too_large", "Activities are limited to 262144 bytes.", ""}},
		{"inbox: body cut off", func(t *testing.T) mastopeer.Answer {
			// A chunked body whose first chunk size is no number: reading it fails.
			conn, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(patience))
			fmt.Fprintf(conn, "POST /ap/inbox HTTP/1.1\r\nHost: %s\r\nSignature: keyId=\"%s\"\r\nContent-Type: application/activity+json\r\n"+
				"Transfer-Encoding: chunked\r\n\r\nzz\r\n", host, peer.KeyID())
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return mastopeer.Answer{Status: res.StatusCode, Header: res.Header, Body: b}
		}, errorAnswer{400, "unreadable_body", "The body could not be read.", ""}},
		{"inbox: U+0000", func(t *testing.T) mastopeer.Answer {
			return deliver(bytes.Replace(note(peer.ActorID(), ""), []byte("Hallo"), []byte(`Hal\u0000lo`), 1), mastopeer.SignOptions{})
		}, errorAnswer{400, "invalid_text", "The activity holds a string that is not text: invalid UTF-8, an unpaired surrogate or U+0000.", ""}},
		{"inbox: not JSON", func(t *testing.T) mastopeer.Answer {
			return deliver([]byte("hello"), mastopeer.SignOptions{})
		}, errorAnswer{400, "not_an_activity", "The body is not an activity with an id and an actor.", ""}},
		{"inbox: no actor", func(t *testing.T) mastopeer.Answer {
			return deliver([]byte(`{"id":"`+peer.ActorID()+`/x","type":"Create"}`), mastopeer.SignOptions{})
		}, errorAnswer{400, "not_an_activity", "The body is not an activity with an id and an actor.", ""}},
		{"inbox: blocked domain", func(t *testing.T) mastopeer.Answer {
			return deliver(note("https://blocked.example/users/x", ""), mastopeer.SignOptions{KeyID: "https://blocked.example/users/x#main-key"})
		}, errorAnswer{403, "domain_blocked", "This domain is blocked here.", ""}},
		{"inbox: the key is another actor's", func(t *testing.T) mastopeer.Answer {
			return deliver(note(peer.BaseURL()+"/users/mallory", ""), mastopeer.SignOptions{})
		}, errorAnswer{401, "key_not_actors", "The signing key does not belong to the activity's actor.", ""}},
		{"inbox: id on another host", func(t *testing.T) mastopeer.Answer {
			return deliver(note(peer.ActorID(), "http://elsewhere.example/activities/1"), mastopeer.SignOptions{})
		}, errorAnswer{401, "id_not_on_actor_host", "The activity's id is not on its actor's host.", ""}},
		{"inbox: wrong key", func(t *testing.T) mastopeer.Answer {
			return deliver(note(peer.ActorID(), ""), mastopeer.SignOptions{Key: otherKey})
		}, errorAnswer{401, "signature_invalid", "The HTTP signature does not verify.", ""}},
		{"inbox: stale date", func(t *testing.T) mastopeer.Answer {
			return deliver(note(peer.ActorID(), ""), mastopeer.SignOptions{Date: time.Now().Add(-2 * time.Hour)})
		}, errorAnswer{401, "date_outside_window", "The signed Date is missing or too far from our time.", ""}},
		{"inbox: tampered body", func(t *testing.T) mastopeer.Answer {
			return deliver(note(peer.ActorID(), ""), mastopeer.SignOptions{Tamper: func(b []byte) []byte { return bytes.Replace(b, []byte("Hallo"), []byte("Hallö"), 1) }})
		}, errorAnswer{401, "digest_mismatch", "The body needs a signed SHA-256 Digest that matches it.", ""}},
		{"inbox: signed for another host", func(t *testing.T) mastopeer.Answer {
			body := note(peer.ActorID(), "")
			req, _ := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/activity+json")
			req.Host = "elsewhere.example"
			if err := httpsig.Sign(req, body, peer.KeyID(), peer.PrivateKey(), time.Now()); err != nil {
				t.Fatal(err)
			}
			return answerTo(t, req)
		}, errorAnswer{401, "wrong_host", "The request was not signed for this host.", ""}},
		{"inbox: key server says the actor is gone", func(t *testing.T) mastopeer.Answer {
			peer.FailNext("/users/gone", http.StatusGone)
			return deliver(note(gone, ""), mastopeer.SignOptions{KeyID: gone + "#main-key", Key: goneKey})
		}, errorAnswer{401, "key_unavailable", "The signing key could not be obtained from its actor.", ""}},
		{"inbox: key server hiccup", func(t *testing.T) mastopeer.Answer {
			peer.FailNext("/users/hiccup", http.StatusServiceUnavailable)
			return deliver(note(hiccup, ""), mastopeer.SignOptions{KeyID: hiccup + "#main-key", Key: hiccupKey})
		}, errorAnswer{503, "key_fetch_failed", "The signing key could not be fetched from its server just now; try again later.", "60"}},

		// Objects: whatever the domain calls the thing that is not there, the answer is the
		// generic one.
		{"object: unknown Antrag", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/antraege/"+uuid.NewString())
		}, errorAnswer{404, "not_found", "Not found.", ""}},
		{"object: not a uuid", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/antraege/bank")
		}, errorAnswer{404, "not_found", "Not found.", ""}},
		{"object: unknown Knoten", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/knoten/"+uuid.NewString())
		}, errorAnswer{404, "not_found", "Not found.", ""}},
		{"object: unknown activity", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/activities/999999999")
		}, errorAnswer{404, "not_found", "Not found.", ""}},
		{"object: a Flag's id (never served)", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/flags/"+uuid.NewString())
		}, errorAnswer{404, "flag_not_served", "Reports are delivered to the reported account's server, not served; this id only names one.", ""}},
		{"outbox: unknown resident", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/users/niemand/outbox")
		}, errorAnswer{404, "not_found", "Not found.", ""}},
		{"actor: unknown resident", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/users/niemand")
		}, errorAnswer{404, "not_found", "No such actor.", ""}},
		{"webfinger: unknown account", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/.well-known/webfinger?resource=acct:niemand@"+host)
		}, errorAnswer{404, "not_found", "No such account.", ""}},
		{"webfinger: another host's account", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/.well-known/webfinger?resource=acct:jana@elsewhere.example")
		}, errorAnswer{404, "not_found", "Not an account of this host.", ""}},
		{"nodeinfo: unknown version", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/nodeinfo/3.0")
		}, errorAnswer{404, "not_found", "NodeInfo 2.0 and 2.1 are served.", ""}},

		// Last, since it moves the instance's clock: a Faden expires, and with it the Knoten
		// it alone held (knoten_dissolved to the API, the generic gone here).
		{"object: expired Faden", func(t *testing.T) mastopeer.Answer {
			inst.Advance("8d")
			return fetchAP(t, inst.URL+"/ap/faeden/"+knoten.Faden.ID)
		}, errorAnswer{410, "gone", "Deleted.", ""}},
		{"object: dissolved Knoten", func(t *testing.T) mastopeer.Answer {
			return fetchAP(t, inst.URL+"/ap/knoten/"+knoten.ID)
		}, errorAnswer{410, "gone", "Deleted.", ""}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) { expectErrorAnswer(t, r.name, r.do(t), r.want) })
	}

	t.Run("authorized fetch", func(t *testing.T) {
		af := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", AuthorizedFetch: true})
		expectErrorAnswer(t, "an unsigned GET", fetchAP(t, af.URL+"/ap/ortsweberei/outbox"),
			errorAnswer{401, "signature_missing", "This instance answers signed requests only. This request needs an HTTP signature.", ""})
		req, _ := http.NewRequest(http.MethodGet, af.URL+"/ap/ortsweberei/outbox", nil)
		req.Header.Set("Accept", "application/activity+json")
		if err := httpsig.Sign(req, nil, peer.KeyID(), peer.PrivateKey(), time.Now().Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		expectErrorAnswer(t, "a GET signed two hours ago", answerTo(t, req),
			errorAnswer{401, "date_outside_window", "This instance answers signed requests only. The signed Date is missing or too far from our time.", ""})
		// The signer's key server not answering just now is no refusal here either: as at the
		// inbox, try again later.
		fetcher, fetcherKey := stageActor(t, peer, "fetcher")
		peer.FailNext("/users/fetcher", http.StatusServiceUnavailable)
		req, _ = http.NewRequest(http.MethodGet, af.URL+"/ap/ortsweberei/outbox", nil)
		req.Header.Set("Accept", "application/activity+json")
		if err := httpsig.Sign(req, nil, fetcher+"#main-key", fetcherKey, time.Now()); err != nil {
			t.Fatal(err)
		}
		expectErrorAnswer(t, "a GET signed by a key its server does not hand out just now", answerTo(t, req),
			errorAnswer{503, "key_fetch_failed", "The signing key could not be fetched from its server just now; try again later.", "60"})
	})

	t.Run("our database", func(t *testing.T) { ourDatabaseAnswers(t) })
}

// ourDatabaseAnswers pins the answers for our side's failures: a statement that fails (500),
// a request that runs past its deadline and a database that cannot be reached (503 with
// Retry-After). The instance runs on a cluster of its own, which is stopped for the outage,
// as in instance.TestDatabaseOutage.
func ourDatabaseAnswers(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wgerrors-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the cluster may run as another user
		t.Fatal(err)
	}
	opts := pgcluster.Options{DataDir: filepath.Join(dir, "data"), Throwaway: true}
	cluster, err := pgcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Stop() }) // after the instances, whichever cluster runs by then
	admin, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err == nil {
		_, err = admin.Exec(ctx, `CREATE DATABASE weltgewebe`)
		admin.Close(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	inst := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1", DatabaseURL: cluster.URL("weltgewebe")})
	// A second process of the same Ortsweberei with a short deadline, for the request that
	// meets it; the first keeps the tests' generous one.
	hasty := instancetest.Start(t, instancetest.Options{ReplicaOf: inst, RequestTimeout: 3 * time.Second})
	peer := mastopeer.Start(t, "127.0.0.9")
	ctx, cancel := context.WithTimeout(ctx, 5*patience)
	defer cancel()
	// Each delivery is from an actor not met before: its key is looked up in ap_actors. It is
	// signed for the Ortsweberei's host, whichever of its processes it is sent to.
	deliver := func(to *instancetest.Instance, name string) mastopeer.Answer {
		t.Helper()
		actor, key := stageActor(t, peer, name)
		_, body := publicReply(actor, inst.URL+"/ap/antraege/"+uuid.NewString(), "1")
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, to.URL+"/ap/inbox", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/activity+json")
		req.Host = strings.TrimPrefix(inst.URL, "http://")
		if err := httpsig.Sign(req, body, actor+"#main-key", key, time.Now()); err != nil {
			t.Fatal(err)
		}
		return answerTo(t, req)
	}

	// A statement of ours fails: the actors' table is away for a moment.
	if _, err := inst.Pool.Exec(ctx, `ALTER TABLE ap_actors RENAME TO away`); err != nil {
		t.Fatal(err)
	}
	a := deliver(inst, "failing")
	if _, err := inst.Pool.Exec(ctx, `ALTER TABLE away RENAME TO ap_actors`); err != nil {
		t.Fatal(err)
	}
	expectErrorAnswer(t, "inbox: our statement fails", a,
		errorAnswer{500, "internal", "Something went wrong on our side; it has been logged.", ""})

	// The actors' table is locked: reading it waits until the request's deadline ends it.
	tx, err := inst.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE ap_actors IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	a = deliver(hasty, "slow")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	expectErrorAnswer(t, "inbox: past our deadline", a,
		errorAnswer{503, "request_timeout", "The request took too long and was stopped; try again later.", "5"})

	cluster.Stop()
	unavailable := errorAnswer{503, "database_unavailable", "The database cannot be reached just now; try again in a few seconds.", "5"}
	expectErrorAnswer(t, "inbox: our database is down", deliver(inst, "outage"), unavailable)
	expectErrorAnswer(t, "object: our database is down", fetchAP(t, inst.URL+"/ap/activities/1"), unavailable)
	// Back, so that the instances stop as usual rather than wait for a database to resign from.
	if cluster, err = pgcluster.Start(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
}
