package database_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A blocked domain's rows are found by the host in their IRIs: the domain itself and its
// subdomains, on any port and in any case, and nothing on a name that merely ends or begins
// with the same letters.
func TestOnDomain(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	iris := []string{
		"https://spam.example/users/a",
		"https://SPAM.example/users/b",
		"https://spam.example:8443/users/c",
		"https://eu.spam.example/users/d",
		"http://a.b.spam.example/x",
		"https://notspam.example/users/e",
		"https://spam.example.org/users/f",
		"https://example/users/g",
		"https://other.example/users/spam.example",
		"https://other.example/?u=https://spam.example/",
	}
	rows, err := pool.Query(ctx, `SELECT iri FROM unnest($2::text[]) AS t(iri) WHERE `+database.OnDomain("iri")+` ORDER BY iri`,
		"spam.example", iris)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://a.b.spam.example/x", "https://SPAM.example/users/b", "https://eu.spam.example/users/d",
		"https://spam.example/users/a", "https://spam.example:8443/users/c"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("on spam.example:\n got %q\nwant %q", got, want)
	}
}
