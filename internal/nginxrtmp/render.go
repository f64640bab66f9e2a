// Package nginxrtmp renders the livestream ingest (nginx with the RTMP module, docs/STREAMS.md)
// from the production config deploy/nginx/weltgewebe.conf: its rtmp{} block, and for a test
// nginx in front of the instance its https server's locations, with the production ports,
// address, secret and directory replaced. The tests (internal/testrig/streamtest, wgbench) and
// `serve --ingest` run what this renders, so the file operators install is the file that is
// tested.
package nginxrtmp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	nginxconf "github.com/weltgewebe/weltgewebe/deploy/nginx"
)

// Module is where Debian's libnginx-mod-rtmp puts the module.
const Module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// Template is the production config: deploy/nginx/weltgewebe.conf.
var Template = nginxconf.Config

// ErrNoNginx and ErrNoModule say what is missing for an ingest (Debian: bash scripts/deps.sh).
var (
	ErrNoNginx  = errors.New("nginx is not installed (Debian: apt-get install nginx libnginx-mod-rtmp)")
	ErrNoModule = fmt.Errorf("nginx's RTMP module is not installed (%s; Debian: apt-get install libnginx-mod-rtmp)", Module)
)

// Binary returns nginx's path, or ErrNoNginx or ErrNoModule.
func Binary() (string, error) {
	for _, p := range []string{"/usr/sbin/nginx", "nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			if _, err := os.Stat(Module); err != nil {
				return "", ErrNoModule
			}
			return path, nil
		}
	}
	return "", ErrNoNginx
}

// Config says where the rendered nginx listens, whom it calls and where it writes.
type Config struct {
	// RTMP is the address (host:port) broadcasters push to.
	RTMP string
	// Instance is the address (host:port) of the instance's /internal/rtmp/ callbacks, and
	// the one replica the http server proxies to when Upstreams is empty.
	Instance string
	// Upstreams are the replicas (host:port each) the http server balances over: the
	// production config's upstream with its servers replaced by these, with the same
	// parameters (max_fails, fail_timeout). Empty: Instance alone.
	Upstreams []string
	// Secret is what the callbacks carry (serve --rtmp-secret).
	Secret string
	// Prefix is nginx's own directory: HLS in Prefix/hls, temporary files in Prefix/tmp.
	Prefix string
	// HTTP, when set, adds a plain-http server on that address with the production https
	// server's locations: /hls/ from the files, the rest proxied to Instance (nginx in front,
	// as in production; the tests). Empty: RTMP only, the instance serves /hls/ itself.
	HTTP string
	// ErrorLog is nginx's error log: a path or "stderr". Level: at info nginx-rtmp logs each
	// broadcaster's key and the callback URLs with the secret; only tests may ask for it.
	ErrorLog, ErrorLevel string
	// RTMPLog is where nginx-rtmp's access log (the template's nokey format) goes.
	RTMPLog string
	// UpdateTimeout replaces the template's on_update interval (30 s); 0 keeps it.
	UpdateTimeout time.Duration
	// WorkerConnections is nginx's worker_connections (default 256).
	WorkerConnections int
	// Backlog is the http listener's accept queue (0: nginx's default, 511).
	Backlog int
}

// frame is the rendered nginx.conf around what it takes from the production config: one
// process without a master (no user switch: the files stay the caller's; it stops with its
// parent), in the foreground, with everything it writes inside Prefix.
const frame = `load_module {{module}};
daemon off;
master_process off;
pid {{prefix}}/nginx.pid;
error_log {{errorlog}} {{level}};
worker_rlimit_nofile {{nofile}};
events { worker_connections {{conns}}; }

{{rtmp}}
{{http}}`

const httpFrame = `
http {
    access_log off;
    client_body_temp_path {{prefix}}/tmp/body;
    proxy_temp_path {{prefix}}/tmp/proxy;
    fastcgi_temp_path {{prefix}}/tmp/fastcgi;
    uwsgi_temp_path {{prefix}}/tmp/uwsgi;
    scgi_temp_path {{prefix}}/tmp/scgi;
    types {
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }
{{upstream}}
{{map}}
    server {
        listen {{listen}}{{backlog}};
        {{locations}}
    }
}
`

// Render returns the nginx.conf for c from tmpl (Template, or a test's variant of it). It
// fails when tmpl no longer holds what it replaces, so that a change to the production file
// cannot silently leave a production port, address or secret in what runs.
func Render(tmpl string, c Config) (string, error) {
	rtmpBlock, err := block(tmpl, "rtmp {")
	if err != nil {
		return "", err
	}
	server, err := block(tmpl, "listen 443 ssl")
	if err != nil {
		return "", err
	}
	first := strings.Index(server, "location ")
	if first < 0 {
		return "", errors.New("nginxrtmp: the https server of the production config has no location")
	}
	locations := strings.TrimSuffix(strings.TrimSpace(server[first:]), "}")
	port := c.RTMP[strings.LastIndex(c.RTMP, ":")+1:]
	pairs := []string{"listen 1935;", "listen " + c.RTMP + ";", "relay=127.0.0.1:1935", "relay=127.0.0.1:" + port,
		"127.0.0.1:8080", c.Instance, "SECRET", c.Secret, "/var/lib/weltgewebe-stream", c.Prefix,
		"/var/log/nginx/rtmp-access.log", c.RTMPLog,
		// A server on a port: $host drops the port, and a browser's WebSocket handshake then
		// names an Origin that is not the Host the instance sees, and is refused. On 443 the
		// two are the same.
		"proxy_set_header Host $host;", "proxy_set_header Host $http_host;"}
	if c.UpdateTimeout > 0 {
		pairs = append(pairs, "notify_update_timeout 30s;", fmt.Sprintf("notify_update_timeout %ds;", int(c.UpdateTimeout.Seconds()+0.5)))
	}
	ours := strings.NewReplacer(pairs...)
	for _, must := range []string{"listen 1935;", "relay=127.0.0.1:1935", "127.0.0.1:8080", "SECRET", "/var/lib/weltgewebe-stream",
		"/var/log/nginx/rtmp-access.log", "notify_update_timeout 30s;", "proxy_set_header Host $host;"} {
		if !strings.Contains(rtmpBlock+locations, must) {
			return "", fmt.Errorf("nginxrtmp: the production config no longer holds %q, which is replaced", must)
		}
	}
	conns := c.WorkerConnections
	if conns <= 0 {
		conns = 256
	}
	httpBlock := ""
	if c.HTTP != "" {
		backlog := ""
		if c.Backlog > 0 {
			backlog = fmt.Sprintf(" backlog=%d", c.Backlog)
		}
		upstreams := c.Upstreams
		if len(upstreams) == 0 {
			upstreams = []string{c.Instance}
		}
		upstream, err := upstreamBlock(tmpl, upstreams)
		if err != nil {
			return "", err
		}
		connMap, err := block(tmpl, "map $http_upgrade")
		if err != nil {
			return "", err
		}
		httpBlock = strings.NewReplacer("{{prefix}}", c.Prefix, "{{listen}}", c.HTTP, "{{backlog}}", backlog,
			"{{upstream}}", upstream, "{{map}}", connMap, "{{locations}}", ours.Replace(locations)).Replace(httpFrame)
	}
	errorLog, level := c.ErrorLog, c.ErrorLevel
	if errorLog == "" {
		errorLog = filepath.Join(c.Prefix, "error.log")
	}
	if level == "" {
		level = "warn"
	}
	return strings.NewReplacer("{{module}}", Module, "{{prefix}}", c.Prefix, "{{errorlog}}", errorLog, "{{level}}", level,
		"{{conns}}", fmt.Sprint(conns), "{{nofile}}", fmt.Sprint(2*conns+64),
		"{{rtmp}}", ours.Replace(rtmpBlock), "{{http}}", httpBlock).Replace(frame), nil
}

// block returns the block that the first line holding marker opens, or, when that line
// opens none, the block around it: from its line's start to the brace that closes it.
func block(s, marker string) (string, error) {
	at := strings.Index(s, marker)
	if at < 0 {
		return "", fmt.Errorf("nginxrtmp: the production config has no %q", marker)
	}
	open := strings.LastIndex(s[:at], "{")
	lineEnd := at + strings.IndexByte(s[at:], '\n')
	if brace := strings.IndexByte(s[at:lineEnd], '{'); brace >= 0 {
		open = at + brace
	}
	begin := strings.LastIndex(s[:open], "\n") + 1
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return s[begin : i+1], nil
			}
		case '#': // a comment runs to the end of its line and may hold braces
			if nl := strings.IndexByte(s[i:], '\n'); nl >= 0 {
				i += nl
			}
		}
	}
	return "", fmt.Errorf("nginxrtmp: %q opens a block that does not close", marker)
}

// upstreamLine is a server of the production config's upstream: its indentation, address and
// parameters.
var upstreamLine = regexp.MustCompile(`(?m)^([ \t]*)server 127\.0\.0\.1:[0-9]+([^;\n]*);[^\n]*\n`)

// upstreamBlock is the production config's upstream weltgewebe with its servers replaced by
// addrs, each with the first server's parameters.
func upstreamBlock(tmpl string, addrs []string) (string, error) {
	b, err := block(tmpl, "upstream weltgewebe {")
	if err != nil {
		return "", err
	}
	lines := upstreamLine.FindAllStringSubmatchIndex(b, -1)
	if len(lines) == 0 {
		return "", errors.New("nginxrtmp: the production config's upstream weltgewebe has no server on 127.0.0.1, which is replaced")
	}
	first := lines[0]
	indent, params := b[first[2]:first[3]], b[first[4]:first[5]]
	var servers strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&servers, "%sserver %s%s;\n", indent, a, params)
	}
	var out strings.Builder
	at := 0
	for n, l := range lines {
		out.WriteString(b[at:l[0]])
		if n == 0 {
			out.WriteString(servers.String())
		}
		at = l[1]
	}
	out.WriteString(b[at:])
	return out.String(), nil
}
