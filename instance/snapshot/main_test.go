package snapshot_test

import (
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// The one TestMain of the package's tests (internal and external): a throwaway cluster for
// every test that asks pgtest for a database.
func TestMain(m *testing.M) { pgtest.Main(m) }
