package mastopeer

import (
	"sort"
	"time"
)

// Status is a remote status as Mastodon keeps and shows it, following
// app/lib/activitypub/parser/status_parser.rb, activity/create.rb and
// process_status_update_service.rb:
//   - the text is content (else the first of contentMap); a Question's name is never shown;
//   - the content warning (spoiler_text) is summary (else the first of summaryMap), never the
//     name;
//   - it shows as edited when it has an updated that is not its published;
//   - an Update changes the text and the content warning only when its updated is newer than
//     the edit Mastodon has (an "explicit" update); otherwise it refreshes the poll's counts
//     alone (an "implicit" one).
type Status struct {
	URI         string
	Text        string
	SpoilerText string
	CreatedAt   time.Time
	EditedAt    *time.Time
	// Counts are the poll's option totals by name, nil without a poll.
	Counts map[string]int
}

// NewStatus is how Mastodon takes a status it receives in a Create or fetches.
func NewStatus(obj map[string]any) Status {
	s := Status{URI: idOf(obj), Text: textOf(obj, "content"), SpoilerText: textOf(obj, "summary")}
	if t, ok := timeOf(obj["published"]); ok {
		s.CreatedAt = t
	}
	if t, ok := timeOf(obj["updated"]); ok && !t.Equal(s.CreatedAt) {
		s.EditedAt = &t
	}
	s.Counts = pollCounts(obj)
	return s
}

// Update applies an Update's object the way ProcessStatusUpdateService does.
func (s *Status) Update(obj map[string]any) {
	t, ok := timeOf(obj["updated"])
	if ok && (s.EditedAt == nil || t.After(*s.EditedAt)) {
		s.Text, s.SpoilerText = textOf(obj, "content"), textOf(obj, "summary")
		s.EditedAt = &t
	}
	if c := pollCounts(obj); c != nil && s.Counts != nil {
		s.Counts = c
	}
}

func textOf(obj map[string]any, key string) string {
	if v, _ := obj[key].(string); v != "" {
		return v
	}
	m, _ := obj[key+"Map"].(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // Ruby's hash order is insertion order; any fixed choice will do here
	for _, k := range keys {
		if v, _ := m[k].(string); v != "" {
			return v
		}
	}
	return ""
}

func timeOf(v any) (time.Time, bool) {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func pollCounts(obj map[string]any) map[string]int {
	if !hasType(obj, "Question") {
		return nil
	}
	opts, _ := obj["oneOf"].([]any)
	if len(opts) == 0 {
		opts, _ = obj["anyOf"].([]any)
	}
	counts := map[string]int{}
	for _, o := range opts {
		m, _ := o.(map[string]any)
		name, _ := m["name"].(string)
		rep, _ := m["replies"].(map[string]any)
		n, _ := rep["totalItems"].(float64)
		counts[name] = int(n)
	}
	return counts
}
