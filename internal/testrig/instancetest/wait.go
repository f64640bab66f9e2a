package instancetest

import (
	"testing"
	"time"
)

// Patience is how long a test waits for what it expects: a safety net for a busy machine only.
// Every wait ends on the event (a message, a row, a state), never after a fixed time.
const Patience = 60 * time.Second

// WaitFor polls cond until it holds, and fails the test if it does not within Patience.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(Patience); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, Patience)
		}
	}
}
