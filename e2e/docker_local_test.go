package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// TestDockerLocalPluginMount runs examples/docker-compose.local-plugin.yml: Traefik's image has
// no plugin in it, the repository is mounted read-only where Traefik reads local plugins, and no
// internet is needed at start. Only the images are swapped (FROM scratch builds of our binaries).
func TestDockerLocalPluginMount(t *testing.T) {
	requireDocker(t)
	ctx := context.Background()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(root, "examples", "docker-compose.local-plugin.yml")
	traefikBin, err := harness.TraefikBinary(ctx, root, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := func(im harness.Image) string {
		ref, err := im.Build(ctx)
		if err != nil {
			t.Fatalf("docker build %s: %v", im.Repo, err)
		}
		return ref
	}
	override := map[string]any{"traefik": map[string]any{"image": build(harness.ProgramImage("withauth-e2e-traefik-bare", traefikBin))}}
	for service, program := range map[string]string{"idp": "idp", "backend": "backend"} {
		out := filepath.Join(bin, program)
		if err := harness.BuildGo(ctx, filepath.Join(root, "e2e"), "./cmd/"+program, out); err != nil {
			t.Fatal(err)
		}
		override[service] = map[string]any{"image": build(harness.ProgramImage("withauth-e2e-"+program, out))}
	}
	_, baseURL, mint := composeUp(t, example, override, "WITHAUTH_PLUGIN_DIR="+root)
	deadline := time.Now().Add(90 * time.Second)
	for {
		r, err := harness.Do(ctx, baseURL, harness.Case{Path: "/admin", Token: &harness.Bob}, mint)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mounted local plugin never answered 200 for bob on /admin: %v %+v", err, r.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
	runCases(t, baseURL, []harness.Case{
		{Path: "/admin", Who: "bob (admin)", Token: &harness.Bob, Status: http.StatusOK, Seen: map[string]string{"X-User-Id": "bob"}},
		{Path: "/admin", Who: "alice (read-only)", Token: &harness.Alice, Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/admin", Who: "no token", Status: http.StatusUnauthorized},
	}, mint)
}
