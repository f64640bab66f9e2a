package drill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// NameLayout is how a drill is named: its start in UTC. The report's files are <name>.json and
// <name>.txt, and its restore point drill-<name>.
const NameLayout = "20060102T150405Z"

// nameRE is what a drill's name looks like; nothing else is looked up in the reports'
// directory, so a name from a request cannot reach outside it.
var nameRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// Phase is one timed step of a drill.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// TableResult is one table's comparison.
type TableResult struct {
	Name         string `json:"name"`
	SourceRows   int64  `json:"source_rows,omitempty"`
	RestoredRows int64  `json:"restored_rows,omitempty"`
	Equal        bool   `json:"equal"` // same rows, same content
}

// Report is a drill's outcome, as printed and as published (GET /api/betrieb/drills/{name}).
// It holds counts and hashes over whole tables, never a row.
type Report struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Passed  bool      `json:"passed"`
	// Error is why the drill could not finish (it then did not pass); empty when it compared.
	Error string `json:"error,omitempty"`

	RestorePoint string `json:"restore_point"`
	LSN          string `json:"lsn"`
	// Durable says how the restore point reached the repository: "streamed" (the synchronous
	// WAL stream had it on disk) or "archived" (its WAL segment was archived).
	Durable string `json:"durable"`
	// WritesWaitedMS is the longest a write to the instance can have waited for the drill
	// (the locks that make the restore point a moment when no write is in flight).
	WritesWaitedMS float64 `json:"writes_waited_ms"`

	Phases       []Phase `json:"phases"`
	TotalSeconds float64 `json:"total_seconds"`
	// RestoreSeconds is the time from nothing but the repository to a database that answers:
	// the restore, and the recovery up to the restore point.
	RestoreSeconds float64 `json:"restore_seconds"`

	RepositoryBytes  int64 `json:"repository_bytes"`
	WALReplayedBytes int64 `json:"wal_replayed_bytes"` // from the base backup's start to the restore point

	Database       string        `json:"database"`
	Tables         []TableResult `json:"tables"`
	Unlogged       []string      `json:"unlogged,omitempty"`
	SourceDigest   string        `json:"source_digest"`
	RestoredDigest string        `json:"restored_digest"`
	SourceLog      Log           `json:"source_log"`
	RestoredLog    Log           `json:"restored_log"`
	LogCheck       LogCheck      `json:"log_check"`
	Differences    []Difference  `json:"differences"`
}

// Judge fills the comparison of source and restored into r and decides whether it passed.
func (r *Report) Judge(source, restored Fingerprint) {
	diffs, lc := Compare(source, restored)
	r.Database = source.Database
	r.Unlogged = source.Unlogged
	r.SourceDigest, r.RestoredDigest = source.Digest, restored.Digest
	r.SourceLog, r.RestoredLog, r.LogCheck = source.Log, restored.Log, lc
	got := map[string]Table{}
	for _, t := range restored.Tables {
		got[t.Name] = t
	}
	r.Tables = r.Tables[:0]
	for _, s := range source.Tables {
		t, ok := got[s.Name]
		r.Tables = append(r.Tables, TableResult{Name: s.Name, SourceRows: s.Rows, RestoredRows: t.Rows, Equal: ok && t.Rows == s.Rows && t.sum == s.sum})
	}
	r.Differences = diffs
	if r.Differences == nil {
		r.Differences = []Difference{}
	}
	r.Passed = r.Error == "" && len(diffs) == 0 && source.Digest == restored.Digest
}

// Phase records a step's time.
func (r *Report) Phase(name string, d time.Duration) {
	r.Phases = append(r.Phases, Phase{Name: name, Seconds: d.Seconds()})
}

// Text is the report for people: what an admin pastes into the Ortsweberei's drill log.
func (r *Report) Text() string {
	var b strings.Builder
	result := "PASSED"
	if !r.Passed {
		result = "FAILED"
	}
	fmt.Fprintf(&b, "Restore drill %s: %s\n", r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), result)
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	if r.RestorePoint != "" {
		fmt.Fprintf(&b, "restore point %s at %s", r.RestorePoint, r.LSN)
		if r.Durable != "" {
			fmt.Fprintf(&b, " (%s to the repository)", r.Durable)
		}
		fmt.Fprintf(&b, "\nwrites waited at most %.1f ms for the drill\n", r.WritesWaitedMS)
	}
	b.WriteString("phases:\n")
	for _, p := range r.Phases {
		fmt.Fprintf(&b, "  %-28s %8.2f s\n", p.Name, p.Seconds)
	}
	fmt.Fprintf(&b, "  %-28s %8.2f s\n", "total", r.TotalSeconds)
	fmt.Fprintf(&b, "restore (repository to an answering database): %.2f s\n", r.RestoreSeconds)
	fmt.Fprintf(&b, "repository: %s; WAL replayed: %s\n", size(r.RepositoryBytes), size(r.WALReplayedBytes))
	if len(r.Tables) > 0 {
		var equal int
		var rows int64
		for _, t := range r.Tables {
			if t.Equal {
				equal++
			}
			rows += t.SourceRows
		}
		fmt.Fprintf(&b, "tables of %s: %d compared, %d equal (%d rows at the source)\n", r.Database, len(r.Tables), equal, rows)
		if len(r.Unlogged) > 0 {
			fmt.Fprintf(&b, "  not in the WAL by design, not compared: %s\n", strings.Join(r.Unlogged, ", "))
		}
		fmt.Fprintf(&b, "event log: %d events at the source, %d restored, head %s; %d positions missing, %d extra; %d objects' histories, %d differ\n",
			r.SourceLog.Events, r.RestoredLog.Events, orNone(r.SourceLog.Head), r.LogCheck.Missing, r.LogCheck.Extra, r.LogCheck.Subjects, r.LogCheck.Broken)
		fmt.Fprintf(&b, "digest: source %s\n        restored %s\n", r.SourceDigest, r.RestoredDigest)
	}
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "DIFFERENCE %s %s: %s\n", d.What, d.Name, d.Detail)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Write puts the report into dir as <name>.json and <name>.txt, each written whole before it
// gets its name, so that a reader never sees half a report.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	for ext, b := range map[string][]byte{".json": append(j, '\n'), ".txt": []byte(r.Text())} {
		tmp := filepath.Join(dir, "."+r.Name+ext+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("drill: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, r.Name+ext)); err != nil {
			return fmt.Errorf("drill: %w", err)
		}
	}
	return nil
}

// Summary is a drill in the public list.
type Summary struct {
	Name            string    `json:"name"`
	Started         time.Time `json:"started"`
	Passed          bool      `json:"passed"`
	RestoreSeconds  float64   `json:"restore_seconds"`
	TotalSeconds    float64   `json:"total_seconds"`
	RepositoryBytes int64     `json:"repository_bytes"`
	Events          int64     `json:"events"`
}

// ErrNotFound: no drill by that name.
var ErrNotFound = errors.New("drill: no such report")

// Reports are the drill reports in a repository's drills/ directory, as serve publishes them.
type Reports struct{ Dir string }

// List returns every report's summary, newest first. A directory that does not exist yet
// (no drill has run) holds none.
func (rs Reports) List() ([]Summary, error) {
	entries, err := os.ReadDir(rs.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Summary{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	list := []Summary{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !nameRE.MatchString(name) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(rs.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("drill: %w", err)
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			continue // not a report of ours; the list shows what it can read
		}
		list = append(list, Summary{Name: name, Started: r.Started, Passed: r.Passed, RestoreSeconds: r.RestoreSeconds,
			TotalSeconds: r.TotalSeconds, RepositoryBytes: r.RepositoryBytes, Events: r.SourceLog.Events})
	}
	slices.SortFunc(list, func(a, b Summary) int { return strings.Compare(b.Name, a.Name) }) // names are times
	return list, nil
}

// Public is the report as it is published: each table's name and whether it matched, but not
// its row counts — how many sessions, failed logins or mails a town has is not the public's
// business (the file in the repository keeps them for the admins).
func (r Report) Public() Report {
	tables := make([]TableResult, len(r.Tables))
	for i, t := range r.Tables {
		tables[i] = TableResult{Name: t.Name, Equal: t.Equal}
	}
	r.Tables = tables
	// A failed drill's differences name the rows too ("3 rows, the source had 5"): the
	// published ones say which table and how, not how many. The log's differences stay whole:
	// they count events, whose number the report publishes anyway.
	diffs := make([]Difference, len(r.Differences))
	for i, d := range r.Differences {
		switch d.What {
		case "missing table":
			d.Detail = "missing in the restored database"
		case "extra table":
			d.Detail = "the restored database has rows the source did not have"
		case "table":
			d.Detail = "its rows differ from the source's"
		}
		diffs[i] = d
	}
	r.Differences = diffs
	// An error may carry the restored server's log (paths, settings, the PostgreSQL lines
	// around the failure): the public sees its first line, the file keeps it all.
	r.Error, _, _ = strings.Cut(r.Error, "\n")
	return r
}

// Get returns a report as Public has it.
func (rs Reports) Get(name string) (Report, error) {
	if !nameRE.MatchString(name) {
		return Report{}, ErrNotFound
	}
	b, err := os.ReadFile(filepath.Join(rs.Dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Report{}, ErrNotFound
	}
	if err != nil {
		return Report{}, fmt.Errorf("drill: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return Report{}, fmt.Errorf("drill: report %s: %w", name, err)
	}
	return r.Public(), nil
}
