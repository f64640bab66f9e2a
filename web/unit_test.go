package web_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestUnits runs the web app's unit tests (unit/*.test.mjs with Node's test runner): the
// parts of the app that are pure functions, such as reading a German amount into cents.
func TestUnits(t *testing.T) {
	if os.Getenv("WG_SKIP_BROWSER") == "1" {
		t.Skip("WG_SKIP_BROWSER=1")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: run `make deps` (or set WG_SKIP_BROWSER=1 to skip the web app's tests)")
	}
	if _, err := os.Stat("node_modules/esbuild/package.json"); err != nil {
		t.Fatal("web/node_modules has no esbuild: run `make web` (npm ci)")
	}
	out, err := exec.Command(node, "--test", "unit/").CombinedOutput()
	t.Logf("node --test unit/:\n%s", out)
	if err != nil {
		t.Fatalf("the web app's unit tests failed: %v", err)
	}
}
