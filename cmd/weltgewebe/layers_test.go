package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/weltgewebe/weltgewebe/"

// The import layering of docs (and of the layout plan, notes/layout-plan.md §1), checked over
// the production dependencies (transitive, tests excluded) of every package of the module:
//   - the domain (instance/…), httpapi and the vocabulary never depend on federation (httpapi
//     asks through its consumer interface Fediverse); only the wiring (instance), the commands
//     and the test rigs do;
//   - federation depends on neither the wiring nor httpapi nor a command;
//   - federation/internal/… only on lower job packages: iri ← keys, blocks ← delivery, fetch ←
//     actors ← convert ← inbox, publish (a package not there yet is not checked);
//   - antrag never on nachbarn (nachbarn lists both, so the arrow goes the other way).
func TestImportLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if p, ok := strings.CutPrefix(f[0], module); ok {
			for _, d := range f[1:] {
				if x, ok := strings.CutPrefix(d, module); ok {
					deps[p] = append(deps[p], x)
				}
			}
			if deps[p] == nil {
				deps[p] = []string{}
			}
		}
	}
	if len(deps) < 20 || deps["federation"] == nil || deps["instance/antrag"] == nil {
		t.Fatalf("go list found %d packages of the module: not the module", len(deps))
	}
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	isRig := func(p string) bool { return under(p, "internal/testrig") }
	ranks := map[string]int{"iri": 0, "keys": 1, "blocks": 1, "delivery": 2, "fetch": 2, "actors": 3, "convert": 4, "inbox": 5, "publish": 5}
	rankOf := func(p string) (int, bool) {
		name, ok := strings.CutPrefix(p, "federation/internal/")
		if !ok {
			return 0, false
		}
		r, ok := ranks[strings.Split(name, "/")[0]]
		return r, ok
	}

	for p, ds := range deps {
		if isRig(p) {
			continue
		}
		for _, d := range ds {
			arrow := p + " -> " + d
			switch {
			case under(d, "federation") && !isRig(d) && under(p, "instance/httpapi"):
				t.Errorf("%s: httpapi talks to federation through its consumer interface (Fediverse), never by import", arrow)
			case under(d, "federation") && !isRig(d) && !under(p, "federation") && p != "instance" && !under(p, "cmd"):
				t.Errorf("%s: only the wiring (instance), the commands and test rigs may depend on federation", arrow)
			case under(p, "federation") && (d == "instance" || under(d, "instance/httpapi") || under(d, "cmd")):
				t.Errorf("%s: federation must not depend on the wiring, httpapi or a command", arrow)
			case under(p, "federation") && isRig(d):
				t.Errorf("%s: production code depends on a test rig", arrow)
			case under(p, "instance/antrag") && under(d, "instance/nachbarn"):
				t.Errorf("%s: antrag must not depend on nachbarn", arrow)
			}
			if rp, ok := rankOf(p); ok {
				if rd, ok := rankOf(d); ok && rd >= rp && strings.Split(p, "/")[2] != strings.Split(d, "/")[2] {
					t.Errorf("%s: a job package depends on one of its rank or above", arrow)
				}
			}
		}
	}
}
