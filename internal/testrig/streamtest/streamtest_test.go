package streamtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		"proxy_pass http://127.0.0.1:48081;",
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
