package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/pgcluster"
	"github.com/weltgewebe/weltgewebe/internal/pgbackrest"
)

// The drill on a cluster that archives its WAL (no stream): the restore point reaches the
// repository by archiving, and the restored database equals the source; a row changed in the
// source after the restore point is not in the restored copy, which is what "at the restore
// point" means.
func TestDrillOnArchivingCluster(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	repo := pgbackrest.Repo{Dir: filepath.Join(dir, "repo")}
	owner, err := pgcluster.ServerOwner()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dataDir, Settings: map[string]string{
		"archive_mode": "on", "archive_command": repo.ArchiveCommand(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	pg := pgbackrest.Cluster{DataDir: c.DataDir(), SocketDir: c.SocketDir(), Port: c.Port(), BinDir: c.BinDir(), User: owner.Name()}
	if err := repo.WriteConfig(pg); err != nil {
		t.Fatal(err)
	}
	d, err := instance.OpenDatabase(ctx, instance.DBConfig{URL: c.URL("postgres")}, quietLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := repo.Backup(ctx, pg, "full"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO events (at, type, version, payload, public) SELECT now(), 'KnotenGeknuepft', 1, '{}', true FROM generate_series(1, 100)`); err != nil {
		t.Fatal(err)
	}
	db := &dbFlags{url: c.URL("postgres")}
	r := runDrill(ctx, repo, db, "", io.Discard)
	t.Log(r.Text())
	if !r.Passed || r.Durable != "archived" || r.SourceLog.Events != 100 || r.RestoredLog.Events != 100 {
		t.Fatalf("drill: %s", r.Text())
	}
}
