package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
)

// --metrics-listen: empty is off; the default address, when taken, leaves the instance
// without metrics and says so; an address the operator chose must be free.
func TestMetricsListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	t.Run("off", func(t *testing.T) {
		ln, err := listenMetrics(metricsFlags(t), "", slog.New(slog.DiscardHandler))
		if ln != nil || err != nil {
			t.Fatalf("empty address: %v, %v; want off", ln, err)
		}
	})
	t.Run("default taken", func(t *testing.T) {
		unsetenv(t, "WG_METRICS_LISTEN")
		var logged bytes.Buffer
		ln, err := listenMetrics(metricsFlags(t), taken.Addr().String(), slog.New(slog.NewTextHandler(&logged, nil)))
		if ln != nil || err != nil {
			t.Fatalf("the default taken: %v, %v; want no listener and no error", ln, err)
		}
		if !strings.Contains(logged.String(), "no metrics") {
			t.Errorf("no warning: %q", logged.String())
		}
	})
	t.Run("chosen and taken", func(t *testing.T) {
		unsetenv(t, "WG_METRICS_LISTEN")
		fs := metricsFlags(t, "--metrics-listen", taken.Addr().String())
		if _, err := listenMetrics(fs, taken.Addr().String(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--metrics-listen") {
			t.Fatalf("a chosen address that is taken: %v, want an error naming the flag", err)
		}
	})
	t.Run("chosen by env and taken", func(t *testing.T) {
		t.Setenv("WG_METRICS_LISTEN", taken.Addr().String())
		if _, err := listenMetrics(metricsFlags(t), taken.Addr().String(), slog.New(slog.DiscardHandler)); err == nil {
			t.Fatal("an address from WG_METRICS_LISTEN that is taken: no error")
		}
	})
	t.Run("free", func(t *testing.T) {
		ln, err := listenMetrics(metricsFlags(t), "127.0.0.1:0", slog.New(slog.DiscardHandler))
		if err != nil || ln == nil {
			t.Fatalf("a free address: %v, %v", ln, err)
		}
		ln.Close()
	})
}

func metricsFlags(t *testing.T, args ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("metrics-listen", defaultMetricsListen, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// unsetenv removes an environment variable for the test (t.Setenv restores it after).
func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "")
	os.Unsetenv(name)
}
