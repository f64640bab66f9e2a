package main

// The readers of the deployment files for deploy_test.go: each turns a file into the starts of
// the binary it describes (command line, environment) and what surrounds them (ports, probes,
// replicas). They read what the files say, not what Docker or Kubernetes would make of it.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ---- the Dockerfile

type dockerfile struct {
	goImage    string            // the golang stage's image
	runtime    string            // the last stage's image: what runs
	env        map[string]string // ENV of the final stage
	expose     []string
	entrypoint []string
	cmd        []string
}

func parseDockerfile(data []byte) (dockerfile, error) {
	d := dockerfile{env: map[string]string{}}
	text := regexp.MustCompile(`\\\n`).ReplaceAllString(string(data), " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "FROM":
			// A new stage: what the image runs is the last stage's.
			d.env, d.expose, d.entrypoint, d.cmd = map[string]string{}, nil, nil, nil
			d.runtime = strings.Fields(args)[0]
			if strings.HasPrefix(d.runtime, "golang:") {
				d.goImage = d.runtime
			}
		case "ENV":
			fields := strings.Fields(args)
			if len(fields) > 0 && !strings.Contains(fields[0], "=") {
				d.env[fields[0]] = strings.Join(fields[1:], " ")
				continue
			}
			for _, f := range fields {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return d, fmt.Errorf("ENV %q: not KEY=VALUE", f)
				}
				d.env[k] = strings.Trim(v, `"`)
			}
		case "EXPOSE":
			for _, p := range strings.Fields(args) {
				d.expose = append(d.expose, strings.TrimSuffix(p, "/tcp"))
			}
		case "ENTRYPOINT", "CMD":
			var list []string
			if err := yaml.Unmarshal([]byte(args), &list); err != nil || !strings.HasPrefix(args, "[") {
				return d, fmt.Errorf("%s %s: want the exec form [\"…\"]", instr, args)
			}
			if strings.ToUpper(instr) == "ENTRYPOINT" {
				d.entrypoint = list
			} else {
				d.cmd = list
			}
		}
	}
	return d, nil
}

// ---- YAML, read generically

func yamlDocs(data []byte) ([]map[string]any, error) {
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func list(v any) []any { l, _ := v.([]any); return l }

func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, str(x))
	}
	return out
}

// ---- deploy/compose.yaml

type composeService struct {
	name      string
	image     string
	buildCtx  string
	inline    bool // dockerfile_inline: not the repository's Dockerfile
	command   []string
	env       map[string]string
	expose    []string
	health    []string
	replicas  int
	stopGrace string
}

func parseCompose(data []byte) (map[string]composeService, error) {
	docs, err := yamlDocs(data)
	if err != nil || len(docs) != 1 {
		return nil, fmt.Errorf("compose file: %v (%d documents)", err, len(docs))
	}
	services := map[string]composeService{}
	raw, _ := at(docs[0], "services").(map[string]any)
	for name, v := range raw {
		s := composeService{name: name, image: str(at(v, "image")), buildCtx: str(at(v, "build", "context")),
			inline: at(v, "build", "dockerfile_inline") != nil, env: map[string]string{}, stopGrace: str(at(v, "stop_grace_period")),
			expose: strs(at(v, "expose")), health: strs(at(v, "healthcheck", "test")), replicas: 1}
		switch c := at(v, "command").(type) {
		case string:
			s.command = strings.Fields(c)
		case []any:
			s.command = strs(c)
		}
		switch e := at(v, "environment").(type) {
		case map[string]any:
			for k, val := range e {
				s.env[k] = str(val)
			}
		case []any:
			for _, kv := range strs(e) {
				k, val, _ := strings.Cut(kv, "=")
				s.env[k] = val
			}
		}
		if r, ok := at(v, "deploy", "replicas").(int); ok {
			s.replicas = r
		}
		services[name] = s
	}
	return services, nil
}

// composeInstances are the services that run the instance's image: built from the
// repository's Dockerfile, or using the image such a service builds.
func composeInstances(services map[string]composeService) []composeService {
	images := map[string]bool{}
	for _, s := range services {
		if s.buildCtx == ".." && !s.inline {
			images[s.image] = true
		}
	}
	var out []composeService
	for _, name := range sortedKeys(services) {
		if s := services[name]; (s.buildCtx == ".." && !s.inline) || (s.image != "" && images[s.image]) {
			out = append(out, s)
		}
	}
	return out
}

// ---- deploy/kubernetes/

type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return str(o.doc["kind"]) }
func (o k8sObject) name() string { return str(at(o.doc, "metadata", "name")) }

func readManifests(dir string) ([]k8sObject, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no manifests in %s: %v", dir, err)
	}
	var objs []k8sObject
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		docs, err := yamlDocs(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, d := range docs {
			objs = append(objs, k8sObject{file: filepath.Base(f), doc: d})
		}
	}
	return objs, nil
}

func find(objs []k8sObject, kind, name string) (k8sObject, bool) {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o, true
		}
	}
	return k8sObject{}, false
}

// podSpec is a workload's pod template spec (nil for other kinds).
func podSpec(o k8sObject) map[string]any {
	var spec any
	switch o.kind() {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		spec = at(o.doc, "spec", "template", "spec")
	case "CronJob":
		spec = at(o.doc, "spec", "jobTemplate", "spec", "template", "spec")
	}
	m, _ := spec.(map[string]any)
	return m
}

// isInstanceImage says whether a container runs the image built from the Dockerfile.
func isInstanceImage(image string) bool {
	repo, _, _ := strings.Cut(image, ":")
	return strings.HasSuffix(repo, "/weltgewebe") || repo == "weltgewebe"
}

// k8sUses returns a use per container of the instance's image, with the env it gets from its
// env list and its envFrom ConfigMaps and Secrets (the objects in objs).
func k8sUses(objs []k8sObject, image dockerfile) (uses []use, problems []string) {
	for _, o := range objs {
		spec := podSpec(o)
		for _, c := range list(at(spec, "containers")) {
			if !isInstanceImage(str(at(c, "image"))) {
				continue
			}
			where := fmt.Sprintf("%s: %s %s, container %s", o.file, o.kind(), o.name(), str(at(c, "name")))
			args := image.cmd
			if cmd := strs(at(c, "command")); len(cmd) > 0 {
				if filepath.Base(cmd[0]) != "weltgewebe" {
					problems = append(problems, where+": command does not start the weltgewebe binary")
				}
				args = cmd[1:]
			}
			if a := strs(at(c, "args")); at(c, "args") != nil {
				args = a
			}
			u := use{where: where, args: args, env: map[string]string{}}
			for _, from := range list(at(c, "envFrom")) {
				kind, ref := "ConfigMap", at(from, "configMapRef")
				if ref == nil {
					kind, ref = "Secret", at(from, "secretRef")
				}
				src, ok := find(objs, kind, str(at(ref, "name")))
				if !ok {
					if at(ref, "optional") != true {
						problems = append(problems, fmt.Sprintf("%s: envFrom %s %q is in no manifest", where, kind, str(at(ref, "name"))))
					}
					continue
				}
				for _, field := range []string{"data", "stringData"} {
					if m, ok := at(src.doc, field).(map[string]any); ok {
						for k, v := range m {
							u.env[k] = str(v)
						}
					}
				}
			}
			for _, e := range list(at(c, "env")) {
				u.env[str(at(e, "name"))] = str(at(e, "value"))
			}
			uses = append(uses, u)
		}
	}
	return uses, problems
}

// ---- deploy/weltgewebe.service

func parseUnit(data []byte) (use, error) {
	u := use{where: "deploy/weltgewebe.service", env: map[string]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		switch key {
		case "Environment":
			for _, kv := range strings.Fields(value) {
				k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				u.env[k] = v
			}
		case "ExecStart":
			fields := strings.Fields(value)
			if len(fields) == 0 || filepath.Base(fields[0]) != "weltgewebe" {
				return u, fmt.Errorf("ExecStart %q does not start weltgewebe", value)
			}
			u.args = fields[1:]
		}
	}
	return u, nil
}
