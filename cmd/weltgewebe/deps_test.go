package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The server binary carries no test rig: no test PostgreSQL, test instances, fake Fediverse
// servers, test CA, JSON-LD processor (only the tests expand documents) or the testing
// package. A move that put one of them where production code imports it would ship it.
func TestBinaryHasNoTestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/weltgewebe/weltgewebe/cmd/weltgewebe").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !contains(deps, "github.com/weltgewebe/weltgewebe/federation") {
		t.Fatalf("go list -deps listed %d packages, without federation: not the server's dependencies", len(deps))
	}
	forbidden := []string{"/internal/testrig", "json-gold", "/pgtest", "/instancetest", "/mastopeer", "/gtspeer",
		"/testca", "/jsonld"}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.Contains(d, f) {
				t.Errorf("the server binary depends on %s", d)
			}
		}
		if d == "testing" || strings.HasPrefix(d, "testing/") {
			t.Errorf("the server binary depends on %s: a test helper is imported by production code", d)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
