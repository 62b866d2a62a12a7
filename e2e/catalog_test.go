package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/yaegiplugin"
)

// TestCatalogManifest checks .traefik.yml against what Traefik's plugin catalog requires of a
// middleware plugin: the manifest's fields, an import path that is the module's and names its
// package, no dependencies, and testData that New accepts offline, interpreted and decoded as
// Traefik does, well within the analyzer's 10 seconds.
func TestCatalogManifest(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, ".traefik.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DisplayName string         `yaml:"displayName"`
		Type        string         `yaml:"type"`
		Import      string         `yaml:"import"`
		Summary     string         `yaml:"summary"`
		TestData    map[string]any `yaml:"testData"`
	}
	if err := yaml.Unmarshal(data, &manifest); err != nil {
		t.Fatalf(".traefik.yml: %v", err)
	}
	if manifest.DisplayName == "" || manifest.Summary == "" || manifest.Type != "middleware" {
		t.Errorf(".traefik.yml: displayName %q, summary %q, type %q; want both set and type middleware", manifest.DisplayName, manifest.Summary, manifest.Type)
	}
	if manifest.Import != harness.Module {
		t.Errorf(".traefik.yml import %q; want the module path %s", manifest.Import, harness.Module)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gomod), "module "+harness.Module+"\n") || regexp.MustCompile(`(?m)^\s*require\b`).Match(gomod) {
		t.Errorf("go.mod:\n%s\nwant module %s and no require: the catalog refuses plugins with dependencies", gomod, harness.Module)
	}
	// Traefik evaluates <basePkg>.New, basePkg being the import path's last element.
	if pkg := strings.ReplaceAll(path.Base(manifest.Import), "-", "_"); !strings.Contains(string(mustRead(t, filepath.Join(root, "plugin.go"))), "\npackage "+pkg+"\n") {
		t.Errorf("plugin.go is not package %s, which Traefik evaluates New in", pkg)
	}
	if len(manifest.TestData) == 0 {
		t.Fatalf(".traefik.yml has no testData; the catalog's analyzer builds the middleware with it")
	}
	plugin, err := yaegiplugin.StageAndLoad(root, t.TempDir(), harness.Module, yaegiplugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	handler, err := plugin.New(context.Background(), http.NotFoundHandler(), manifest.TestData, "catalog")
	if err != nil {
		t.Fatalf("New with .traefik.yml's testData, under Yaegi: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("New with the testData took %s under Yaegi; want far below the analyzer's 10 s", elapsed)
	}
	// New never returns an error (a refused configuration answers 500 instead), so the analyzer
	// alone would not notice a refused testData: a request without a token must get the 401 of
	// a configured route.
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://catalog.example/", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("the testData's middleware answered a request without a token %d %s; want 401 (500 means New refused the testData)", rec.Code, rec.Body.String())
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
