package antrag_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/abstimmung"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/antrag"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

const lat, lon = 51.3362, 12.3363

func resident(t *testing.T, inst *instancetest.Instance, name string) account.Account {
	t.Helper()
	a, err := inst.Accounts.Get(context.Background(), uuid.MustParse(inst.VerifiedResident(name, lat, lon).ID))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func file(t *testing.T, inst *instancetest.Instance, by account.Account, title string) antrag.Antrag {
	t.Helper()
	a, err := inst.Antraege.File(context.Background(), by, antrag.Filing{Title: title})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Public replies from the Fediverse are shown with the Antrag, oldest first, as safe HTML;
// only their author changes or removes them; each stored reply is on the log.
func TestCommentsFromTheFediverse(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	a := file(t, inst, resident(t, inst, "Ada"), "Bank am Teich")
	events := func() int {
		return inst.Count(`SELECT count(*) FROM events WHERE type = 'KommentarEmpfangen' AND subject_id = $1 AND NOT public`, a.ID)
	}
	alice, bob := "https://social.example/users/alice", "https://other.example/users/bob"
	k1 := antrag.Kommentar{AntragID: a.ID, IRI: alice + "/statuses/1", Author: alice, AuthorName: "Alice (@alice@social.example)",
		ContentHTML: `<p>Gute Idee</p><script>alert(1)</script>`, Published: a.OpenedAt.Add(2 * time.Hour)}
	k2 := antrag.Kommentar{AntragID: a.ID, IRI: bob + "/statuses/9", Author: bob, AuthorName: "Bob (@bob@other.example)",
		ContentHTML: `<p>Bitte mit Lehne <a href="javascript:alert(1)">hier</a></p>`, Published: a.OpenedAt.Add(time.Hour)}
	for _, k := range []antrag.Kommentar{k1, k2} {
		if err := inst.Antraege.AddComment(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is stored for a reply without content, or one to an Antrag we do not have.
	if err := inst.Antraege.AddComment(ctx, antrag.Kommentar{AntragID: a.ID, IRI: alice + "/statuses/2", Author: alice,
		ContentHTML: `<script>alert(1)</script> `, Published: a.OpenedAt}); err != nil {
		t.Fatal(err)
	}
	stray := k1
	stray.AntragID, stray.IRI = uuid.New(), alice+"/statuses/3"
	if err := inst.Antraege.AddComment(ctx, stray); !errors.Is(err, antrag.ErrNotFound) {
		t.Fatalf("a reply to an unknown Antrag: %v, want ErrNotFound", err)
	}
	if n := events(); n != 2 {
		t.Errorf("%d KommentarEmpfangen, want 2", n)
	}
	if n := inst.Count(`SELECT count(*) FROM antrag_kommentare`); n != 2 {
		t.Errorf("%d comments stored, want 2", n)
	}
	shown := func() []string {
		t.Helper()
		ks, err := inst.Antraege.Comments(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ks {
			if k.AntragID != a.ID {
				t.Errorf("comment %s names Antrag %s", k.IRI, k.AntragID)
			}
			out = append(out, k.AuthorName+": "+k.ContentHTML)
		}
		return out
	}
	want := []string{`Bob (@bob@other.example): <p>Bitte mit Lehne hier</p>`, `Alice (@alice@social.example): <p>Gute Idee</p>`}
	if got := shown(); !slices.Equal(got, want) {
		t.Fatalf("comments\n got %q\nwant %q", got, want)
	}

	// Alice edits her reply; Bob cannot, nor remove it.
	edit := k1
	edit.ContentHTML = "<p>Gute Idee, mit Schatten</p>"
	if err := inst.Antraege.AddComment(ctx, edit); err != nil {
		t.Fatal(err)
	}
	forged := k1
	forged.Author, forged.ContentHTML = bob, "<p>Schlechte Idee</p>"
	if err := inst.Antraege.AddComment(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if err := inst.Antraege.RemoveComment(ctx, k1.IRI, bob); err != nil {
		t.Fatal(err)
	}
	want[1] = `Alice (@alice@social.example): <p>Gute Idee, mit Schatten</p>`
	if got := shown(); !slices.Equal(got, want) {
		t.Fatalf("after Alice's edit and Bob's tries\n got %q\nwant %q", got, want)
	}
	if err := inst.Antraege.RemoveComment(ctx, k1.IRI, alice); err != nil {
		t.Fatal(err)
	}
	if got := shown(); !slices.Equal(got, want[:1]) {
		t.Fatalf("after Alice removed hers\n got %q\nwant %q", got, want[:1])
	}
}

// Fediverse poll votes are counted by choice beside the Antrag: one per voter, the one cast
// last; none after the poll ended (the deadline, the Abstimmung's close, or the withdrawal);
// a voter removes only their own.
func TestForeignVotes(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	ada := resident(t, inst, "Ada")
	a := file(t, inst, ada, "Bank am Teich")
	counts := func(id uuid.UUID) antrag.ForeignVotes {
		t.Helper()
		v, err := inst.Antraege.ForeignVotes(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	vote := func(id uuid.UUID, voter, choice string, at time.Time) error {
		return inst.Antraege.RecordForeignVote(ctx, antrag.Fremdstimme{AntragID: id, Voter: "https://social.example/users/" + voter,
			Choice: choice, CastAt: at, Object: "https://social.example/users/" + voter + "#votes/" + at.Format(time.RFC3339Nano)})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	t0 := a.OpenedAt
	must(vote(a.ID, "alice", abstimmung.Yes, t0.Add(time.Hour)))
	must(vote(a.ID, "bob", abstimmung.No, t0.Add(time.Hour)))
	must(vote(a.ID, "carol", abstimmung.Abstain, t0.Add(time.Hour)))
	must(vote(a.ID, "alice", abstimmung.No, t0.Add(30*time.Minute))) // older: arrives late, changes nothing
	if got, want := counts(a.ID), (antrag.ForeignVotes{Yes: 1, No: 1, Abstain: 1}); got != want {
		t.Fatalf("three voters, one late older vote: %+v, want %+v", got, want)
	}
	must(vote(a.ID, "alice", abstimmung.No, t0.Add(2*time.Hour))) // she changes her mind
	if got, want := counts(a.ID), (antrag.ForeignVotes{No: 2, Abstain: 1}); got != want || got.Total() != 3 {
		t.Fatalf("after Alice's change: %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		what string
		err  error
		want error
	}{
		{"at the deadline", vote(a.ID, "dave", abstimmung.Yes, a.DecisionDeadline), antrag.ErrPollClosed},
		{"not an option", vote(a.ID, "dave", "vielleicht", t0.Add(time.Hour)), abstimmung.ErrInvalidChoice},
		{"on an Antrag we do not have", vote(uuid.New(), "dave", abstimmung.Yes, t0.Add(time.Hour)), antrag.ErrNotFound},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("a vote %s: %v, want %v", c.what, c.err, c.want)
		}
	}
	if got := inst.Count(`SELECT count(*) FROM antrag_fremdstimmen`); got != 3 {
		t.Errorf("%d votes stored after the refusals, want 3", got)
	}
	// Every vote kept is an event, private (the polls are anonymous); the late older one and
	// the refusals left none: three first votes and Alice's change.
	if got := inst.Count(`SELECT count(*) FROM events WHERE type = 'FremdstimmeEmpfangen' AND subject_id = $1 AND NOT public`, a.ID); got != 4 {
		t.Errorf("%d FremdstimmeEmpfangen, want 4", got)
	}
	if got := inst.Count(`SELECT count(*) FROM events WHERE type = 'FremdstimmeEmpfangen'`); got != 4 {
		t.Errorf("%d FremdstimmeEmpfangen in all, want 4", got)
	}
	// Only Bob's own Delete removes his vote.
	bobs := "https://social.example/users/bob#votes/" + t0.Add(time.Hour).Format(time.RFC3339Nano)
	must(inst.Antraege.DeleteForeignVote(ctx, bobs, "https://social.example/users/alice"))
	must(inst.Antraege.DeleteForeignVote(ctx, "https://social.example/users/bob#votes/other", "https://social.example/users/bob"))
	if got := counts(a.ID).No; got != 2 {
		t.Fatalf("others' Deletes removed Bob's vote: %d no", got)
	}
	must(inst.Antraege.DeleteForeignVote(ctx, bobs, "https://social.example/users/bob"))
	if got, want := counts(a.ID), (antrag.ForeignVotes{No: 1, Abstain: 1}); got != want {
		t.Fatalf("after Bob's Delete: %+v, want %+v", got, want)
	}

	// Withdrawn: the poll ended then.
	w, err := inst.Antraege.Withdraw(ctx, ada, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := vote(a.ID, "erin", abstimmung.Yes, *w.DecidedAt); !errors.Is(err, antrag.ErrPollClosed) {
		t.Errorf("a vote when it was withdrawn: %v, want ErrPollClosed", err)
	}
	must(vote(a.ID, "erin", abstimmung.Yes, w.DecidedAt.Add(-time.Microsecond)))

	// With an Abstimmung the poll runs until its close, past the decision deadline.
	b := file(t, inst, ada, "Brunnen")
	if _, err := inst.Antraege.Object(ctx, resident(t, inst, "Ben"), b.ID, "Zu teuer"); err != nil {
		t.Fatal(err)
	}
	inst.Advance("15d")
	b, err = inst.Antraege.Get(ctx, b.ID)
	if err != nil || b.AbstimmungID == nil {
		t.Fatalf("no Abstimmung after the deadline: %+v, %v", b, err)
	}
	v, err := inst.Abstimmungen.Find(ctx, *b.AbstimmungID)
	if err != nil {
		t.Fatal(err)
	}
	must(vote(b.ID, "alice", abstimmung.Yes, b.DecisionDeadline.Add(time.Hour)))
	must(vote(b.ID, "bob", abstimmung.No, v.ClosesAt.Add(-time.Second)))
	if err := vote(b.ID, "carol", abstimmung.No, v.ClosesAt); !errors.Is(err, antrag.ErrPollClosed) {
		t.Errorf("a vote at the Abstimmung's close: %v, want ErrPollClosed", err)
	}
	if got, want := counts(b.ID), (antrag.ForeignVotes{Yes: 1, No: 1}); got != want {
		t.Errorf("votes during the Abstimmung: %+v, want %+v", got, want)
	}
}

// A blocked domain's replies and poll votes go, its subdomains' too; others stay.
func TestForgetDomainComments(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	a := file(t, inst, resident(t, inst, "Ada"), "Bank am Teich")
	hosts := []string{"spam.example", "eu.spam.example:8443", "notspam.example", "good.example"}
	for i, h := range hosts {
		actor := "https://" + h + "/users/x"
		if err := inst.Antraege.AddComment(ctx, antrag.Kommentar{AntragID: a.ID, IRI: actor + "/statuses/1", Author: actor,
			ContentHTML: "<p>Hallo</p>", Published: a.OpenedAt.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := inst.Antraege.RecordForeignVote(ctx, antrag.Fremdstimme{AntragID: a.ID, Voter: actor, Choice: abstimmung.Yes,
			CastAt: a.OpenedAt.Add(time.Minute), Object: actor + "#votes/1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := database.InTx(ctx, inst.Pool, func(tx *database.Tx) error {
		return inst.Antraege.ForgetDomainTx(ctx, tx, "spam.example")
	}); err != nil {
		t.Fatal(err)
	}
	ks, err := inst.Antraege.Comments(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var authors []string
	for _, k := range ks {
		authors = append(authors, k.Author)
	}
	if want := []string{"https://notspam.example/users/x", "https://good.example/users/x"}; !slices.Equal(authors, want) {
		t.Errorf("comments left: %q, want %q", authors, want)
	}
	if v, err := inst.Antraege.ForeignVotes(ctx, a.ID); err != nil || v.Yes != 2 {
		t.Errorf("poll votes left: %+v (%v), want 2", v, err)
	}
}

// A reply and its KommentarEmpfangen commit together (layout plan §4): when the log refuses
// the event, the reply is not shown either, and the retry stores it once.
func TestCommentNotStoredWithoutItsEvent(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	a := file(t, inst, resident(t, inst, "Ada"), "Bank am Teich")
	// The log refuses the event as a full disk or a lost connection would: after the row.
	for _, sql := range []string{
		`CREATE FUNCTION refuse_kommentar() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the log refuses %', NEW.type; END $$`,
		`CREATE TRIGGER refuse_kommentar BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.type = 'KommentarEmpfangen') EXECUTE FUNCTION refuse_kommentar()`,
	} {
		pgtest.DDL(t, ctx, inst.Pool, sql)
	}
	alice := "https://social.example/users/alice"
	k := antrag.Kommentar{AntragID: a.ID, IRI: alice + "/statuses/1", Author: alice, AuthorName: "Alice (@alice@social.example)",
		ContentHTML: `<p>Gute Idee</p>`, Published: a.OpenedAt.Add(time.Hour)}
	if err := inst.Antraege.AddComment(ctx, k); err == nil {
		t.Fatal("the reply was stored although the log refused its event")
	}
	if cs, err := inst.Antraege.Comments(ctx, a.ID); err != nil || len(cs) != 0 {
		t.Errorf("comments without their KommentarEmpfangen: %v, %v", cs, err)
	}
	pgtest.DDL(t, ctx, inst.Pool, `DROP TRIGGER refuse_kommentar ON events`)
	if err := inst.Antraege.AddComment(ctx, k); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	cs, err := inst.Antraege.Comments(ctx, a.ID)
	if n := inst.Count(`SELECT count(*) FROM events WHERE type = 'KommentarEmpfangen' AND subject_id = $1`, a.ID); err != nil || len(cs) != 1 || n != 1 {
		t.Errorf("after the retry: %d comments (%v), %d KommentarEmpfangen, want 1 each", len(cs), err, n)
	}
}
