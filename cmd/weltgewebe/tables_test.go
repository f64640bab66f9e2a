package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// owners is who may name each table in SQL: the package that owns it (ARCHITECTURE.md, and
// the layout plan's §2b as it stands at each step: a step that moves a table's code moves its
// entry here, in the same commit).
var owners = map[string]string{
	"accounts": "instance/account", "sessions": "instance/account", "login_devices": "instance/account",
	"account_rollen": "instance/account", "account_verwarnungen": "instance/account",
	"moderation_meldungen": "instance/moderation", "moderation_log": "instance/moderation", "moderation_ipsperren": "instance/moderation",
	"ortskonto": "instance/ortskonto", "spenden": "instance/ortskonto", "spenden_idempotenz": "instance/ortskonto", "buchungen": "instance/ortskonto",
	"bankumsaetze": "instance/ortskonto", "auszahlungen": "instance/ortskonto",
	"login_failures": "instance/account", "mail_outbox": "instance/account",
	"ortsweberei": "instance/ortsweberei",
	"wortfilter":  "instance/wortfilter",
	"adressen":    "instance/adressen", "adressen_quelle": "instance/adressen",
	"knoten": "instance/knoten", "faeden": "instance/knoten",
	"chat_nachrichten": "instance/chat", "chat_bewertungen": "instance/chat", "chat_zuschauer": "instance/chat",
	"antraege": "instance/antrag", "einsprueche": "instance/antrag",
	"abstimmungen": "instance/abstimmung", "stimmen": "instance/abstimmung", "stimmen_verlauf": "instance/abstimmung",
	"delegationen": "instance/delegation", "account_activity": "instance/delegation",
	"events": "instance/eventstore", "event_cursors": "instance/eventstore", "events_default": "instance/eventstore",
	"ap_keys": "federation/internal/keys", "ap_actors": "federation/internal/actors", "ap_followers": "federation/internal/actors", "ap_following": "federation/internal/actors",
	"ap_domain_blocks": "federation/internal/blocks", "ap_inbox": "federation/internal/inbox", "ap_outgoing": "federation/internal/delivery", "ap_hosts": "federation/internal/delivery",
	"remote_antraege": "instance/nachbarn", "remote_stimmen": "instance/nachbarn", "remote_einsprueche": "instance/nachbarn",
	"remote_delegationen": "instance/nachbarn", "remote_antrag_deletes": "instance/nachbarn",
	"antrag_kommentare": "instance/antrag", "antrag_fremdstimmen": "instance/antrag",
	"timeline_snapshots": "instance/timeline", "timeline_versions": "instance/timeline",
	"snapshots": "instance/snapshot", "snapshot_keys": "instance/snapshot",
	"snapshot_mirrors":         "federation/internal/mirror",
	"snapshot_mirror_refusals": "federation/internal/mirror",
	"captcha_key":              "instance/captcha", "captcha_spent": "instance/captcha",
	"streams": "instance/stream",
}

// crossReads are today's reads and writes of another package's tables, each to be replaced
// by a call (layout plan §2c) and then removed here: the test fails while one is listed that
// no longer happens, so the list only shrinks.
var crossReads = []string{
	"internal/testrig/instancetest -> event_cursors",
	// Domain packages joining accounts for names and residence; not in the layout plan.
	"instance/abstimmung -> accounts",
	"instance/antrag -> accounts",
	"instance/antrag -> abstimmungen",
	"instance/chat -> accounts",
	"instance/delegation -> accounts",
	"instance/knoten -> accounts",
	"instance/ortskonto -> accounts",
}

var tableRE = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:ONLY\s+)?([a-z_][a-z0-9_]*)`)

// Every table is named in SQL only by its owner, besides the listed cross reads: SQL is found
// in the Go string literals of each package's production files. The benchmark harness
// (cmd/wgbench) sets up and inspects whole databases and is not checked.
func TestTablesOnlyInTheirOwner(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	migrations, _ := filepath.Glob("../../migrations/*.sql")
	created := regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)|RENAME TO ([a-z_]+)`)
	known := map[string]bool{}
	for _, m := range migrations {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range created.FindAllStringSubmatch(string(b), -1) {
			known[x[1]+x[2]] = true
		}
	}
	for table := range known {
		if _, ok := owners[table]; !ok && !strings.HasPrefix(table, "ap_inbox_") {
			t.Errorf("table %s has no owner here", table)
		}
	}
	if len(known) < 30 {
		t.Fatalf("found %d tables in the migrations", len(known))
	}

	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		pkg, ok := strings.CutPrefix(f[0], module)
		if !ok || pkg == "cmd/wgbench" || f[2] == "" {
			continue
		}
		for _, name := range strings.Fields(f[2]) {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(f[1], name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				for _, m := range tableRE.FindAllStringSubmatch(s, -1) {
					table := strings.ToLower(m[1])
					owner, ours := owners[table]
					if !ours || owner == pkg {
						continue
					}
					arrow := pkg + " -> " + table
					seen[arrow] = true
					if !slices.Contains(crossReads, arrow) {
						t.Errorf("%s (%s): %s is %s's table", arrow, name, table, owner)
					}
				}
				return true
			})
		}
	}
	for _, a := range crossReads {
		if !seen[a] {
			t.Errorf("%s is listed as a cross read but no longer happens: remove it from crossReads", a)
		}
	}
}
