package instancetest

import (
	"context"
	"log/slog"
	"testing"
)

// newTestLogger sends warnings and errors of the instance to the test log, where they show up
// next to the failure they explain.
func newTestLogger(t testing.TB) *slog.Logger {
	return slog.New(testHandler{t: t})
}

type testHandler struct {
	t     testing.TB
	attrs []slog.Attr
}

func (h testHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h testHandler) Handle(_ context.Context, r slog.Record) error {
	args := []any{}
	for _, a := range h.attrs {
		args = append(args, a)
	}
	r.Attrs(func(a slog.Attr) bool { args = append(args, a); return true })
	h.t.Logf("%s %s %v", r.Level, r.Message, args)
	return nil
}

func (h testHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return testHandler{t: h.t, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h testHandler) WithGroup(string) slog.Handler { return h }
