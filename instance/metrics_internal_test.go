package instance

import (
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// The metrics take the newest backup of any type, the archiver's last time and failures, and
// the stream's state and lag from the backup status.
func TestBackupGaugesFromTheStatus(t *testing.T) {
	full := time.Date(2026, 12, 4, 1, 40, 0, 0, time.UTC)
	diff := time.Date(2026, 12, 5, 1, 35, 0, 0, time.UTC)
	archived := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	b := backupGauges(backup.Report{
		Last:    map[string]*pgbackrest.Backup{"full": {Stop: full}, "diff": {Stop: diff}, "incr": nil},
		Archive: backup.Archive{LastAt: &archived, Failed: 2, LagBytes: 4096},
		Stream:  backup.Stream{State: "ok", LagBytes: 512},
	})
	if !b.LastSuccess.Equal(diff) || !b.LastArchived.Equal(archived) || b.ArchiveFailures != 2 || b.ArchiveLagBytes != 4096 || b.Stream != "ok" || b.StreamLagBytes != 512 {
		t.Fatalf("gauges %+v", b)
	}
	if b := backupGauges(backup.Report{Last: map[string]*pgbackrest.Backup{}, Stream: backup.Stream{State: "off"}}); !b.LastSuccess.IsZero() || !b.LastArchived.IsZero() {
		t.Fatalf("without backups or archived WAL: %+v", b)
	}
}
