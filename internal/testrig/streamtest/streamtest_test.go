package streamtest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/internal/testrig/testca"
)

// The test config is the production template's rtmp{} block and https locations with the
// test's ports, address, secret and directory, and nginx takes it.
func TestConfigFromTemplate(t *testing.T) {
	bin := Binary(t)
	prefix := t.TempDir()
	for _, d := range []string{"hls", "tmp"} {
		if err := os.Mkdir(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := config(t, Template(t), prefix, "127.0.0.1:41000", "127.0.0.1:48080", Options{Instance: "127.0.0.1:48081", Secret: "s3cret"})
	for _, want := range []string{
		"listen 127.0.0.1:41000;",
		"on_publish http://127.0.0.1:48081/internal/rtmp/publish?secret=s3cret&relay=127.0.0.1:41000;",
		"on_publish_done http://127.0.0.1:48081/internal/rtmp/publish_done?secret=s3cret;",
		"hls_path " + prefix + "/hls;",
		"root " + prefix + ";",
		"proxy_pass http://weltgewebe;", // the upstream, with the one instance in it
		"server 127.0.0.1:48081 max_fails=1 fail_timeout=10s;",
		"location /internal/ { return 404; }",
		"listen 127.0.0.1:48080;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("the config lacks %q:\n%s", want, conf)
		}
	}
	for _, gone := range []string{"SECRET", "1935;", ":8080", "/var/lib/weltgewebe-stream", "ssl_certificate"} {
		if strings.Contains(conf, gone) {
			t.Errorf("the config still holds %q:\n%s", gone, conf)
		}
	}
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", prefix, "-e", filepath.Join(prefix, "error.log"), "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
}

// The whole production config is valid nginx as shipped: only the certificate, the pid file,
// the logs and the HLS directory are moved into the test's directory (nginx -t opens them).
func TestWholeTemplateIsValid(t *testing.T) {
	bin := Binary(t)
	if _, err := os.Stat("/etc/nginx/mime.types"); err != nil {
		t.Skip("streamtest: Debian's /etc/nginx is not there (nginx, bash scripts/deps.sh)")
	}
	dir := t.TempDir()
	cert, err := testca.Shared(t).Certificate("lindenau.example.org")
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fullchain.pem"), chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "privkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "hls"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl := Template(t)
	conf := strings.NewReplacer("/etc/letsencrypt/live/lindenau.example.org", dir, "/run/nginx.pid", filepath.Join(dir, "nginx.pid"),
		"/var/log/nginx", dir, "/var/lib/weltgewebe-stream", dir).Replace(tmpl)
	for _, gone := range []string{"/etc/letsencrypt", "/run/", "/var/log", "/var/lib"} {
		if strings.Contains(conf, gone) {
			t.Fatalf("the template names %s beyond what the test moves", gone)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// -p: the prefix Debian's modules-enabled names the module relative to.
	out, err := exec.Command(bin, "-t", "-p", "/usr/share/nginx/", "-e", filepath.Join(dir, "error.log"), "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// Not root, nginx says the user directive is moot here; any other warning is the config's.
		if strings.Contains(line, "[warn]") && !strings.Contains(line, `the "user" directive makes sense only if the master process runs with super-user privileges`) {
			t.Errorf("nginx -t warns: %s", line)
		}
	}
}
