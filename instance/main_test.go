package instance_test

import (
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
