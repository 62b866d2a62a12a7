package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// The address of the demo IdP inside the cluster, as examples/kubernetes names it.
const k8sIdPURL = "http://idp.withauth-demo.svc.cluster.local:9000"

// TestKubernetesExamples converts examples/kubernetes the way Traefik's CRD provider reads
// Middlewares (JSON round trip, urn:k8s:secret resolved from the Secret manifest) and routes the
// IngressRoute's routes through Traefik's file provider, then walks the guide's cases.
func TestKubernetesExamples(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	seenIdP := false
	m, err := harness.LoadManifests(filepath.Join(root, "examples", "kubernetes"), func(name, content string) (string, error) {
		seenIdP = seenIdP || strings.Contains(content, k8sIdPURL)
		return strings.ReplaceAll(content, k8sIdPURL, s.idpURL), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seenIdP {
		t.Fatalf("examples/kubernetes never mentions the demo IdP %s", k8sIdPURL)
	}
	if len(m.Middlewares) != 4 || len(m.IngressRoutes) != 1 {
		t.Fatalf("examples/kubernetes: %d Middlewares and %d IngressRoutes, want 4 and 1", len(m.Middlewares), len(m.IngressRoutes))
	}
	for _, mw := range m.Middlewares {
		if ref, _ := mw.Spec["plugin"].(map[string]any)["withauth"].(map[string]any)["jwksUrl"].(string); !strings.HasPrefix(ref, "urn:k8s:secret:") {
			t.Errorf("middleware %s: jwksUrl %q, want a urn:k8s:secret: reference", mw.Name, ref)
		}
		conf, err := m.PluginConfig(mw)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := conf["withauth"]["jwksUrl"], s.idpURL+idp.JWKSPath; got != want {
			t.Errorf("middleware %s: jwksUrl resolved to %q, want %q (from the Secret)", mw.Name, got, want)
		}
	}
	dynamic, err := m.FileConfig(map[string]string{"withauth-demo/backend:80": s.backendURL})
	if err != nil {
		t.Fatal(err)
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"kubernetes.yml": dynamic}})
	routers, err := tr.WaitProviderRouters(context.Background(), 60*time.Second, "file")
	if err != nil {
		t.Fatalf("%v\nconverted configuration:\n%s", err, dynamic)
	}
	if len(routers) != 4 {
		t.Errorf("routers %v, want the IngressRoute's 4 routes", routers)
	}
	if err := tr.WaitHTTP(context.Background(), 30*time.Second, "/shift", func(s int) bool { return s != http.StatusNotFound }); err != nil {
		t.Fatal(err)
	}
	runCases(t, tr.URL, harness.GuideCases(), s.mint())
}

// TestCRDPluginConversion pins the conversion itself: nested and listed secret references, and
// errors for what Traefik rejects.
func TestCRDPluginConversion(t *testing.T) {
	m := &harness.Manifests{Secrets: map[string]map[string]string{"ns/keys": {"pem": "PEM", "a": "A"}}}
	var spec map[string]any
	if err := json.Unmarshal([]byte(`{"plugin": {"withauth": {"publicKey": "urn:k8s:secret:keys:pem",
		"roles": ["admin", "urn:k8s:secret:keys:a"], "forwardHeaders": {"X-User-Id": "sub", "X-A": "urn:k8s:secret:keys:a"},
		"skipPreflight": false, "cacheSize": 10}}}`), &spec); err != nil {
		t.Fatal(err)
	}
	conf, err := m.PluginConfig(harness.Object{Name: "mw", Nsp: "ns", Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"publicKey": "PEM", "roles": []any{"admin", "A"},
		"forwardHeaders": map[string]any{"X-User-Id": "sub", "X-A": "A"}, "skipPreflight": false, "cacheSize": float64(10)}
	if !reflect.DeepEqual(conf["withauth"], want) {
		t.Errorf("converted %#v, want %#v", conf["withauth"], want)
	}
	for _, urn := range []string{"urn:k8s:secret:missing:pem", "urn:k8s:secret:keys:missing", "urn:k8s:secret:keys"} {
		spec := map[string]any{"plugin": map[string]any{"withauth": map[string]any{"publicKey": urn}}}
		if _, err := m.PluginConfig(harness.Object{Name: "mw", Nsp: "ns", Spec: spec}); err == nil {
			t.Errorf("%s: converted without error, want the error Traefik gives", urn)
		}
	}
	other := map[string]any{"plugin": map[string]any{"withauth": map[string]any{"publicKey": "urn:k8s:secret:keys:pem"}}}
	if _, err := m.PluginConfig(harness.Object{Name: "mw", Nsp: "elsewhere", Spec: other}); err == nil {
		t.Error("a Secret of another namespace was used; Traefik reads only the Middleware's namespace")
	}
}
