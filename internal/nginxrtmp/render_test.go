package nginxrtmp

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The http server balances over the replicas it is given, with the production upstream's
// parameters, keeps its connections to them alive, and never retries a write that was sent;
// what nginx runs is accepted by nginx itself (nginx -t).
func TestRenderUpstreams(t *testing.T) {
	prefix := t.TempDir()
	conf, err := Render(Template, Config{RTMP: "127.0.0.1:19350", Instance: "127.0.0.1:18080", Secret: "s3cret", Prefix: prefix,
		HTTP: "127.0.0.1:18000", Upstreams: []string{"127.0.0.1:18081", "127.0.0.1:18082"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"server 127.0.0.1:18081 max_fails=1 fail_timeout=10s;\n",
		"server 127.0.0.1:18082 max_fails=1 fail_timeout=10s;\n",
		"keepalive 32;", "proxy_pass http://weltgewebe;", "proxy_next_upstream error timeout;",
		"proxy_set_header Connection $connection_upgrade;", "map $http_upgrade $connection_upgrade",
		"on_publish http://127.0.0.1:18080/internal/rtmp/publish?secret=s3cret",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("rendered config lacks %q:\n%s", want, conf)
		}
	}
	directives := regexp.MustCompile(`#[^\n]*`).ReplaceAllString(conf, "")
	for _, never := range []string{"127.0.0.1:8080", "127.0.0.1:8081", "non_idempotent", "Content-Security-Policy"} {
		if strings.Contains(directives, never) {
			t.Errorf("rendered config holds %q:\n%s", never, conf)
		}
	}
	one, err := Render(Template, Config{RTMP: "127.0.0.1:19350", Instance: "127.0.0.1:18080", Secret: "s", Prefix: prefix, HTTP: "127.0.0.1:18000"})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(one, "max_fails=1"); n != 1 || !strings.Contains(one, "server 127.0.0.1:18080 max_fails=1") {
		t.Errorf("without Upstreams the proxy goes to Instance alone; got %d servers:\n%s", n, one)
	}

	bin, err := Binary()
	if err != nil {
		t.Skipf("%v (bash scripts/deps.sh)", err)
	}
	for _, d := range []string{"hls", "tmp"} {
		if err := os.Mkdir(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", prefix, "-e", filepath.Join(prefix, "error.log"), "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}
