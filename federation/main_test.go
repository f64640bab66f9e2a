package federation_test

import (
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
