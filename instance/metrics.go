package instance

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/backup"
	"github.com/weltgewebe/weltgewebe/instance/metrics"
)

// ServeMetrics serves the metrics at /metrics on a listener of their own (serve
// --metrics-listen) until ctx ends. Never on the public listener: nginx can only expose what
// it proxies, and it proxies the public one (docs/OPERATIONS.md, "Metrics and logs").
func (i *Instance) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", i.Metrics.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(i.Log.Handler(), slog.LevelWarn),
	}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// backupGauges is what the metrics show of the backup status: the newest backup of any type,
// the archiver, the stream. A repository that could not be read (Report.Error) leaves the
// backup's age out, which an alert on its absence notices; the server's side still shows.
func backupGauges(r backup.Report) metrics.Backup {
	b := metrics.Backup{ArchiveFailures: r.Archive.Failed, ArchiveLagBytes: r.Archive.LagBytes, Stream: r.Stream.State,
		StreamLagBytes: r.Stream.LagBytes}
	for _, l := range r.Last {
		if l != nil && l.Stop.After(b.LastSuccess) {
			b.LastSuccess = l.Stop
		}
	}
	if r.Archive.LastAt != nil {
		b.LastArchived = *r.Archive.LastAt
	}
	return b
}

// metricsOfBackups lets the metrics read the backup status when a repository is configured.
func (i *Instance) metricsOfBackups() {
	if i.cfg.DB.Backup == nil {
		return
	}
	i.Metrics.SetBackup(func(ctx context.Context) (metrics.Backup, error) {
		r, err := i.BackupStatus(ctx)
		if err != nil {
			return metrics.Backup{}, err
		}
		return backupGauges(r), nil
	})
}
