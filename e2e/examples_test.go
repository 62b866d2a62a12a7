package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// TestFileExamples loads examples/dynamic.yml and examples/dynamic.toml into Traefik as they are,
// only with the demo addresses pointed at this test's IdP and backend, and walks the guide's cases.
func TestFileExamples(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dynamic.yml", "dynamic.toml"} {
		t.Run(name, func(t *testing.T) {
			s := newStack(t)
			content, err := harness.ReadExample(root, name)
			if err != nil {
				t.Fatal(err)
			}
			content, err = harness.Localize("examples/"+name, content, map[string]string{
				harness.ExampleIdPURL: s.idpURL, harness.ExampleBackendURL: s.backendURL,
			})
			if err != nil {
				t.Fatal(err)
			}
			tr := startTraefik(t, harness.Options{Dynamic: map[string]string{name: content}})
			routers, err := tr.WaitProviderRouters(context.Background(), 60*time.Second, "file")
			if err != nil {
				t.Fatalf("examples/%s: %v", name, err)
			}
			t.Logf("examples/%s: routers %v", name, routers)
			if err := tr.WaitHTTP(context.Background(), 30*time.Second, "/shift", func(s int) bool { return s != http.StatusNotFound }); err != nil {
				t.Fatal(err)
			}
			runCases(t, tr.URL, harness.GuideCases(), s.mint())
		})
	}
}
