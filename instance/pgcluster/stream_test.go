package pgcluster

import "testing"

// Only completed segments the archive has leave the stream's directory: a wrong answer here
// deletes the only copy of acknowledged commits.
func TestArchivedSegment(t *testing.T) {
	const last = "000000010000000A00000012"
	for _, c := range []struct {
		name string
		want bool
	}{
		{"000000010000000A00000012", true},          // the last archived one
		{"000000010000000A00000011", true},          // before it
		{"00000001000000090000002F", true},          // an earlier log file
		{"000000010000000A00000013", false},         // after it: only the stream has it
		{"000000010000000B00000001", false},         // a later log file
		{"000000010000000A00000012.partial", false}, // in progress
		{"000000010000000A00000011.partial", false},
		{"00000002.history", false},
		{"000000020000000A00000010", false}, // a later timeline
		{"superseded-1700000000", false},
	} {
		if got := archivedSegment(c.name, last); got != c.want {
			t.Errorf("archivedSegment(%q, %q) = %v, want %v", c.name, last, got, c.want)
		}
	}
	for _, notASegment := range []string{"00000002.history", "000000010000000A00000012.00000028.backup", ""} {
		if archivedSegment("000000010000000000000001", notASegment) {
			t.Errorf("pruned by a last archived file %q that is not a segment", notASegment)
		}
	}
}
