package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The real binary, built once for the whole test binary: each test that runs it as users do
// (serve, restore, drill …) shares it instead of linking its own (a few seconds each on two
// cores). Built without the race detector, as users get it, whatever the tests run under.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "weltgewebe-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "weltgewebe")
		built.out, built.err = exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("build: %v\n%s", built.err, built.out)
	}
	return built.path
}

// removeBinary is called by TestMain after the tests.
func removeBinary() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
