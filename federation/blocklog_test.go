package federation_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// A domain block removes what we mirrored of the domain's Ortswebereien (the records, the
// refusals and the files; of its subdomains too, on any port) and nothing of other domains',
// and blocking and unblocking are entries of the public moderation log, with the admin's
// reason. Blocking a blocked domain again is no second entry.
func TestBlockRemovesMirrorsAndIsLogged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inst := instancetest.Start(t, instancetest.Options{SnapshotDir: dir})
	admin := inst.Admin()
	ctx := context.Background()
	origins := []string{"plagwitz.example:8443", "alt.plagwitz.example", "connewitz.example"}
	for i, origin := range origins {
		hash := strings.Repeat(string(rune('a'+i)), 64)
		if _, err := inst.Pool.Exec(ctx, `
INSERT INTO snapshot_mirrors (origin, hash, instance, kind, as_of, bytes, signature, public_key, source_url, verified_at)
VALUES ($1, $2, 'https://' || $1 || '/ap/ortsweberei', 'full', now(), 10, 'sig', 'z6Mk', 'https://' || $1 || '/snapshots/x', now())`,
			origin, hash); err != nil {
			t.Fatal(err)
		}
		if _, err := inst.Pool.Exec(ctx, `INSERT INTO snapshot_mirror_refusals (origin, hash, reason, refused_at) VALUES ($1, $2, 'fork', now())`,
			origin, strings.Repeat("f", 63)+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, "mirrors", origin)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, hash+".json.gz"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	admin.Post("/api/admin/federation/blocks", map[string]string{"domain": "plagwitz.example", "reason": "Gefälschte Snapshots"}).
		Expect(t, http.StatusOK)
	for _, table := range []string{"snapshot_mirrors", "snapshot_mirror_refusals"} {
		if n := inst.Count(`SELECT count(*) FROM ` + table + ` WHERE origin <> 'connewitz.example'`); n != 0 {
			t.Errorf("%d rows of the blocked domain left in %s", n, table)
		}
		if n := inst.Count(`SELECT count(*) FROM ` + table + ` WHERE origin = 'connewitz.example'`); n != 1 {
			t.Errorf("another domain's row in %s: %d, want 1", table, n)
		}
	}
	for _, origin := range origins {
		_, err := os.Stat(filepath.Join(dir, "mirrors", origin))
		if gone := os.IsNotExist(err); gone != (origin != "connewitz.example") {
			t.Errorf("the mirror directory %s: %v", origin, err)
		}
	}
	inst.Client().Get("/mirrors/plagwitz.example:8443/snapshots/").Expect(t, http.StatusNotFound)

	type entry struct {
		Action string
		Target struct{ Kind, ID string }
		Reason string
	}
	var log struct{ Eintraege []entry }
	inst.Client().Get("/api/moderation/log").Expect(t, http.StatusOK).JSON(t, &log)
	if len(log.Eintraege) != 1 || log.Eintraege[0].Action != "block_domain" || log.Eintraege[0].Target.Kind != "domain" ||
		log.Eintraege[0].Target.ID != "plagwitz.example" || log.Eintraege[0].Reason != "Gefälschte Snapshots" {
		t.Errorf("the log after the block: %+v", log.Eintraege)
	}

	admin.Post("/api/admin/federation/blocks", map[string]string{"domain": "https://plagwitz.example/"}).Expect(t, http.StatusOK)
	admin.Do(http.MethodDelete, "/api/admin/federation/blocks/plagwitz.example", nil).Expect(t, http.StatusOK)
	inst.Client().Get("/api/moderation/log").Expect(t, http.StatusOK).JSON(t, &log)
	if len(log.Eintraege) != 2 || log.Eintraege[0].Action != "unblock_domain" || log.Eintraege[0].Target.ID != "plagwitz.example" {
		t.Errorf("the log after blocking again and unblocking: %+v", log.Eintraege)
	}
	// A reason beyond a report's length is refused, nothing blocked.
	admin.Post("/api/admin/federation/blocks", map[string]string{"domain": "connewitz.example", "reason": strings.Repeat("x", 1001)}).
		Expect(t, http.StatusUnprocessableEntity)
	if n := inst.Count(`SELECT count(*) FROM snapshot_mirrors`); n != 1 {
		t.Errorf("a refused block removed mirrors: %d left", n)
	}
}
