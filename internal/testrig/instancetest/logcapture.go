package instancetest

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// LogCapture is a log handler that keeps every record of the instance (all levels) as a line
// of text, for tests that wait for the instance to say something.
type LogCapture struct {
	mu    sync.Mutex
	lines []string
	attrs []slog.Attr
	root  *LogCapture
}

func (l *LogCapture) Enabled(context.Context, slog.Level) bool { return true }

func (l *LogCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range l.attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	root := l.rootOf()
	root.mu.Lock()
	root.lines = append(root.lines, b.String())
	root.mu.Unlock()
	return nil
}

func (l *LogCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &LogCapture{attrs: append(slices.Clone(l.attrs), as...), root: l.rootOf()}
}

func (l *LogCapture) WithGroup(string) slog.Handler { return l }

func (l *LogCapture) rootOf() *LogCapture {
	if l.root != nil {
		return l.root
	}
	return l
}

// Has says whether a line so far contains s.
func (l *LogCapture) Has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(line string) bool { return strings.Contains(line, s) })
}

func (l *LogCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
