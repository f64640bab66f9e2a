package snapshot

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/proof"
)

// documentedBlock returns the first fenced block of lang in docs/SNAPSHOTS.md's section
// "Checking a snapshot without our binary": the test runs exactly what the docs say.
func documentedBlock(t *testing.T, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/SNAPSHOTS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Checking a snapshot without our binary\n")
	if !ok {
		t.Fatal(`docs/SNAPSHOTS.md has no section "Checking a snapshot without our binary"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("no %s block in the section", lang)
	}
	block, _, _ = strings.Cut(block, "\n```\n")
	return block
}

// TestDocumentedChecks runs the Python and OpenSSL commands of docs/SNAPSHOTS.md against a
// snapshot the writer made, and against one whose signature belongs to another document.
func TestDocumentedChecks(t *testing.T) {
	dir := t.TempDir()
	var plain bytes.Buffer
	w, err := NewWriter(&plain, fullHeader(), nil, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	w.Section("knoten")
	w.Object(obj("k1", `"titel":"Gemeinschaftsgarten"`))
	res, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	h := res.Hash
	os.WriteFile(filepath.Join(dir, h+".json.gz"), gz.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, h+".sig"), EncodeSignature(res.Signature), 0o644)
	key := proof.EncodeMultikey(testPub(1))

	// The signature of another document, under this one's name: must fail.
	_, other := write(t, fullHeader(), nil, sections{{"knoten", nil}})
	os.WriteFile(filepath.Join(dir, "wrong.sig"), EncodeSignature(other.Signature), 0o644)

	t.Run("openssl", func(t *testing.T) {
		for _, tool := range []string{"openssl", "bc", "xxd", "gzip", "od", "fold", "awk"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed", tool)
			}
		}
		script := documentedBlock(t, "sh")
		run := func(sigName string) (string, error) {
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "H="+h, "KEY="+key)
			if sigName != "" {
				// The same commands, reading another .sig.
				cmd.Args[2] = strings.ReplaceAll(script, `"$H.sig"`, sigName)
			}
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := run("")
		if err != nil || !strings.Contains(out, "hash OK") || !strings.Contains(out, "Signature Verified Successfully") {
			t.Fatalf("documented openssl commands: %v\n%s", err, out)
		}
		if out, err := run("wrong.sig"); err == nil || !strings.Contains(out, "Signature Verification Failure") {
			t.Errorf("documented openssl commands accepted another document's signature:\n%s", out)
		}
	})

	t.Run("python", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import cryptography").Run(); err != nil {
			t.Skipf("python3 with the cryptography package is not available: %v", err)
		}
		script := filepath.Join(dir, "check.py")
		os.WriteFile(script, []byte(documentedBlock(t, "python")), 0o644)
		out, err := exec.Command("python3", script, filepath.Join(dir, h+".json.gz"), filepath.Join(dir, h+".sig"), key).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hash "+h) || !strings.Contains(string(out), "signature OK") {
			t.Fatalf("documented Python: %v\n%s", err, out)
		}
		out, err = exec.Command("python3", script, filepath.Join(dir, h+".json.gz"), filepath.Join(dir, "wrong.sig"), key).CombinedOutput()
		if err == nil || strings.Contains(string(out), "signature OK") {
			t.Errorf("documented Python accepted another document's signature:\n%s", out)
		}
	})
}
