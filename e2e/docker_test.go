package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

func dockerAvailable() error {
	_, err := harness.Docker(context.Background(), 20*time.Second, "info")
	return err
}

// composeService is the part of a compose service the test reads.
type composeService struct {
	Image   string    `yaml:"image"`
	Command []string  `yaml:"command"`
	Labels  yaml.Node `yaml:"labels"`
}

// labels reads list ("k=v") or map labels.
func (s composeService) labels() (map[string]string, error) {
	out := map[string]string{}
	switch s.Labels.Kind {
	case 0:
	case yaml.SequenceNode:
		var list []string
		if err := s.Labels.Decode(&list); err != nil {
			return nil, err
		}
		for _, l := range list {
			k, v, _ := strings.Cut(l, "=")
			out[k] = v
		}
	default:
		if err := s.Labels.Decode(&out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const (
	catalogModuleFlag  = "--experimental.plugins.withauth.moduleName=" + harness.Module
	catalogVersionFlag = "--experimental.plugins.withauth.version="
)

// TestDockerLabels runs examples/docker-compose.yml for real with docker-compose. An override
// file swaps only the images (FROM scratch builds of the cached Traefik, the IdP and the backend)
// and the catalog plugin for the same plugin as a local plugin; the labels are the example's.
func TestDockerLabels(t *testing.T) {
	requireDocker(t)
	ctx := context.Background()
	sweepStaleProjects(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	examplePath := filepath.Join(root, "examples", "docker-compose.yml")
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var example struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &example); err != nil {
		t.Fatalf("examples/docker-compose.yml: %v", err)
	}

	// The images the example names, and what replaces each.
	images := map[string]string{}
	bin := t.TempDir()
	traefikBin, err := harness.TraefikBinary(ctx, root, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	traefikImage, err := harness.TraefikImage(root, traefikBin)
	if err != nil {
		t.Fatal(err)
	}
	build := func(im harness.Image) string {
		start := time.Now()
		ref, err := im.Build(ctx)
		if err != nil {
			t.Fatalf("docker build %s: %v", im.Repo, err)
		}
		t.Logf("image %s ready in %s", ref, time.Since(start).Round(time.Millisecond))
		return ref
	}
	for _, p := range []struct{ example, program string }{
		{"withauth-demo-idp:local", "idp"}, {"withauth-demo-backend:local", "backend"},
	} {
		out := filepath.Join(bin, p.program)
		if err := harness.BuildGo(ctx, filepath.Join(root, "e2e"), "./cmd/"+p.program, out); err != nil {
			t.Fatal(err)
		}
		images[p.example] = build(harness.ProgramImage("withauth-e2e-"+p.program, out))
	}
	traefikRef := build(traefikImage)

	override := map[string]any{}
	var backendService string
	var backendLabels map[string]string
	for name, svc := range example.Services {
		entry := map[string]any{}
		switch {
		case strings.HasPrefix(svc.Image, "traefik:"):
			entry["image"] = traefikRef
			command, err := localPluginCommand(svc.Command)
			if err != nil {
				t.Fatalf("examples/docker-compose.yml service %s: %v", name, err)
			}
			entry["command"] = command
		case images[svc.Image] != "":
			entry["image"] = images[svc.Image]
		default:
			t.Fatalf("examples/docker-compose.yml service %s: image %q is none of traefik:*, %v", name, svc.Image, images)
		}
		override[name] = entry
		labels, err := svc.labels()
		if err != nil {
			t.Fatalf("service %s labels: %v", name, err)
		}
		if labels["traefik.enable"] == "true" {
			backendService, backendLabels = name, labels
		}
	}
	if backendService == "" {
		t.Fatal("examples/docker-compose.yml: no service has the label traefik.enable=true")
	}
	// Beside the example's routes: two that labels must not weaken (each must be refused) and
	// one trusting a list of issuers, given as indexed labels.
	override[backendService].(map[string]any)["labels"] = extraRouteLabels
	compose, baseURL, mint := composeUp(t, examplePath, override)

	// The backend container carries exactly the example's labels.
	id, err := compose.Run(ctx, time.Minute, "ps", "-q", backendService)
	if err != nil {
		t.Fatal(err)
	}
	inspect, err := harness.Docker(ctx, time.Minute, "inspect", "--format", "{{json .Config.Labels}}", strings.TrimSpace(id))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(inspect), &got); err != nil {
		t.Fatalf("docker inspect labels: %v: %s", err, inspect)
	}
	for k := range got {
		if !strings.HasPrefix(k, "traefik.") {
			delete(got, k)
		}
	}
	for k := range extraRouteLabels {
		delete(got, k)
	}
	if !reflect.DeepEqual(got, backendLabels) {
		t.Errorf("container %s labels\n%v\nwant the example's (beside extraRouteLabels)\n%v", backendService, got, backendLabels)
	}

	waitDocker(t, baseURL, mint)
	runCases(t, baseURL, harness.GuideCases(), mint)

	logs, err := compose.Run(ctx, time.Minute, "logs", "--no-color", "traefik")
	if err != nil {
		t.Fatal(err)
	}
	check(t, baseURL, harness.Case{Path: "/fc-issuers", Who: "alice, iss one of issuers[0..1]", Raw: mustMint(t, mint, harness.Alice), Status: http.StatusOK,
		Seen: map[string]string{"X-User-Id": "alice"}})
	for path, want := range refusedRouteErrors {
		r, err := harness.Do(ctx, baseURL, harness.Case{Path: path, Token: &harness.Alice}, mint)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusInternalServerError || r.Err == nil || r.Err.Error != "server_error" {
			t.Errorf("GET %s with alice (read-only): status %d (%.200s); want 500 server_error from the refused route, not the catch-all's 200", path, r.Status, r.Body)
		}
		if !strings.Contains(logs, want) {
			t.Errorf("Traefik's log lacks New's refusal %q for %s", want, path)

		}
	}
}

// extraRouteLabels configure two routes as labels can weaken them, an empty list value (an
// unset ${ADMIN_ROLES} in docker-compose gives the same) and a misspelled key, a route with a
// list of issuers, and a catch-all router to the same backend, as most deployments have one.
var extraRouteLabels = map[string]string{
	"traefik.http.routers.fc-catchall.rule":                                       "PathPrefix(`/`)",
	"traefik.http.routers.fc-catchall.entrypoints":                                "web",
	"traefik.http.routers.fc-catchall.priority":                                   "1",
	"traefik.http.routers.fc-catchall.service":                                    "backend",
	"traefik.http.routers.fc-issuers.rule":                                        "PathPrefix(`/fc-issuers`)",
	"traefik.http.routers.fc-issuers.entrypoints":                                 "web",
	"traefik.http.routers.fc-issuers.middlewares":                                 "fc-issuers-auth",
	"traefik.http.routers.fc-issuers.service":                                     "backend",
	"traefik.http.middlewares.fc-issuers-auth.plugin.withauth.issuers[0].issuer":  "https://other-idp.example",
	"traefik.http.middlewares.fc-issuers-auth.plugin.withauth.issuers[0].jwksUrl": "https://other-idp.example/jwks.json",
	"traefik.http.middlewares.fc-issuers-auth.plugin.withauth.issuers[1].issuer":  "http://idp:9000",
	"traefik.http.middlewares.fc-issuers-auth.plugin.withauth.issuers[1].jwksUrl": "http://idp:9000/.well-known/jwks.json",
	"traefik.http.routers.fc-empty.rule":                                          "PathPrefix(`/fc-empty`)",
	"traefik.http.routers.fc-empty.entrypoints":                                   "web",
	"traefik.http.routers.fc-empty.middlewares":                                   "fc-empty-auth",
	"traefik.http.routers.fc-empty.service":                                       "backend",
	"traefik.http.middlewares.fc-empty-auth.plugin.withauth.jwksUrl":              "http://idp:9000/.well-known/jwks.json",
	"traefik.http.middlewares.fc-empty-auth.plugin.withauth.roles":                "",
	"traefik.http.routers.fc-typo.rule":                                           "PathPrefix(`/fc-typo`)",
	"traefik.http.routers.fc-typo.entrypoints":                                    "web",
	"traefik.http.routers.fc-typo.middlewares":                                    "fc-typo-auth",
	"traefik.http.routers.fc-typo.service":                                        "backend",
	"traefik.http.middlewares.fc-typo-auth.plugin.withauth.jwksUrl":               "http://idp:9000/.well-known/jwks.json",
	"traefik.http.middlewares.fc-typo-auth.plugin.withauth.role":                  "admin",
}

// mustMint mints a token for r or fails the test.
func mustMint(t *testing.T, mint harness.Minter, r idp.Request) string {
	t.Helper()
	token, err := mint(r)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// refusedRouteErrors are the refused paths of extraRouteLabels and what New logs of each.
var refusedRouteErrors = map[string]string{
	"/fc-empty": "withauth fc-empty-auth@docker: configuration refused, its routes answer 500 until it is fixed: roles: is empty",
	"/fc-typo":  `withauth fc-typo-auth@docker: configuration refused, its routes answer 500 until it is fixed: unknown key "role" (did you mean roles?)`,
}

// composeUp runs an example with docker-compose, its services changed by override (a compose
// override file), its ports free ones on 127.0.0.1 (WITHAUTH_HTTP_PORT, WITHAUTH_IDP_PORT), and
// takes it down when the test ends. It returns Traefik's base URL and a minter of the IdP's tokens.
func composeUp(t *testing.T, example string, override map[string]any, env ...string) (harness.Compose, string, harness.Minter) {
	t.Helper()
	ctx := context.Background()
	overrideData, err := yaml.Marshal(map[string]any{"services": override})
	if err != nil {
		t.Fatal(err)
	}
	overridePath := filepath.Join(t.TempDir(), "docker-compose.e2e.yml")
	if err := os.WriteFile(overridePath, overrideData, 0o644); err != nil {
		t.Fatal(err)
	}
	httpPort, err1 := harness.FreePort()
	idpPort, err2 := harness.FreePort()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	compose := harness.Compose{
		Project: "withauth-e2e-" + hex.EncodeToString(suffix),
		Files:   []string{example, overridePath},
		Env:     append([]string{fmt.Sprintf("WITHAUTH_HTTP_PORT=%d", httpPort), fmt.Sprintf("WITHAUTH_IDP_PORT=%d", idpPort)}, env...),
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := compose.Run(ctx, time.Minute, "logs", "--no-color", "--tail=40")
			t.Logf("override:\n%s\ndocker-compose logs:\n%s", overrideData, logs)
		}
		if out, err := compose.Run(ctx, 2*time.Minute, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	start := time.Now()
	if _, err := compose.Run(ctx, 3*time.Minute, "up", "-d", "--no-build"); err != nil {
		t.Fatal(err)
	}
	t.Logf("docker-compose up in %s", time.Since(start).Round(time.Millisecond))
	return compose, fmt.Sprintf("http://127.0.0.1:%d", httpPort), harness.HTTPMinter(fmt.Sprintf("http://127.0.0.1:%d", idpPort))
}

// localPluginCommand swaps the catalog plugin flags of the example's Traefik command for the
// same module as a local plugin; everything else stays.
func localPluginCommand(command []string) ([]string, error) {
	var out []string
	module, version := false, false
	for _, arg := range command {
		switch {
		case arg == catalogModuleFlag:
			module = true
			out = append(out, "--experimental.localPlugins.withauth.moduleName="+harness.Module)
		case strings.HasPrefix(arg, catalogVersionFlag):
			version = true
		default:
			out = append(out, arg)
		}
	}
	if !module || !version {
		return nil, fmt.Errorf("command %q does not install the plugin from the catalog (%s and %s<version>)", command, catalogModuleFlag, catalogVersionFlag)
	}
	return out, nil
}

// waitDocker waits until Traefik routes /shift and the plugin has the IdP's keys.
func waitDocker(t *testing.T, baseURL string, mint harness.Minter) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	c := harness.Case{Path: "/shift", Who: "alice", Token: &harness.Alice}
	last := "no answer"
	for time.Now().Before(deadline) {
		r, err := harness.Do(context.Background(), baseURL, c, mint)
		if err == nil && r.Status == http.StatusOK {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d: %.200s", r.Status, r.Body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Traefik in Docker never answered 200 on /shift with a valid token within 90s; last: %s", last)
}

// sweepStaleProjects removes containers and networks of earlier runs of this test that were
// killed before their cleanup ran (a go test timeout, say).
func sweepStaleProjects(t *testing.T) {
	ctx := context.Background()
	out, err := harness.Docker(ctx, time.Minute, "ps", "-a", "--format", `{{.ID}} {{.Label "com.docker.compose.project"}}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if id, project, _ := strings.Cut(line, " "); strings.HasPrefix(project, "withauth-e2e-") {
			t.Logf("removing container %s of stale project %s", id, project)
			_, _ = harness.Docker(ctx, time.Minute, "rm", "-f", id)
		}
	}
	out, err = harness.Docker(ctx, time.Minute, "network", "ls", "--format", "{{.Name}}")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(out) {
		if strings.HasPrefix(name, "withauth-e2e-") {
			t.Logf("removing stale network %s", name)
			_, _ = harness.Docker(ctx, time.Minute, "network", "rm", name)
		}
	}
}
