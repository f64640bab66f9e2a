package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/nginxrtmp"
)

// The deployment files (the Dockerfile, deploy/compose.yaml, deploy/kubernetes/,
// deploy/weltgewebe.service) start the binary with commands, flags and environment variables
// of their own. Docker and Kubernetes cannot run here, so nothing would notice when a flag is
// renamed and a manifest still passes the old one (the instance would refuse to start, or
// silently ignore an env var). These tests read every file and hold each name against the real
// binary: its commands' flag sets (`weltgewebe <command> -h`, in-process), the env var each
// flag's usage names, and the env vars package main reads; the ports and probe paths against
// --listen, --metrics-listen and the routes.

// pending are names that other parts of issue 18 add to the binary at the same time as the
// deployment files use them (parts C and D; docs/plans/operations.md). A pending name the
// binary lacks is accepted; one the binary has fails the test until it is removed here, so
// this list only shrinks.
var pending = map[string]string{
	"--shutdown-timeout":  "part C (graceful shutdown)",
	"WG_SHUTDOWN_TIMEOUT": "part C (graceful shutdown)",
	"/readyz":             "part C (readiness)",
	"--metrics-listen":    "part D (metrics)",
	"WG_METRICS_LISTEN":   "part D (metrics)",
}

// contractShutdown is --shutdown-timeout's default in the contract, while the flag is pending.
const contractShutdown = 20 * time.Second

// use is one start of the binary that a deployment file describes.
type use struct {
	where string            // file and place, for the messages
	args  []string          // after the binary's name: the command's words, then its flags
	env   map[string]string // the environment it sets for the binary
}

// flagInfo is one flag of a command, from its -h output.
type flagInfo struct {
	isBool bool
	def    string // the default as -h prints it ("" when none is printed)
	env    string // the env var its usage names, "(env NAME…"
}

// cmdHelp is what the binary's -h says about one command.
type cmdHelp struct {
	flags map[string]flagInfo
	env   map[string]bool // env vars named in the usages
}

// binaryFacts asks the binary (in-process) and its source what exists.
type binaryFacts struct {
	commands  map[string]*cmdHelp // by "serve", "admin create", …
	sourceEnv map[string]bool     // env vars package main reads by name: envOr, os.Getenv, os.LookupEnv
	routes    string              // the HTTP API's source, for the probe paths
}

// groups are the commands whose second word is a subcommand (main.go's run).
var groups = map[string]bool{"admin": true, "adressen": true, "export": true, "snapshot": true, "basemap": true}

var (
	helpFlagLine = regexp.MustCompile(`^  -([A-Za-z0-9][\w.-]*)(?:\s+(\w+))?`)
	helpEnv      = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)`)
	helpDefault  = regexp.MustCompile(`\(default "?([^")]*)"?\)`)
)

// commandWords splits a command line into its command's words and the rest.
func commandWords(args []string) (words, rest []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, args
	}
	if groups[args[0]] && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		return args[:2], args[2:]
	}
	return args[:1], args[1:]
}

func (b *binaryFacts) command(words []string) (*cmdHelp, error) {
	key := strings.Join(words, " ")
	if c, ok := b.commands[key]; ok {
		return c, nil
	}
	if len(words) == 0 {
		return nil, errors.New("no command")
	}
	// -h right behind the words: the command's flag set stops at it and prints its flags. The
	// context is cancelled, should a command ever get past its flags anyway.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, append(slices.Clone(words), "-h"), &out, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		return nil, fmt.Errorf("%q is not a command of the binary (-h: %v)", key, err)
	}
	c := &cmdHelp{flags: map[string]flagInfo{}, env: map[string]bool{}}
	var cur string
	for _, line := range strings.Split(errOut.String()+out.String(), "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
			c.flags[cur] = flagInfo{isBool: m[2] == ""}
		}
		if cur == "" {
			continue
		}
		f := c.flags[cur]
		if m := helpEnv.FindStringSubmatch(line); m != nil {
			c.env[m[1]] = true
			f.env = m[1]
		}
		if m := helpDefault.FindStringSubmatch(line); m != nil {
			f.def = m[1]
		}
		c.flags[cur] = f
	}
	if len(c.flags) == 0 {
		return nil, fmt.Errorf("%q -h printed no flags:\n%s", key, errOut.String())
	}
	b.commands[key] = c
	return c, nil
}

// readBinaryFacts reads package main's source for the env vars it reads by name, and the HTTP
// API's source for its routes.
func readBinaryFacts(t *testing.T) *binaryFacts {
	t.Helper()
	b := &binaryFacts{commands: map[string]*cmdHelp{}, sourceEnv: map[string]bool{}}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				if x, ok := f.X.(*ast.Ident); ok {
					fn = x.Name + "." + f.Sel.Name
				}
			}
			if fn != "envOr" && fn != "os.Getenv" && fn != "os.LookupEnv" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					b.sourceEnv[s] = true
				}
			}
			return true
		})
	}
	api, err := filepath.Glob("../../instance/httpapi/*.go")
	if err != nil || len(api) == 0 {
		t.Fatalf("the HTTP API's source: %v", err)
	}
	var src strings.Builder
	for _, name := range api {
		if !strings.HasSuffix(name, "_test.go") {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(data)
		}
	}
	b.routes = src.String()
	return b
}

// exists says whether the binary has name (a "--flag", an env var, a path), accepting a
// pending one.
func (b *binaryFacts) exists(name string, has bool) bool {
	_, isPending := pending[name]
	return has || isPending
}

// stalePending names the names in pending (a flag of serve, an env var, a route) the binary
// has by now, whether or not a deployment file uses them.
func (b *binaryFacts) stalePending(pending map[string]string) []string {
	var stale []string
	serve, err := b.command([]string{"serve"})
	if err != nil {
		return []string{err.Error()}
	}
	for _, name := range sortedKeys(pending) {
		var has bool
		switch {
		case strings.HasPrefix(name, "--"):
			_, has = serve.flags[strings.TrimPrefix(name, "--")]
		case strings.HasPrefix(name, "/"):
			has = strings.Contains(b.routes, `"GET `+name+`"`)
		default:
			has = serve.env[name] || b.sourceEnv[name]
		}
		if has {
			stale = append(stale, fmt.Sprintf("%s exists now (%s): delete it from pending in deploy_test.go", name, pending[name]))
		}
	}
	return stale
}

// check returns what is wrong with one use: a command, flag or env var the binary lacks.
func (b *binaryFacts) check(u use) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, u.where+": "+fmt.Sprintf(format, a...)) }
	words, rest := commandWords(u.args)
	c, err := b.command(words)
	if err != nil {
		add("%v", err)
		return problems
	}
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if arg == "--" || !strings.HasPrefix(arg, "-") {
			break // positional arguments
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		f, has := c.flags[name]
		if !b.exists("--"+name, has) {
			add("%s has no flag --%s", strings.Join(words, " "), name)
			continue
		}
		if has && !f.isBool && !hasValue {
			i++ // its value
		}
	}
	for _, name := range sortedKeys(u.env) {
		has := c.env[name] || b.sourceEnv[name]
		if !b.exists(name, has) {
			add("the binary reads no environment variable %s", name)
		}
	}
	return problems
}

// setting is the value a use gives a flag, by flag or by its env var, else the flag's
// default; ok is false when the binary has no such flag (yet).
func (b *binaryFacts) setting(u use, flagName, envName string) (value string, ok bool) {
	words, rest := commandWords(u.args)
	for i, arg := range rest {
		name, v, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if strings.HasPrefix(arg, "-") && name == flagName {
			if hasValue {
				return v, true
			}
			if i+1 < len(rest) {
				return rest[i+1], true
			}
		}
	}
	if v, set := u.env[envName]; set {
		return v, true
	}
	if c, err := b.command(words); err == nil {
		if f, has := c.flags[flagName]; has {
			return f.def, true
		}
	}
	return "", false
}

// port is the port of a listen address (":8080", "localhost:9090").
func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

// routeProblem says what is wrong with a probe's path: the API registers no GET route for
// it ("" when it does, or the path is pending).
func (b *binaryFacts) routeProblem(path string) string {
	if !b.exists(path, strings.Contains(b.routes, `"GET `+path+`"`)) {
		return "the API has no route GET " + path
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Every deployment file names only commands, flags and env vars the binary has; its ports and
// probes are the ones the binary listens and answers on.
func TestDeployFilesMatchTheBinary(t *testing.T) {
	b := readBinaryFacts(t)
	var problems []string
	report := func(p ...string) { problems = append(problems, p...) }
	report(b.stalePending(pending)...)

	// The Dockerfile: the image's command, its ENV, its ports; the Go of go.mod.
	image, err := parseDockerfile(readFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(readFile(t, "go.mod"))
	if goVersion == nil || !strings.HasPrefix(image.goImage, "golang:"+string(goVersion[1])+"-") {
		report(fmt.Sprintf("Dockerfile: the build stage's image %q is not go.mod's Go (golang:%s-<debian release>)", image.goImage, goVersion[1]))
	} else if release := strings.TrimPrefix(image.goImage, "golang:"+string(goVersion[1])+"-"); image.runtime != "debian:"+release+"-slim" {
		// The binary is built with cgo (h3-go): it needs the glibc it was linked against.
		report(fmt.Sprintf("Dockerfile: the image runs on %q, not the build stage's Debian release (debian:%s-slim)", image.runtime, release))
	}
	if len(image.entrypoint) != 1 || filepath.Base(image.entrypoint[0]) != "weltgewebe" {
		report(fmt.Sprintf("Dockerfile: ENTRYPOINT %q is not the binary alone", image.entrypoint))
	}
	imageUse := use{where: "Dockerfile", args: image.cmd, env: image.env}
	report(b.check(imageUse)...)
	listen, _ := b.setting(imageUse, "listen", "WG_LISTEN")
	metrics, hasMetrics := b.setting(imageUse, "metrics-listen", "WG_METRICS_LISTEN")
	for _, p := range []string{port(listen), port(metrics)} {
		if p != "" && !slices.Contains(image.expose, p) {
			report(fmt.Sprintf("Dockerfile: EXPOSE %v lacks port %s, which the image listens on", image.expose, p))
		}
	}
	if port(listen) == "" || !hasMetrics || port(metrics) == "" {
		report(fmt.Sprintf("Dockerfile: the image must listen on a port for HTTP (%q) and for metrics (%q): a scraper outside the container cannot reach localhost", listen, metrics))
	}

	// deploy/compose.yaml: the instance's services.
	services, err := parseCompose(readFile(t, "deploy/compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	instances := composeInstances(services)
	if len(instances) == 0 {
		t.Fatal("deploy/compose.yaml: no service runs the image of the repository's Dockerfile (build.context ..)")
	}
	for _, s := range instances {
		env := map[string]string{}
		for k, v := range image.env {
			env[k] = v
		}
		for k, v := range s.env {
			env[k] = v
		}
		args := s.command
		if args == nil {
			args = image.cmd
		}
		u := use{where: "deploy/compose.yaml: service " + s.name, args: args, env: s.env}
		report(b.check(u)...)
		u.env = env
		report(checkComposeInstance(b, u, s, services)...)
	}

	// deploy/kubernetes/: every container of the instance's image, and what surrounds it.
	objs, err := readManifests("../../deploy/kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	uses, ps := k8sUses(objs, image)
	report(ps...)
	if len(uses) == 0 {
		t.Fatal("deploy/kubernetes: no container runs the instance's image")
	}
	for _, u := range uses {
		report(b.check(u)...)
	}
	report(checkKubernetes(b, objs, image)...)

	// The systemd unit.
	unit, err := parseUnit(readFile(t, "deploy/weltgewebe.service"))
	if err != nil {
		t.Fatal(err)
	}
	report(b.check(unit)...)

	for _, p := range problems {
		t.Error(p)
	}
}

// checkComposeInstance: the health check asks /readyz on the port the service listens on, nginx
// proxies to that service and port, the replicas are two or more, and docker stop waits longer
// than the graceful shutdown.
func checkComposeInstance(b *binaryFacts, u use, s composeService, services map[string]composeService) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, u.where+": "+fmt.Sprintf(format, a...)) }
	listen, _ := b.setting(u, "listen", "WG_LISTEN")
	health := strings.Join(s.health, " ")
	if m := regexp.MustCompile(`/dev/tcp/[^/]+/(\d+)`).FindStringSubmatch(health); m == nil || m[1] != port(listen) {
		add("the health check %q does not ask port %s (--listen %q)", health, port(listen), listen)
	}
	if m := regexp.MustCompile(`GET (/\S*) `).FindStringSubmatch(health); m == nil || m[1] != "/readyz" {
		add("the health check %q does not ask GET /readyz", health)
	} else if p := b.routeProblem(m[1]); p != "" {
		add("the health check: %s", p)
	}
	if !slices.Contains(s.expose, port(listen)) {
		add("expose %v lacks the --listen port %s", s.expose, port(listen))
	}
	if s.replicas < 2 {
		add("deploy.replicas is %d: the point of this file is two or more", s.replicas)
	}
	if grace, err := time.ParseDuration(s.stopGrace); err != nil || grace <= shutdownTimeout(b, u) {
		add("stop_grace_period %q is not above the shutdown timeout %s", s.stopGrace, shutdownTimeout(b, u))
	}
	proxied := false
	for _, other := range services {
		if up, ok := other.env["WG_UPSTREAM"]; ok {
			proxied = true
			if up != s.name+":"+port(listen) {
				add("service %s proxies to %q, not to this service's --listen port (%s:%s)", other.name, up, s.name, port(listen))
			}
		}
	}
	if !proxied {
		add("no service (nginx) names it in WG_UPSTREAM")
	}
	return problems
}

// shutdownTimeout is the graceful shutdown's bound a use sets (the contract's default while
// --shutdown-timeout is pending).
func shutdownTimeout(b *binaryFacts, u use) time.Duration {
	v, ok := b.setting(u, "shutdown-timeout", "WG_SHUTDOWN_TIMEOUT")
	if !ok || v == "" {
		return contractShutdown
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return contractShutdown
	}
	return d
}

// checkKubernetes: the Deployment's replicas, probes, ports and grace period; the PDB, the
// Service, the ServiceMonitor and the annotations agree with it; the database is a
// CloudNativePG Cluster with PostGIS whose app secret is the DATABASE_URL.
func checkKubernetes(b *binaryFacts, objs []k8sObject, image dockerfile) []string {
	var problems []string
	uses, _ := k8sUses(objs, image)
	deployments := 0
	for _, o := range objs {
		if o.kind() != "Deployment" {
			continue
		}
		spec := podSpec(o)
		for _, c := range list(at(spec, "containers")) {
			if !isInstanceImage(str(at(c, "image"))) {
				continue
			}
			deployments++
			where := fmt.Sprintf("%s: Deployment %s", o.file, o.name())
			add := func(format string, a ...any) { problems = append(problems, where+": "+fmt.Sprintf(format, a...)) }
			var u use
			for _, x := range uses {
				if strings.HasPrefix(x.where, fmt.Sprintf("%s: %s %s, container %s", o.file, o.kind(), o.name(), str(at(c, "name")))) {
					u = x
				}
			}
			env := map[string]string{}
			for k, v := range image.env {
				env[k] = v
			}
			for k, v := range u.env {
				env[k] = v
			}
			u.env = env
			if r, _ := at(o.doc, "spec", "replicas").(int); r < 2 {
				add("replicas %d: two or more", r)
			}
			ports := map[string]string{}
			for _, p := range list(at(c, "ports")) {
				ports[str(at(p, "name"))] = str(at(p, "containerPort"))
			}
			listen, _ := b.setting(u, "listen", "WG_LISTEN")
			metrics, _ := b.setting(u, "metrics-listen", "WG_METRICS_LISTEN")
			if ports["http"] != port(listen) {
				add("containerPort http %q is not the --listen port %s", ports["http"], port(listen))
			}
			if ports["metrics"] != port(metrics) {
				add("containerPort metrics %q is not the --metrics-listen port %s (%q)", ports["metrics"], port(metrics), metrics)
			}
			if a := str(at(o.doc, "spec", "template", "metadata", "annotations", "prometheus.io/port")); a != "" && a != port(metrics) {
				add("annotation prometheus.io/port %q is not the metrics port %s", a, port(metrics))
			}
			for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
				p := at(c, probe, "httpGet")
				if p == nil {
					add("no %s", probe)
					continue
				}
				if path := str(at(p, "path")); path != want {
					add("%s asks %q, not %s", probe, path, want)
				} else if p := b.routeProblem(path); p != "" {
					add("%s: %s", probe, p)
				}
				if pp := str(at(p, "port")); pp != "http" && pp != port(listen) {
					add("%s asks port %q, not http (%s)", probe, pp, port(listen))
				}
			}
			grace, _ := at(spec, "terminationGracePeriodSeconds").(int)
			preStop := 0
			if cmd := strs(at(c, "lifecycle", "preStop", "exec", "command")); len(cmd) == 2 && cmd[0] == "sleep" {
				preStop, _ = strconv.Atoi(cmd[1])
			}
			if need := shutdownTimeout(b, u) + time.Duration(preStop)*time.Second; time.Duration(grace)*time.Second <= need {
				add("terminationGracePeriodSeconds %d is not above the shutdown timeout plus preStop (%s)", grace, need)
			}
			labels, _ := at(o.doc, "spec", "template", "metadata", "labels").(map[string]any)
			matches := func(sel any) bool {
				m, ok := sel.(map[string]any)
				if !ok || len(m) == 0 {
					return false
				}
				for k, v := range m {
					if labels[k] != v {
						return false
					}
				}
				return true
			}
			var pdb, svc bool
			for _, x := range objs {
				switch x.kind() {
				case "PodDisruptionBudget":
					if matches(at(x.doc, "spec", "selector", "matchLabels")) {
						pdb = true
						if m, _ := at(x.doc, "spec", "minAvailable").(int); m < 1 {
							problems = append(problems, fmt.Sprintf("%s: PodDisruptionBudget %s: minAvailable %v", x.file, x.name(), at(x.doc, "spec", "minAvailable")))
						}
					}
				case "Service":
					if matches(at(x.doc, "spec", "selector")) {
						svc = true
						for _, sp := range list(at(x.doc, "spec", "ports")) {
							if _, ok := ports[str(at(sp, "targetPort"))]; !ok && !slices.Contains(sortedValues(ports), str(at(sp, "targetPort"))) {
								problems = append(problems, fmt.Sprintf("%s: Service %s: targetPort %q is no port of the container", x.file, x.name(), str(at(sp, "targetPort"))))
							}
						}
					}
				}
			}
			if !pdb {
				add("no PodDisruptionBudget selects its pods")
			}
			if !svc {
				add("no Service selects its pods")
			}
			// DATABASE_URL from the CloudNativePG Cluster's app secret.
			var dbSecret string
			for _, e := range list(at(c, "env")) {
				if str(at(e, "name")) == "DATABASE_URL" {
					dbSecret = str(at(e, "valueFrom", "secretKeyRef", "name")) + "/" + str(at(e, "valueFrom", "secretKeyRef", "key"))
				}
			}
			cluster, ok := "", false
			for _, x := range objs {
				if x.kind() == "Cluster" && strings.HasPrefix(str(x.doc["apiVersion"]), "postgresql.cnpg.io/") {
					cluster, ok = x.name(), true
					if !strings.Contains(str(at(x.doc, "spec", "imageName")), "postgis") {
						problems = append(problems, fmt.Sprintf("%s: Cluster %s: imageName %q has no PostGIS", x.file, x.name(), str(at(x.doc, "spec", "imageName"))))
					}
					sql := strings.Join(append(strs(at(x.doc, "spec", "bootstrap", "initdb", "postInitApplicationSQL")),
						strs(at(x.doc, "spec", "bootstrap", "initdb", "postInitTemplateSQL"))...), "\n")
					if !strings.Contains(sql, "CREATE EXTENSION IF NOT EXISTS postgis") {
						problems = append(problems, fmt.Sprintf("%s: Cluster %s: the bootstrap does not create the postgis extension", x.file, x.name()))
					}
				}
			}
			if !ok {
				add("no CloudNativePG Cluster (postgresql.cnpg.io) in the manifests")
			} else if dbSecret != cluster+"-app/uri" {
				add("DATABASE_URL comes from %q, not the Cluster's app secret %s-app/uri", dbSecret, cluster)
			}
		}
	}
	// A ServiceMonitor names a port of a Service.
	for _, x := range objs {
		if x.kind() != "ServiceMonitor" {
			continue
		}
		for _, ep := range list(at(x.doc, "spec", "endpoints")) {
			found := false
			for _, s := range objs {
				if s.kind() != "Service" {
					continue
				}
				for _, sp := range list(at(s.doc, "spec", "ports")) {
					found = found || str(at(sp, "name")) == str(at(ep, "port"))
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s: ServiceMonitor %s: port %q is no Service's", x.file, x.name(), str(at(ep, "port"))))
			}
		}
	}
	if deployments == 0 {
		problems = append(problems, "deploy/kubernetes: no Deployment of the instance")
	}
	return problems
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// The check is not blind: a command, a flag and env vars the binary does not have — in a
// Dockerfile, a compose file and manifests read by the same parsers — are each reported, and
// a pending name the binary has is reported as stale.
func TestDeployCheckCatchesMadeUpNames(t *testing.T) {
	b := readBinaryFacts(t)
	image, err := parseDockerfile([]byte("FROM golang:1 AS build\nFROM debian\nENV WG_LISTEN=:8080 \\\n    WG_NO_SUCH_SETTING=1\nENTRYPOINT [\"weltgewebe\"]\nCMD [\"serve\", \"--listen\", \":8080\", \"--no-such-flag=3\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	services, err := parseCompose([]byte(`
services:
  app:
    build: {context: ..}
    image: weltgewebe:local
    command: serve --log-format json --made-up-flag x
    environment:
      - WG_LOG_FORMAT=json
      - WG_MADE_UP_ENV=1
  tool:
    image: weltgewebe:local
    command: ["frobnicate", "--listen", ":1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {WG_TIMEZONE: Europe/Berlin, WG_FROM_CONFIGMAP_MADE_UP: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: w}
spec:
  template:
    spec:
      containers:
        - name: w
          image: ghcr.io/weltgewebe/weltgewebe:1
          args: ["serve", "--dev", "--name", "x", "--k8s-made-up"]
          envFrom: [{configMapRef: {name: cfg}}, {configMapRef: {name: missing}}]
          env: [{name: DATABASE_URL, value: "postgres://"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := readManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	uses, problems := k8sUses(objs, image)
	problems = append(problems, b.check(use{where: "Dockerfile", args: image.cmd, env: image.env})...)
	for _, s := range composeInstances(services) {
		problems = append(problems, b.check(use{where: "compose " + s.name, args: s.command, env: s.env})...)
	}
	for _, u := range uses {
		problems = append(problems, b.check(u)...)
	}
	// A pending name that the binary has: here "--listen" stands in for one.
	problems = append(problems, b.stalePending(map[string]string{"--listen": "a test", "--not-yet": "a test"})...)

	want := []string{
		"Dockerfile: serve has no flag --no-such-flag",
		"Dockerfile: the binary reads no environment variable WG_NO_SUCH_SETTING",
		"compose app: serve has no flag --made-up-flag",
		"compose app: the binary reads no environment variable WG_MADE_UP_ENV",
		`compose tool: "frobnicate" is not a command of the binary`,
		"container w: serve has no flag --k8s-made-up",
		"container w: the binary reads no environment variable WG_FROM_CONFIGMAP_MADE_UP",
		`container w: envFrom ConfigMap "missing" is in no manifest`,
		"--listen exists now (a test): delete it from pending",
	}
	got := strings.Join(problems, "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("not reported: %s", w)
		}
	}
	// And nothing else: the real names beside the made-up ones pass.
	if len(problems) != len(want) {
		t.Errorf("reported %d problems, want %d:\n%s", len(problems), len(want), got)
	}
}

// deploy/compose/nginx-entrypoint.sh renders deploy/nginx/weltgewebe.conf for the compose
// network; nginx accepts what it writes (nginx -t, with this machine's paths for the
// certificates, logs and HLS), and every upstream server is the compose service.
func TestComposeNginxRenders(t *testing.T) {
	bin, err := nginxrtmp.Binary()
	if err != nil {
		t.Skipf("nginx with the RTMP module: %v", err)
	}
	dir := t.TempDir()
	host := "weltgewebe.test"
	certDir := filepath.Join(dir, "letsencrypt", "live", host)
	writeSelfSigned(t, certDir, host)
	rendered := filepath.Join(dir, "rendered.conf")
	cmd := exec.Command("sh", "../../deploy/compose/nginx-entrypoint.sh")
	cmd.Env = append(os.Environ(), "WG_HOST="+host, "WG_RTMP_SECRET=0123abcd", "WG_UPSTREAM=127.0.0.1:18080",
		"WG_NGINX_SRC=../../deploy/nginx/weltgewebe.conf", "WG_NGINX_DST="+rendered, "WG_NGINX_RENDER_ONLY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nginx-entrypoint.sh: %v\n%s", err, out)
	}
	data, err := os.ReadFile(rendered)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(data)
	// What the script must have replaced.
	for _, gone := range []string{"127.0.0.1:80", "lindenau.example.org", "secret=SECRET"} {
		if strings.Contains(conf, gone) {
			t.Errorf("the rendered config still has %q", gone)
		}
	}
	if !strings.Contains(conf, "secret=0123abcd") || !strings.Contains(conf, "server_name "+host) {
		t.Errorf("the rendered config lacks the secret or the host:\n%s", conf)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([^\s;{]+)[^;]*;`).FindAllStringSubmatch(conf, -1) {
		if m[1] != "127.0.0.1:18080" {
			t.Errorf("upstream server %q is not the compose service (WG_UPSTREAM)", m[1])
		}
	}
	// This machine's paths for what the container has at its own, then nginx -t.
	local := strings.NewReplacer(
		"/etc/letsencrypt", filepath.Join(dir, "letsencrypt"),
		"/var/log/nginx", dir,
		"/var/lib/weltgewebe-stream", dir,
		"pid /run/nginx.pid;", "pid "+filepath.Join(dir, "nginx.pid")+";",
		"include /etc/nginx/modules-enabled/*.conf;", "load_module "+nginxrtmp.Module+";",
	).Replace(conf)
	if err := os.MkdirAll(filepath.Join(dir, "hls"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rendered, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-c", rendered).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t on the rendered config: %v\n%s", err, out)
	}
}

// writeSelfSigned writes fullchain.pem and privkey.pem for host into dir.
func writeSelfSigned(t *testing.T, dir, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "privkey.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}
