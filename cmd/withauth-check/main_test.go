package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// checkFiles runs the command on files and returns its exit status and its report's lines.
func checkFiles(t *testing.T, args ...string) (int, []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := run(args, &stdout, &stderr)
	if status == 2 {
		t.Fatalf("withauth-check %v: status 2: %s", args, stderr.String())
	}
	text := strings.TrimSpace(stdout.String())
	if text == "" {
		return status, nil
	}
	return status, strings.Split(text, "\n")
}

// wantFindings checks that lines hold exactly the findings want: each a prefix of one line
// (file:line: subject: …), in order.
func wantFindings(t *testing.T, lines, want []string) {
	t.Helper()
	if len(lines) != len(want) {
		t.Errorf("%d findings:\n%s\nwant %d:\n%s", len(lines), strings.Join(lines, "\n"), len(want), strings.Join(want, "\n"))
		return
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("finding %d is\n  %s\nwant it to start with\n  %s", i+1, lines[i], want[i])
		}
	}
}

// TestExamplesHaveNoErrors: every example of examples/ passes; the Kubernetes ones with their
// Secret, as they are applied.
func TestExamplesHaveNoErrors(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.y*ml")
	if err != nil || len(examples) < 3 {
		t.Fatalf("examples: %v, %v; want the YAML examples", examples, err)
	}
	examples = append(examples, "../../examples/dynamic.toml")
	for _, dir := range []string{"../../examples/kubernetes", "../../examples/kubernetes/dpop", "../../examples/kubernetes/frontegg"} {
		manifests, _ := filepath.Glob(dir + "/*.yaml")
		examples = append(examples, manifests...)
	}
	examples = append(examples, "../../examples/kubernetes/20-secret.yaml")
	status, lines := checkFiles(t, examples...)
	for _, line := range lines {
		if !strings.Contains(line, ": warning: ") && !strings.Contains(line, ": note: ") {
			t.Errorf("an example has an error: %s", line)
		}
	}
	if status != 0 {
		t.Errorf("exit status %d on the examples; want 0", status)
	}
}

// TestNewcomerMistakes: each configuration mistake of the newcomer review, at its line, with
// the plugin's own message; the routers Traefik would drop, and the catch-all that would then
// serve their paths.
func TestNewcomerMistakes(t *testing.T) {
	status, lines := checkFiles(t, "testdata/mistakes/dynamic.yml")
	const f = "testdata/mistakes/dynamic.yml:"
	wantFindings(t, lines, []string{
		f + `8: typo-plugin@file: the middleware "typo-plugin@file" names a plugin Traefik does not know ("withAuth"): Traefik drops this router`,
		f + `12: missing@file: the middleware "does-not-exist@file" does not exist: Traefik drops this router`,
		f + `16: catch-all@file: warning: matches every path and reaches backend@file without withauth: when Traefik drops missing@file, typo-key@file, typo-plugin@file`,
		f + `25: typo-key@file: unknown key "role" (did you mean roles?)`,
		f + `29: snake-case@file: unknown key "jwks_url" (did you mean jwksUrl?)`,
		f + `34: flow-list@file: roles: "[admin, ops]" is a list written inside one string`,
		f + `39: skew@file: clockSkew: "30" is not a duration`,
		f + `44: dpop-true@file: dpop: "true" is not a setting`,
		f + `51: inline-secret@file: warning: introspectionClientSecret: given inline, so Traefik's API and dashboard show it; give introspectionClientSecretFile`,
		f + `56: null-roles@file: roles: is written without a value (null), which Traefik's file provider drops`,
		f + `57: typo-plugin@file: plugin "withAuth" is not "withauth": Traefik's plugin names are case-sensitive`,
	})
	if status != 1 {
		t.Errorf("exit status %d with errors; want 1", status)
	}
}

// TestLabels: a compose file's labels decoded as the Docker provider decodes them, the plugins
// its Traefik service declares on the command line.
func TestLabels(t *testing.T) {
	_, lines := checkFiles(t, "testdata/labels/docker-compose.yml")
	const f = "testdata/labels/docker-compose.yml:"
	wantFindings(t, lines, []string{
		f + `14: app-auth@docker: roles: "[admin, ops]" is a list written inside one string`,
		f + `18: admin@docker: the middleware "admin-auth@docker" names a plugin Traefik does not know ("withAuth")`,
		f + `20: admin-auth@docker: plugin "withAuth" is not declared in Traefik's static configuration`,
	})
}

// TestKubernetes: Middlewares, IngressRoutes and Ingresses as Traefik names them, a
// urn:k8s:secret: resolved from the Secret given.
func TestKubernetes(t *testing.T) {
	_, lines := checkFiles(t, "testdata/kubernetes/manifests.yaml")
	const f = "testdata/kubernetes/manifests.yaml:"
	wantFindings(t, lines, []string{
		f + `20: shop-dpop-auth@kubernetescrd: dpopOrigins: is required with dpop`,
		f + `45: shop-shop route 2@kubernetescrd: the middleware "shop-basket-auth@kubernetescrd" does not exist`,
		f + `52: shop-shop route 3@kubernetescrd: warning: matches every path and reaches shop-api@kubernetes without withauth`,
		f + `67: shop-legacy rule 1 path 1@kubernetes: the middleware "shop-legacy-auth@kubernetescrd" does not exist`,
	})
	_, alone := checkFiles(t, "testdata/kubernetes/manifests.yaml", "../../examples/kubernetes/dpop/30-middleware.yaml")
	found := false
	for _, line := range alone {
		found = found || strings.Contains(line, "jwksUrl: urn:k8s:secret:withauth-idp:jwksUrl names a Secret not among the files given")
	}
	if !found {
		t.Errorf("a Middleware whose Secret is not given: %q; want a warning naming the Secret", alone)
	}
}

// TestStaticConfiguration: withauth under the name the static configuration gives it; another
// name is a plugin Traefik does not know; TOML lines.
func TestStaticConfiguration(t *testing.T) {
	_, lines := checkFiles(t, "testdata/static/traefik.yml", "testdata/static/dynamic.toml")
	wantFindings(t, lines, []string{
		`testdata/static/dynamic.toml:6: old@file: the middleware "old-auth@file" names a plugin Traefik does not know ("withauth")`,
		`testdata/static/dynamic.toml:13: api-auth@file: cacheSize: "lots" is not a whole number`,
		`testdata/static/dynamic.toml:15: old-auth@file: plugin "withauth" is not declared`,
		`testdata/static/traefik.yml:1: static configuration: note: experimental.abortOnPluginFailure is not true`,
	})
}

// TestJSONFormat: -format json gives the same findings as objects, for CI annotations.
func TestJSONFormat(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if status := run([]string{"-format", "json", "testdata/static/traefik.yml", "testdata/static/dynamic.toml"}, &stdout, &stderr); status != 1 {
		t.Fatalf("status %d (%s); want 1", status, stderr.String())
	}
	var findings []struct {
		File, Severity, Subject, Key, Message string
		Line                                  int
	}
	if err := json.Unmarshal(stdout.Bytes(), &findings); err != nil || len(findings) != 4 {
		t.Fatalf("JSON %s: %v; want 4 findings", stdout.String(), err)
	}
	if got := findings[1]; got.File != "testdata/static/dynamic.toml" || got.Line != 13 || got.Severity != "error" || got.Subject != "api-auth@file" || got.Key != "cacheSize" {
		t.Errorf("the second finding is %+v; want dynamic.toml:13, an error of api-auth@file on cacheSize", got)
	}
}

// TestUnsetVariable: a file-provider template reading a variable unset here is noted, and the
// setting is checked as Traefik would read it there: empty.
func TestUnsetVariable(t *testing.T) {
	lookupEnv = func(string) (string, bool) { return "", false }
	defer func() { lookupEnv = lookupEnvDefault }()
	_, lines := checkFiles(t, "testdata/template.yml")
	wantFindings(t, lines, []string{
		`testdata/template.yml:8: template: note: the variable INTROSPECTION_SECRET is not set here`,
		`testdata/template.yml:8: auth@file: introspectionClientSecret: is empty`,
	})
}
