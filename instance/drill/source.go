package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Mark is the drill's moment on the live source: a named restore point in the WAL at which no
// write to the instance's tables was in flight, and a snapshot of exactly that state.
type Mark struct {
	Name string `json:"name"` // the restore point's name, "drill-<time>"
	LSN  string `json:"lsn"`  // its place in the WAL
	// LockWait is how long taking the locks took (writes to the tables already locked waited
	// meanwhile); Held how long all of them were held. A write waited at most their sum.
	LockWait time.Duration `json:"-"`
	Held     time.Duration `json:"-"`
	// Tries counts the attempts: a lock taken in the opposite order by a writer makes a
	// deadlock, which the drill loses on purpose and tries again.
	Tries int `json:"tries"`
}

// Stall is the longest a write can have waited for the drill.
func (m Mark) Stall() time.Duration { return m.LockWait + m.Held }

// MarkSource sets the restore point name on the source and leaves reader in a REPEATABLE
// READ, read-only transaction that sees the database exactly as it is there: locker takes
// every logged table of the schema IN SHARE MODE (writes wait; reads go on), so that no write
// is in flight, creates the restore point and exports its snapshot; reader imports it, and
// locker commits at once. Writes wait for the locks and the restore point only — the
// fingerprint, which takes long on a big log, is read from the imported snapshot while they
// go on. Both connections must be to the instance's database; reader's session should be
// Canonical. The caller reads with Take, then ends reader's transaction.
//
// The drill never makes a resident's write fail: its own deadlock timeout is shorter than any
// writer's, so in a deadlock (a writer holding one table and waiting for the next, which the
// drill holds) PostgreSQL picks the drill, which rolls back and tries again.
func MarkSource(ctx context.Context, locker, reader *pgx.Conn, name string) (Mark, error) {
	m := Mark{Name: name}
	// deadlock_timeout needs a superuser (the embedded cluster's role is one); on a server
	// where the instance's role is not, deadlocks are resolved by PostgreSQL's usual choice.
	_, _ = locker.Exec(ctx, `SET deadlock_timeout = '20ms'`)
	// A write transaction that runs long (a big import) would keep the drill waiting while
	// everyone behind it waits too: give up after a moment and try again.
	if _, err := locker.Exec(ctx, `SET lock_timeout = '2s'`); err != nil {
		return m, fmt.Errorf("drill: %w", err)
	}
	rels, err := relations(ctx, locker)
	if err != nil {
		return m, err
	}
	var idents []string
	for _, r := range rels {
		if !r.unlogged {
			idents = append(idents, r.ident)
		}
	}
	lock := `LOCK TABLE ` + strings.Join(idents, ", ") + ` IN SHARE MODE`
	for m.Tries = 1; ; m.Tries++ {
		err := m.try(ctx, locker, reader, lock)
		if err == nil {
			return m, nil
		}
		var pe *pgconn.PgError
		retry := errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "55P03") // deadlock, lock timeout
		if !retry || m.Tries == 500 || ctx.Err() != nil {
			return m, fmt.Errorf("drill: mark the source (try %d): %w", m.Tries, err)
		}
	}
}

func (m *Mark) try(ctx context.Context, locker, reader *pgx.Conn, lock string) error {
	tx, err := locker.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// The wall clock: this measures how long residents waited, not a rule's time.
	start := time.Now()
	if _, err := tx.Exec(ctx, lock); err != nil {
		return err
	}
	locked := time.Now()
	// The snapshot is taken by this statement, the first query of the transaction (LOCK
	// TABLE takes none): after every lock is held, so it and the restore point see the same
	// state.
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_create_restore_point($1)::text, pg_export_snapshot()`, m.Name).Scan(&m.LSN, &snapshot); err != nil {
		return err
	}
	rtx, err := reader.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	if _, err := rtx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil { // an id PostgreSQL made: [0-9A-F-]
		_ = rtx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		_ = rtx.Rollback(ctx)
		return err
	}
	m.LockWait, m.Held = locked.Sub(start), time.Since(locked)
	return nil
}

// WaitDurable returns once the WAL up to lsn is in the backup repository: on the disk of the
// synchronous WAL stream when the source has one (pg_stat_replication's weltgewebe_walstream
// has flushed past it), else archived (pg_stat_archiver's last archived segment is lsn's or a
// later one). It first ends the WAL segment (pg_switch_wal), which writes lsn out and lets the
// archiver take the segment. It waits for that state, however long, until ctx ends.
func WaitDurable(ctx context.Context, conn *pgx.Conn, lsn string) (how string, err error) {
	var segment string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name($1::pg_lsn)`, lsn).Scan(&segment); err != nil {
		return "", fmt.Errorf("drill: %w", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_switch_wal()`); err != nil {
		return "", fmt.Errorf("drill: end the WAL segment: %w", err)
	}
	var archiving bool
	if err := conn.QueryRow(ctx, `SELECT current_setting('archive_mode') <> 'off'`).Scan(&archiving); err != nil {
		return "", fmt.Errorf("drill: %w", err)
	}
	for {
		var streamed, archived bool
		var failed *string
		err := conn.QueryRow(ctx, `
SELECT coalesce((SELECT bool_or(flush_lsn >= $1::pg_lsn) FROM pg_stat_replication WHERE application_name = 'weltgewebe_walstream'), false),
       coalesce((SELECT last_archived_wal >= $2 AND last_archived_wal LIKE substr($2, 1, 8) || '%' FROM pg_stat_archiver), false),
       (SELECT last_failed_wal FROM pg_stat_archiver WHERE last_failed_time > coalesce(last_archived_time, '-infinity'))`,
			lsn, segment).Scan(&streamed, &archived, &failed)
		if err != nil {
			return "", fmt.Errorf("drill: %w", err)
		}
		switch {
		case streamed:
			return "streamed", nil
		case archived:
			return "archived", nil
		case !archiving:
			var stream bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_replication WHERE application_name = 'weltgewebe_walstream')`).Scan(&stream); err != nil {
				return "", fmt.Errorf("drill: %w", err)
			}
			if !stream {
				return "", errors.New("drill: the source neither archives its WAL nor streams it to a repository (serve --backup-repo)")
			}
		}
		select {
		case <-ctx.Done():
			if failed != nil {
				return "", fmt.Errorf("drill: the WAL at %s did not reach the repository (archiving %s fails): %w", lsn, *failed, ctx.Err())
			}
			return "", fmt.Errorf("drill: the WAL at %s did not reach the repository: %w", lsn, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
