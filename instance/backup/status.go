// Package backup is what the instance knows about its backups: their status for admins
// (GET /api/admin/backup, `weltgewebe backup status`, the metrics) and the nightly schedule.
// pgBackRest does the work (internal/pgbackrest); the WAL archiver's and the stream's state
// come from PostgreSQL's own views (pg_stat_archiver, pg_stat_replication,
// pg_replication_slots), so that they can be read from any server, the embedded one or not.
package backup

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// StreamSlot is the WAL stream's replication slot and application_name
// (docs/plans/operations.md, decision 1).
const StreamSlot = "weltgewebe_walstream"

// WAL modes (--backup-wal): sync waits for the stream at each commit, archive has no stream.
const (
	WALSync    = "sync"
	WALArchive = "archive"
)

// Report is the backup status.
type Report struct {
	// Configured: a repository is configured (--backup-repo). Without one, Archive and Stream
	// still say what the server does (an external server may be backed up by its own host).
	Configured bool   `json:"configured"`
	Repo       string `json:"repo,omitempty"` // the repository directory
	WAL        string `json:"wal,omitempty"`  // sync or archive
	// Last is the newest backup of each type (full, diff, incr) in the repository.
	Last      map[string]*pgbackrest.Backup `json:"last"`
	Backups   int                           `json:"backups"`    // how many the repository holds
	RepoBytes int64                         `json:"repo_bytes"` // the repository's size on disk (backups and WAL)
	Archive   Archive                       `json:"archive"`
	Stream    Stream                        `json:"stream"`
	// The range a restore can reach: from the end of the oldest backup to the newest moment
	// the repository has the WAL of (now, while the stream runs; else the last archived
	// segment's time). Null without a backup.
	OldestRestorePoint *time.Time `json:"oldest_restore_point"`
	NewestRestorePoint *time.Time `json:"newest_restore_point"`
	// Error says what could not be read (the repository's info), "" when everything was.
	Error string `json:"error,omitempty"`
}

// Archive is the WAL archiver's state (pg_stat_archiver).
type Archive struct {
	Mode          string     `json:"mode"` // archive_mode: on, off, always
	LastWAL       string     `json:"last_wal,omitempty"`
	LastAt        *time.Time `json:"last_at"`
	Failed        int64      `json:"failed"` // failed attempts since the server's statistics began
	LastFailedWAL string     `json:"last_failed_wal,omitempty"`
	LastFailedAt  *time.Time `json:"last_failed_at"`
	// LagBytes is the WAL written since the end of the last archived segment: what only the
	// server's disk (and the stream) holds.
	LagBytes int64 `json:"lag_bytes"`
}

// Stream is the WAL stream's state.
type Stream struct {
	State     string `json:"state"`                // ok (streaming), down (configured but not streaming), off
	SyncState string `json:"sync_state,omitempty"` // PostgreSQL's: sync, async, potential
	// LagBytes is the WAL written but not yet flushed by the stream (pg_stat_replication).
	LagBytes int64 `json:"lag_bytes"`
	// SlotBytes is the WAL the server keeps for the stream's slot.
	SlotBytes int64 `json:"slot_bytes"`
}

// Status reads the status. repo is nil when no repository is configured; wal is its mode.
// A repository that cannot be read is reported in Report.Error, not as an error: the rest is
// still worth showing. The error is the database's.
func Status(ctx context.Context, q database.Querier, repo *pgbackrest.Repo, wal string, now time.Time) (Report, error) {
	r := Report{Last: map[string]*pgbackrest.Backup{}}
	if repo != nil {
		r.Configured, r.Repo, r.WAL = true, repo.Dir, wal
	}
	var segSize int64
	var current *string
	if err := q.QueryRow(ctx, `SELECT current_setting('archive_mode'),
		CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END`).Scan(&r.Archive.Mode, &current); err != nil {
		return r, fmt.Errorf("backup status: %w", err)
	}
	if err := q.QueryRow(ctx, `SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END
		FROM pg_settings WHERE name = 'wal_segment_size'`).Scan(&segSize); err != nil {
		return r, fmt.Errorf("backup status: %w", err)
	}
	var lastWAL, failedWAL *string
	if err := q.QueryRow(ctx, `SELECT last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time
		FROM pg_stat_archiver`).Scan(&lastWAL, &r.Archive.LastAt, &r.Archive.Failed, &failedWAL, &r.Archive.LastFailedAt); err != nil {
		return r, fmt.Errorf("backup status: %w", err)
	}
	r.Archive.LastWAL, r.Archive.LastFailedWAL = deref(lastWAL), deref(failedWAL)
	if current != nil && r.Archive.LastWAL != "" {
		if end, ok := segmentEnd(r.Archive.LastWAL, segSize); ok {
			if cur, ok := parseLSN(*current); ok && cur > end {
				r.Archive.LagBytes = int64(cur - end)
			}
		}
	}
	var streaming bool
	var syncState *string
	var lag, slot *int64
	if err := q.QueryRow(ctx, `SELECT count(*) > 0, max(sync_state),
		max(CASE WHEN pg_is_in_recovery() THEN 0 ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) END)::bigint
		FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`, StreamSlot).Scan(&streaming, &syncState, &lag); err != nil {
		return r, fmt.Errorf("backup status: %w", err)
	}
	if err := q.QueryRow(ctx, `SELECT max(CASE WHEN pg_is_in_recovery() THEN 0 ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, StreamSlot).Scan(&slot); err != nil {
		return r, fmt.Errorf("backup status: %w", err)
	}
	switch {
	case streaming:
		r.Stream.State = "ok"
	case r.Configured && wal == WALSync:
		r.Stream.State = "down"
	default:
		r.Stream.State = "off"
	}
	r.Stream.SyncState = deref(syncState)
	if lag != nil {
		r.Stream.LagBytes = *lag
	}
	if slot != nil {
		r.Stream.SlotBytes = *slot
	}

	if repo == nil {
		return r, nil
	}
	info, err := repo.Info(ctx)
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	r.RepoBytes = info.RepoBytes
	for i := range info.Backups {
		b := info.Backups[i]
		if b.Repo != 1 {
			continue
		}
		r.Backups++
		if r.OldestRestorePoint == nil {
			r.OldestRestorePoint = &b.Stop
		}
		r.Last[b.Type] = &b // oldest first: the last one seen is the newest
	}
	if r.OldestRestorePoint != nil {
		switch {
		case streaming:
			r.NewestRestorePoint = &now
		case r.Archive.LastAt != nil && r.Archive.LastAt.After(*r.OldestRestorePoint):
			r.NewestRestorePoint = r.Archive.LastAt
		default:
			r.NewestRestorePoint = r.OldestRestorePoint
		}
	}
	return r, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// segmentEnd is the LSN just after a WAL segment, from its file name (timeline, log, segment).
func segmentEnd(name string, segSize int64) (uint64, bool) {
	if len(name) < 24 || segSize <= 0 {
		return 0, false
	}
	log, err1 := strconv.ParseUint(name[8:16], 16, 32)
	seg, err2 := strconv.ParseUint(name[16:24], 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return log<<32 + (seg+1)*uint64(segSize), true
}

// parseLSN reads PostgreSQL's X/Y notation.
func parseLSN(s string) (uint64, bool) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return h<<32 | l, true
}

// StreamState is Report.Stream.State alone, read from pg_stat_replication only (no pgBackRest
// process): for /readyz, which asks often. repoConfigured and wal as for Status.
func StreamState(ctx context.Context, q database.Querier, repoConfigured bool, wal string) (string, error) {
	var streaming bool
	if err := q.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
		StreamSlot).Scan(&streaming); err != nil {
		return "", fmt.Errorf("backup: stream state: %w", err)
	}
	switch {
	case streaming:
		return "ok", nil
	case repoConfigured && wal == WALSync:
		return "down", nil
	}
	return "off", nil
}
