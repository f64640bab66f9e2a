package delegation

import (
	"testing"

	"github.com/google/uuid"
)

// rawUUIDs reads the binary form the extended protocol sends, and the text form a connection
// in the simple protocol (a pooler set up so) gets instead of failing the count.
func TestRawUUIDsBinaryAndText(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	var gotA, gotB uuid.UUID
	if err := rawUUIDs([][]byte{a[:], []byte(b.String())}, &gotA, &gotB); err != nil {
		t.Fatal(err)
	}
	if gotA != a || gotB != b {
		t.Errorf("read %s %s, want %s %s", gotA, gotB, a, b)
	}
	if err := rawUUIDs([][]byte{[]byte("kein uuid")}, &gotA); err == nil {
		t.Error("a value that is no uuid was read")
	}
}
