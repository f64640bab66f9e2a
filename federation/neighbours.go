package federation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/vocab"
)

// ErrNotOrtsweberei is returned when a neighbour to federate with is not a Weltgewebe Ortsweberei.
var ErrNotOrtsweberei = errors.New("federation: that is not the Ortsweberei of a Weltgewebe instance")

// Federate makes this Ortsweberei and a neighbouring one follow each other: ours follows theirs
// now, and theirs follows back when it accepts. target is the neighbour's base URL
// (https://nachbar.example), its handle (ortsweberei@nachbar.example) or its actor's URL.
func (s *Service) Federate(ctx context.Context, target string) (string, error) {
	iri, err := s.resolveTarget(ctx, target)
	if err != nil {
		return "", err
	}
	a, err := s.remoteActor(ctx, iri, true)
	if err != nil {
		return "", err
	}
	if !a.IsOrtsweberei() {
		return "", ErrNotOrtsweberei
	}
	return a.IRI, s.follow(ctx, a)
}

func (s *Service) resolveTarget(ctx context.Context, target string) (string, error) {
	target = strings.TrimSpace(strings.TrimPrefix(target, "@"))
	if u, err := url.Parse(target); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		if u.Path == "" || u.Path == "/" {
			return s.fetch.WebFinger(ctx, u.Scheme, "ortsweberei", u.Host)
		}
		return target, nil
	}
	if user, host, ok := strings.Cut(target, "@"); ok && user != "" && host != "" {
		scheme := "https"
		if s.cfg.Dev {
			scheme = "http" // local test setups run without TLS
		}
		return s.fetch.WebFinger(ctx, scheme, user, host)
	}
	return "", fmt.Errorf("federation: %q is neither a URL nor user@host", target)
}

// follow has our Ortsweberei follow a remote actor (once).
func (s *Service) follow(ctx context.Context, a *remoteActor) error {
	return database.InTx(ctx, s.pool, func(tx *database.Tx) error { return s.followTx(ctx, tx, a) })
}

// followTx records the follow, its event and the delivery of the Follow in tx: all three
// commit together, so a follow is never recorded without its Follow on the way, nor sent
// without being recorded.
func (s *Service) followTx(ctx context.Context, tx *database.Tx, a *remoteActor) error {
	followID := s.iri.Group() + "#follows/" + uuid.NewString()
	tag, err := tx.Exec(ctx, `INSERT INTO ap_following (remote, follow_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		a.IRI, followID, s.wall.Now())
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if err := eventstore.Append(tx, s.clock.Now(), NachbarAngefragt.New(eventstore.Header{}, NachbarV1{Neighbour: a.IRI, FollowID: followID})); err != nil {
		return err
	}
	return s.enqueueTx(ctx, riverTx{tx}, iri.GroupPath, a.Inbox, vocab.Activity{Context: vocab.Context, ID: followID, Type: "Follow",
		Actor: s.iri.Group(), Object: a.IRI, To: []string{a.IRI}})
}

// enqueueTx queues one activity for one inbox in the caller's transaction: the delivery
// exists exactly when what it announces was committed. It is enqueue's transactional twin
// and goes the same way (queueTx, deliver.go).
func (s *Service) enqueueTx(ctx context.Context, tx pgx.Tx, signer, inbox string, activity any) error {
	return s.queueTx(ctx, tx, signer, []string{inbox}, activity)
}

// riverTx hands one of our pipelined transactions (database.Tx) to code that takes a pgx.Tx
// (River's InsertTx, queueTx), so that a job is inserted in the same transaction as what it is
// about. River's insert needs only Exec, Query and QueryRow; the rest of what a pgx.Tx can do (commit, roll back, nest,
// batch, copy) belongs to the transaction's owner and is refused here.
type riverTx struct{ tx *database.Tx }

var errNotOurTx = errors.New("federation: this transaction is run by database.InTx")

func (t riverTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return t.tx.Exec(ctx, sql, args...)
}
func (t riverTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.tx.Query(ctx, sql, args...)
}
func (t riverTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return t.tx.QueryRow(ctx, sql, args...)
}
func (riverTx) Begin(context.Context) (pgx.Tx, error) { return nil, errNotOurTx }
func (riverTx) Commit(context.Context) error          { return errNotOurTx }
func (riverTx) Rollback(context.Context) error        { return errNotOurTx }
func (riverTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errNotOurTx
}
func (riverTx) SendBatch(context.Context, *pgx.Batch) pgx.BatchResults { return refusedBatch{} }
func (riverTx) LargeObjects() pgx.LargeObjects                         { return pgx.LargeObjects{} }
func (riverTx) Prepare(context.Context, string, string) (*pgconn.StatementDescription, error) {
	return nil, errNotOurTx
}
func (riverTx) Conn() *pgx.Conn { return nil }

type refusedBatch struct{}

func (refusedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, errNotOurTx }
func (refusedBatch) Query() (pgx.Rows, error)         { return nil, errNotOurTx }
func (refusedBatch) QueryRow() pgx.Row                { return refusedRow{} }
func (refusedBatch) Close() error                     { return errNotOurTx }
func (refusedBatch) Tx() pgx.Tx                       { return nil }

type refusedRow struct{}

func (refusedRow) Scan(...any) error { return errNotOurTx }
