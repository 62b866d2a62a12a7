package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
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
	tr := startIngressRoute(t, m, s.backendURL, "kubernetes.yml")
	runCases(t, tr.URL, harness.GuideCases(), s.mint())
}

// Frontegg's API gateway as examples/kubernetes/frontegg names it, and its credentials Secret.
const (
	k8sFronteggGateway = "https://api.frontegg.com"
	k8sFronteggSecret  = "withauth-demo/frontegg-credentials"
)

// TestKubernetesFronteggExample converts examples/kubernetes/frontegg (Frontegg vendor mode,
// clientId and apiKey from a Secret through urn:k8s:secret) as TestKubernetesExamples does, with
// only the gateway pointed at a mock of Frontegg's API that accepts nothing but the Secret's
// credentials, and runs it in a Traefik whose environment has no FRONTEGG_* variable: the
// credentials can only have come through the secret references.
func TestKubernetesFronteggExample(t *testing.T) {
	t.Parallel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	key, publicPEM := fronteggKey(t)

	// The mock's address is needed to localize the manifests, and the Secret's credentials to
	// build the mock: the server's listener is bound now, and it starts once the mock exists.
	var mu sync.Mutex
	var vendorBodies []map[string]string
	mockSrv := httptest.NewUnstartedServer(nil)
	mockURL := "http://" + mockSrv.Listener.Addr().String()
	backendSrv := httptest.NewServer(backend.Handler("backend"))
	t.Cleanup(func() {
		mockSrv.Close()
		backendSrv.Close()
	})

	dir := filepath.Join(root, "examples", "kubernetes", "frontegg")
	seenGateway := false
	m, err := harness.LoadManifests(dir, func(name, content string) (string, error) {
		if !strings.Contains(content, k8sFronteggGateway) {
			return content, nil
		}
		seenGateway = true
		return harness.Localize(name, content, map[string]string{k8sFronteggGateway: mockURL})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seenGateway {
		t.Fatalf("examples/kubernetes/frontegg never mentions Frontegg's gateway %s", k8sFronteggGateway)
	}
	if len(m.Middlewares) != 4 || len(m.IngressRoutes) != 1 {
		t.Fatalf("examples/kubernetes/frontegg: %d Middlewares and %d IngressRoutes, want 4 and 1", len(m.Middlewares), len(m.IngressRoutes))
	}
	secret := m.Secrets[k8sFronteggSecret]
	clientID, apiKeyValue := secret["clientId"], secret["apiKey"]
	if clientID == "" || apiKeyValue == "" {
		t.Fatalf("examples/kubernetes/frontegg: Secret %s has clientId %q and apiKey %q, want both", k8sFronteggSecret, clientID, apiKeyValue)
	}
	// Every middleware must be in vendor mode with the Secret's credentials and the mock's
	// gateway; anything else would reach another key source or the real Frontegg.
	for _, mw := range m.Middlewares {
		plugin, _ := mw.Spec["plugin"].(map[string]any)
		raw, _ := plugin["withauth"].(map[string]any)
		for _, k := range []string{"clientId", "apiKey"} {
			if ref, _ := raw[k].(string); !strings.HasPrefix(ref, "urn:k8s:secret:frontegg-credentials:") {
				t.Errorf("middleware %s: %s %q, want a urn:k8s:secret:frontegg-credentials: reference", mw.Name, k, ref)
			}
		}
		conf, err := m.PluginConfig(mw)
		if err != nil {
			t.Fatal(err)
		}
		got := conf["withauth"]
		for _, k := range []string{"jwksUrl", "issuer", "publicKey"} {
			if v, ok := got[k]; ok {
				t.Errorf("middleware %s: %s %v is set; Frontegg vendor mode needs none of jwksUrl, issuer, publicKey", mw.Name, k, v)
			}
		}
		for k, want := range map[string]string{"clientId": clientID, "apiKey": apiKeyValue, "apiGatewayUrl": mockURL} {
			if got[k] != want {
				t.Errorf("middleware %s: %s resolved to %v, want %q", mw.Name, k, got[k], want)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	mock := fronteggmock.New(clientID, apiKeyValue, publicPEM)
	mock.AddAccessToken("users", "uat-k8s", fronteggmock.Grants{Roles: []string{"read-only"}})
	t.Cleanup(mock.Close)
	mockSrv.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/auth/vendor" {
			// Record what Traefik authenticated with, and hand the body on to the mock.
			body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
			var fields map[string]string
			_ = json.Unmarshal(body, &fields)
			mu.Lock()
			vendorBodies = append(vendorBodies, fields)
			mu.Unlock()
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		mock.ServeHTTP(rw, req)
	})
	mockSrv.Start()

	// No Env: Traefik's environment is PATH and HOME only, so no FRONTEGG_* fallback.
	tr := startIngressRoute(t, m, backendSrv.URL, "kubernetes-frontegg.yml")
	if n := mock.VendorAuths.Load() + mock.KeyFetches.Load() + mock.Checks.Load(); n != 0 {
		t.Errorf("Frontegg's API was called %d times before any request carried a token; want none", n)
	}
	defer logPluginLines(t, tr)

	s := &fronteggSetup{mock: mock, key: key, tr: tr}
	admin := s.token(t, "userToken", map[string]any{"sub": "user-ada", "roles": []string{"admin"}})
	readOnlyUser := s.token(t, "userToken", map[string]any{"sub": "user-bob", "roles": []string{"read-only"},
		"permissions": []string{"uploadFile"}})
	access := s.token(t, "userAccessToken", map[string]any{"sub": "uat-k8s", "userId": "user-carol"})
	runCases(t, tr.URL, []harness.Case{
		expect(harness.Case{Path: "/admin", Who: "no credentials"}, 401, ""),
		expect(harness.Case{Path: "/shift", Who: "no credentials"}, 401, ""),
		expect(bearer("/admin", "userToken (admin)", admin), 200, "", "X-User-Id", "user-ada", "X-User-Roles", "admin"),
		expect(bearer("/admin", "userToken (read-only)", readOnlyUser), 403, "insufficient_scope"),
		expect(bearer("/home", "userToken (read-only)", readOnlyUser), 200, "", "X-User-Id", "user-bob", "X-User-Roles", "read-only"),
		expect(bearer("/uploads", "userToken (uploadFile)", readOnlyUser), 200, "", "X-User-Id", "user-bob"),
		expect(bearer("/uploads", "userToken (admin, no uploadFile)", admin), 403, "insufficient_scope"),
		expect(apiKey("/shift", "userAccessToken uat-k8s (active)", access), 200, "", "X-User-Id", "user-carol", "X-Tenant-Id", fgTenant),
	}, nil)

	if auths := mock.VendorAuths.Load(); auths != 1 {
		t.Errorf("Frontegg's API saw %d vendor authentications, want exactly 1 (shared by the four middlewares)", auths)
	}
	if fetches := mock.KeyFetches.Load(); fetches != 1 {
		t.Errorf("Frontegg's key was fetched %d times, want 1", fetches)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"clientId": clientID, "secret": apiKeyValue}
	if len(vendorBodies) != 1 {
		t.Errorf("%d vendor authentication bodies recorded, want 1", len(vendorBodies))
	}
	for i, body := range vendorBodies {
		if !reflect.DeepEqual(body, want) {
			t.Errorf("vendor authentication %d sent %v, want the Secret's credentials %v", i+1, body, want)
		}
	}
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

// startIngressRoute runs the converted manifests m in a real Traefik (file provider, no
// environment) with the backend Service at backendURL, and waits for the IngressRoute's 4 routes.
func startIngressRoute(t *testing.T, m *harness.Manifests, backendURL, file string) *harness.Traefik {
	t.Helper()
	dynamic, err := m.FileConfig(map[string]string{"withauth-demo/backend:80": backendURL})
	if err != nil {
		t.Fatal(err)
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{file: dynamic}})
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
	return tr
}
