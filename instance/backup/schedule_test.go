package backup

import (
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// The nightly backup: nothing when the slot has one; a full one when none is younger than a
// week (or none at all), else a differential; only the directory's backups (repo 1) count.
func TestDue(t *testing.T) {
	slot := time.Date(2026, 12, 5, 0, 30, 0, 0, time.UTC)
	now := slot.Add(5 * time.Hour)
	b := func(kind string, start time.Time, repo int) pgbackrest.Backup {
		return pgbackrest.Backup{Type: kind, Start: start, Stop: start.Add(time.Minute), Repo: repo}
	}
	for _, c := range []struct {
		name    string
		backups []pgbackrest.Backup
		want    string
	}{
		{"empty repository", nil, "full"},
		{"full six days ago", []pgbackrest.Backup{b("full", slot.Add(-6*24*time.Hour), 1)}, "diff"},
		{"full eight days ago, diff yesterday", []pgbackrest.Backup{b("full", slot.Add(-8*24*time.Hour), 1), b("diff", slot.Add(-24*time.Hour), 1)}, "full"},
		{"the slot has one", []pgbackrest.Backup{b("full", slot.Add(-6*24*time.Hour), 1), b("diff", slot.Add(time.Minute), 1)}, ""},
		{"a manual incr after the slot counts", []pgbackrest.Backup{b("full", slot.Add(-24*time.Hour), 1), b("incr", slot.Add(2*time.Hour), 1)}, ""},
		{"only S3 has a recent full", []pgbackrest.Backup{b("full", slot.Add(-24*time.Hour), 2)}, "full"},
	} {
		if got := Due(c.backups, slot, now); got != c.want {
			t.Errorf("%s: Due = %q, want %q", c.name, got, c.want)
		}
	}
}

// The slot is the latest --backup-at at or before now, in the Ortsweberei's zone.
func TestSlot(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s := &Scheduler{At: 90 * time.Minute, Location: berlin}
	now := time.Date(2026, 12, 5, 0, 10, 0, 0, time.UTC) // 01:10 in Berlin: before today's 01:30
	if got, want := s.slot(now), time.Date(2026, 12, 4, 0, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("slot at %v = %v, want %v", now, got, want)
	}
}
