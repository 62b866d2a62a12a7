package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
	"github.com/seed0ec25cca/withauth/e2e/internal/kube"
	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
)

// The Kubernetes examples on a real API server (etcd and kube-apiserver, no kubelet) with
// Traefik's own CRDs and RBAC, read by Traefik's kubernetesCRD and kubernetesIngress providers
// as a ServiceAccount: the IngressRoute's and the Ingresses' routes, the Middlewares and the
// Secrets they reference are Traefik's own reading. Only the backend's Service and EndpointSlice
// are the tests' own: no pods run, so they point at a loopback backend.

// The address of the demo IdP inside the cluster, as examples/kubernetes names it.
const k8sIdPURL = "http://idp.withauth-demo.svc.cluster.local:9000"

// k8sHost is the host of the Ingresses of examples/kubernetes/50-ingress.yaml.
const k8sHost = "withauth.example.com"

// cluster is an API server with Traefik's CRDs and RBAC installed and a token of Traefik's
// ServiceAccount.
type cluster struct {
	*kube.Cluster
	token   string
	kubectl func(stdin string, args ...string) string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	bin, err := kube.Binaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	k, err := kube.Start(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(k.LogTail("kube-apiserver"))
		}
		k.Stop()
	})
	c := &cluster{Cluster: k}
	c.kubectl = func(stdin string, args ...string) string {
		t.Helper()
		out, err := k.Kubectl(ctx, stdin, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	reference := filepath.Join(traefikSource(t), "docs", "content", "reference", "dynamic-configuration")
	c.kubectl("", "apply", "--server-side", "-f", filepath.Join(reference, "kubernetes-crd-definition-v1.yml"))
	c.kubectl("", "wait", "--for=condition=Established", "--timeout=60s", "crd/middlewares.traefik.io", "crd/ingressroutes.traefik.io")
	c.kubectl("", "apply", "-f", filepath.Join(reference, "kubernetes-crd-rbac.yml"))
	c.kubectl("", "create", "serviceaccount", "traefik-ingress-controller", "-n", "default")
	c.token = strings.TrimSpace(c.kubectl("", "create", "token", "traefik-ingress-controller", "-n", "default", "--duration=1h"))
	t.Logf("API server ready with Traefik's CRDs and RBAC in %s", time.Since(started).Round(100*time.Millisecond))
	return c
}

// apply applies example files (relative to examples/kubernetes) unchanged.
func (c *cluster) apply(t *testing.T, files ...string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		c.kubectl("", "apply", "-f", filepath.Join(root, "examples", "kubernetes", name))
	}
}

// loopbackBackend replaces the example's backend Service (10-demo-apps.yaml, whose pods never
// run without a kubelet) by the tests' own Service and EndpointSlice: the API server refuses
// loopback addresses in Endpoints, an FQDN EndpointSlice of "127.0.0.1" is accepted, and
// Traefik routes to it.
func (c *cluster) loopbackBackend(t *testing.T) {
	t.Helper()
	c.apply(t, "10-demo-apps.yaml")
	c.kubectl("", "delete", "service", "backend", "-n", "withauth-demo")
	srv := httptest.NewServer(backend.Handler("backend"))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.kubectl(fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: backend, namespace: withauth-demo}
spec:
  clusterIP: None
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-loopback
  namespace: withauth-demo
  labels: {kubernetes.io/service-name: backend}
addressType: FQDN
ports: [{name: http, port: %s, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true, serving: true}}]
`, u.Port()), "apply", "-f", "-")
}

// traefik starts a Traefik (a replica) reading the cluster as Traefik's ServiceAccount.
func (c *cluster) traefik(t *testing.T, env ...string) *harness.Traefik {
	t.Helper()
	var args []string
	for _, provider := range []string{"kubernetesCRD", "kubernetesIngress"} {
		args = append(args, "--providers."+provider+".endpoint="+c.Server, "--providers."+provider+".token="+c.token,
			"--providers."+provider+".certAuthFilePath="+c.CAFile)
	}
	tr := startTraefik(t, harness.Options{LogLevel: "INFO", Args: args, Env: env})
	if err := tr.WaitHTTP(context.Background(), 60*time.Second, "/shift", func(s int) bool { return s != http.StatusNotFound }); err != nil {
		t.Fatal(err)
	}
	return tr
}

// rotatingJWKS serves the key sets of the given IdPs, one after the other added: a key rotation.
type rotatingJWKS struct {
	mu   sync.Mutex
	idps []*idp.IdP
}

func (j *rotatingJWKS) add(p *idp.IdP) {
	j.mu.Lock()
	j.idps = append(j.idps, p)
	j.mu.Unlock()
}

func (j *rotatingJWKS) ServeHTTP(rw http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var keys []any
	for _, p := range j.idps {
		var set struct{ Keys []any }
		_ = json.Unmarshal(p.JWKS(), &set)
		keys = append(keys, set.Keys...)
	}
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{"keys": keys})
}

// withHost sends cases to the Ingresses' host.
func withHost(cases []harness.Case, host string) []harness.Case {
	out := make([]harness.Case, len(cases))
	for i, c := range cases {
		c.Host = host
		c.Who += " (Ingress)"
		out[i] = c
	}
	return out
}

// TestKubernetesExamples applies examples/kubernetes unchanged (but for the backend) and runs
// the guide's routes through the IngressRoute and the Ingresses, on two Traefik replicas: the
// Secret reference resolves, changes of the Secret and of a Middleware reach both replicas within
// seconds, and so does a key rotation at the identity provider.
func TestKubernetesExamples(t *testing.T) {
	c := startCluster(t)
	c.apply(t, "00-namespace.yaml", "20-secret.yaml", "30-middlewares.yaml", "40-ingressroute.yaml", "50-ingress.yaml")
	c.loopbackBackend(t)
	first, err := idp.New(idp.Options{Issuer: k8sIdPURL})
	if err != nil {
		t.Fatal(err)
	}
	jwks := &rotatingJWKS{}
	jwks.add(first)
	jwksSrv := httptest.NewServer(jwks)
	t.Cleanup(jwksSrv.Close)
	mint := harness.LocalMinter(first, k8sIdPURL)
	replicas := []*harness.Traefik{c.traefik(t), c.traefik(t)}

	// As applied, the Secret names the IdP's cluster address, which does not resolve here: the
	// reference resolved (an unresolved one disables the router: 404), no key can be had, and a
	// valid token is answered 503, never let through.
	for i, tr := range replicas {
		if r, err := harness.Do(context.Background(), tr.URL, harness.Case{Path: "/shift", Token: &harness.Alice}, mint); err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("replica %d, the example's Secret: status %d, %v; want 503 (the cluster-internal IdP is unreachable from here)", i+1, r.Status, err)
		}
	}

	changed := time.Now()
	patch, _ := json.Marshal(map[string]any{"stringData": map[string]string{"jwksUrl": jwksSrv.URL + idp.JWKSPath}})
	c.kubectl("", "patch", "secret", "withauth-idp", "-n", "withauth-demo", "--type=merge", "-p", string(patch))
	for i, tr := range replicas {
		waitStatus(t, tr.URL, harness.Case{Path: "/shift", Token: &harness.Alice}, mint, http.StatusOK, 30*time.Second)
		t.Logf("replica %d: the Secret's change answered 200 %s after the patch", i+1, time.Since(changed).Round(100*time.Millisecond))
	}
	for _, tr := range replicas {
		runCases(t, tr.URL, harness.GuideCases(), mint)
		runCases(t, tr.URL, withHost(harness.GuideCases(), k8sHost), mint)
	}

	// A key rotation at the IdP: a new key signs; both replicas refetch for its kid.
	second, err := idp.New(idp.Options{Issuer: k8sIdPURL})
	if err != nil {
		t.Fatal(err)
	}
	jwks.add(second)
	rotated := harness.LocalMinter(second, k8sIdPURL)
	time.Sleep(5100 * time.Millisecond) // the default minRefreshInterval since each replica's first fetch
	for i, tr := range replicas {
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Token: &harness.Bob}, rotated, http.StatusOK, 10*time.Second)
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Token: &harness.Bob}, mint, http.StatusOK, time.Second)
		t.Logf("replica %d follows the key rotation", i+1)
	}

	changed = time.Now()
	c.kubectl("", "patch", "middleware.traefik.io", "admin-auth", "-n", "withauth-demo", "--type=merge",
		"-p", `{"spec":{"plugin":{"withauth":{"roles":["read-only"]}}}}`)
	for i, tr := range replicas {
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Token: &harness.Alice}, mint, http.StatusOK, 30*time.Second)
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Host: k8sHost, Token: &harness.Alice}, mint, http.StatusOK, 10*time.Second)
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Token: &harness.Bob}, mint, http.StatusForbidden, 10*time.Second)
		t.Logf("replica %d: the Middleware's change answered %s after the patch", i+1, time.Since(changed).Round(100*time.Millisecond))
	}

	// A Middleware emptied by a bad rollout (roles: "", as an unset Helm value renders it): the
	// route is refused as a whole, answering 500 to everyone, never admitting a signed-in user.
	c.kubectl("", "patch", "middleware.traefik.io", "admin-auth", "-n", "withauth-demo", "--type=merge",
		"-p", `{"spec":{"plugin":{"withauth":{"roles":""}}}}`)
	for i, tr := range replicas {
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Token: &harness.Alice}, mint, http.StatusInternalServerError, 30*time.Second)
		waitStatus(t, tr.URL, harness.Case{Path: "/admin", Host: k8sHost}, mint, http.StatusInternalServerError, 10*time.Second)
		if !strings.Contains(tr.LogTail(1<<20), "withauth withauth-demo-admin-auth@kubernetescrd: configuration refused, its routes answer 500 until it is fixed: roles: is empty") {
			t.Errorf("replica %d: Traefik's log lacks the refusal of admin-auth's roles: \"\"", i+1)
		}
	}
}

// Frontegg's API gateway as examples/kubernetes/frontegg names it.
const k8sFronteggGateway = "https://api.frontegg.com"

// TestKubernetesFronteggExample applies examples/kubernetes/frontegg (vendor mode, clientId and
// apiKey from the Secret frontegg-credentials) unchanged, points only the Middlewares' gateway at
// a mock of Frontegg's API that accepts nothing but the Secret's credentials, and runs Traefik
// without any FRONTEGG_* variable, on two replicas: the credentials can only have come through
// the secret references, and an access token revoked at the mock is refused by both within 10 s.
func TestKubernetesFronteggExample(t *testing.T) {
	c := startCluster(t)
	c.apply(t, "00-namespace.yaml", "frontegg/20-secret.yaml", "frontegg/30-middlewares.yaml", "frontegg/40-ingressroute.yaml")
	c.loopbackBackend(t)
	clientID := strings.TrimSpace(c.kubectl("", "get", "secret", "frontegg-credentials", "-n", "withauth-demo", "-o", "go-template={{.data.clientId | base64decode}}"))
	apiKeyValue := strings.TrimSpace(c.kubectl("", "get", "secret", "frontegg-credentials", "-n", "withauth-demo", "-o", "go-template={{.data.apiKey | base64decode}}"))
	if clientID == "" || apiKeyValue == "" {
		t.Fatalf("the Secret frontegg-credentials has clientId %q and apiKey %q; want both", clientID, apiKeyValue)
	}
	key, publicPEM := fronteggKey(t)
	mock := fronteggmock.New(clientID, apiKeyValue, publicPEM)
	mock.AddAccessToken("users", "uat-k8s", fronteggmock.Grants{Roles: []string{"read-only"}})
	var mu sync.Mutex
	var vendorBodies []map[string]string
	mockSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
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
	}))
	t.Cleanup(func() {
		mock.Close()
		mockSrv.Close()
	})
	for _, name := range []string{"frontegg-shift-auth", "frontegg-admin-auth", "frontegg-home-auth", "frontegg-uploads-auth"} {
		gateway := strings.TrimSpace(c.kubectl("", "get", "middleware.traefik.io", name, "-n", "withauth-demo", "-o", "jsonpath={.spec.plugin.withauth.apiGatewayUrl}"))
		if gateway != k8sFronteggGateway {
			t.Fatalf("middleware %s: apiGatewayUrl %q; want Frontegg's %s as the example has it", name, gateway, k8sFronteggGateway)
		}
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"plugin": map[string]any{"withauth": map[string]any{"apiGatewayUrl": mockSrv.URL}}}})
		c.kubectl("", "patch", "middleware.traefik.io", name, "-n", "withauth-demo", "--type=merge", "-p", string(patch))
	}
	// Traefik's environment is PATH and HOME only: no FRONTEGG_* fallback.
	replicas := []*harness.Traefik{c.traefik(t), c.traefik(t)}
	s := &fronteggSetup{mock: mock, key: key}
	admin := s.token(t, "userToken", map[string]any{"sub": "user-ada", "roles": []string{"admin"}})
	readOnlyUser := s.token(t, "userToken", map[string]any{"sub": "user-bob", "roles": []string{"read-only"}, "permissions": []string{"uploadFile"}})
	access := s.token(t, "userAccessToken", map[string]any{"sub": "uat-k8s", "userId": "user-carol"})
	for _, tr := range replicas {
		waitStatus(t, tr.URL, bearer("/admin", "an admin", admin), nil, http.StatusOK, 30*time.Second)
		runCases(t, tr.URL, []harness.Case{
			expect(harness.Case{Path: "/admin", Who: "no credentials"}, 401, ""),
			expect(bearer("/admin", "userToken (admin)", admin), 200, "", "X-User-Id", "user-ada", "X-User-Roles", "admin"),
			expect(bearer("/admin", "userToken (read-only)", readOnlyUser), 403, "insufficient_scope"),
			expect(bearer("/home", "userToken (read-only)", readOnlyUser), 200, "", "X-User-Id", "user-bob"),
			expect(bearer("/uploads", "userToken (admin, no uploadFile)", admin), 403, "insufficient_scope"),
			expect(apiKey("/shift", "userAccessToken uat-k8s (active)", access), 200, "", "X-User-Id", "user-carol", "X-Tenant-Id", fgTenant),
		}, nil)
	}
	// Revoked at Frontegg: both replicas refuse it within the 10 s their answers are trusted.
	mock.RevokeAccessToken("users", "uat-k8s")
	revoked := time.Now()
	for i, tr := range replicas {
		waitStatus(t, tr.URL, apiKey("/shift", "the revoked access token", access), nil, http.StatusUnauthorized, 12*time.Second)
		t.Logf("replica %d refused the revoked access token %s after the revocation", i+1, time.Since(revoked).Round(100*time.Millisecond))
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"clientId": clientID, "secret": apiKeyValue}
	if len(vendorBodies) == 0 || len(vendorBodies) > len(replicas) {
		t.Errorf("%d vendor authentications for %d replicas; want one each at most (shared by a replica's four middlewares)", len(vendorBodies), len(replicas))
	}
	for i, body := range vendorBodies {
		if !reflect.DeepEqual(body, want) {
			t.Errorf("vendor authentication %d sent %v; want the Secret's credentials %v", i+1, body, want)
		}
	}
}

// waitStatus polls the case's request until it answers want.
func waitStatus(t *testing.T, baseURL string, c harness.Case, mint harness.Minter, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := 0
	for time.Now().Before(deadline) {
		r, err := harness.Do(context.Background(), baseURL, c, mint)
		if err == nil && r.Status == want {
			return
		}
		last = r.Status
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s%s with %s: status %d after %s; want %d", c.Host, c.Path, c.Who, last, timeout, want)
}

// traefikSource is the Traefik module's source directory, where its CRDs and RBAC are.
func traefikSource(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/traefik/traefik/v3@v3.6.12").Output()
	if err != nil {
		t.Fatalf("go mod download traefik: %v", err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download traefik: no Dir in %s", out)
	}
	return info.Dir
}

// TestKubernetesDPoPExample applies examples/kubernetes/dpop (a DPoP-only route whose nonce
// secret and replay store come from the Secret withauth-dpop) on two Traefik replicas, the
// Secrets patched only to point at this test's key set and redis-server: a nonce issued by one
// replica is accepted by the other, and a proof used at one is refused at the other.
func TestKubernetesDPoPExample(t *testing.T) {
	redisServer := startRedis(t)
	c := startCluster(t)
	c.apply(t, "00-namespace.yaml", "20-secret.yaml", "30-middlewares.yaml", "40-ingressroute.yaml",
		"dpop/20-secret.yaml", "dpop/30-middleware.yaml", "dpop/40-ingressroute.yaml")
	c.loopbackBackend(t)
	issuer, err := idp.New(idp.Options{Issuer: k8sIdPURL})
	if err != nil {
		t.Fatal(err)
	}
	jwksSrv := httptest.NewServer(issuer)
	t.Cleanup(jwksSrv.Close)
	for secret, value := range map[string]map[string]string{
		"withauth-idp":  {"jwksUrl": jwksSrv.URL + idp.JWKSPath},
		"withauth-dpop": {"replayStore": redisServer.URL()},
	} {
		patch, _ := json.Marshal(map[string]any{"stringData": value})
		c.kubectl("", "patch", "secret", secret, "-n", "withauth-demo", "--type=merge", "-p", string(patch))
	}
	replicas := []*harness.Traefik{c.traefik(t), c.traefik(t)}

	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := newDPoPKey(t, jose.ES256, private)
	bound := harness.Alice
	bound.Extra = map[string]any{"cnf": map[string]any{"jkt": key.JKT}}
	token := mustMint(t, harness.LocalMinter(issuer, k8sIdPURL), bound)
	// send sends proof (a new one for nonce when proof is "") to a replica.
	send := func(tr *harness.Traefik, nonce, proof string) (status int, header http.Header, body, sent string) {
		t.Helper()
		if proof == "" {
			var err error
			if proof, err = key.ProofWithNonce("GET", "https://api.example.com/dpop/orders", token, nonce, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		status, header, text := sendToken(t, http.MethodGet, tr.URL+"/dpop/orders", "DPoP", token, proof)
		return status, header, text, proof
	}
	// The replicas read the Secrets' patches within seconds.
	var nonce string
	for deadline := time.Now().Add(30 * time.Second); nonce == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if status, header, _, _ := send(replicas[0], "", ""); status == http.StatusUnauthorized {
			nonce = header.Get("DPoP-Nonce")
		}
	}
	if nonce == "" {
		t.Fatal("replica 1 offered no DPoP-Nonce within 30 s; want a 401 use_dpop_nonce with one")
	}
	var status int
	var body, used string
	for deadline := time.Now().Add(30 * time.Second); status != http.StatusOK && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		status, _, body, used = send(replicas[1], nonce, "")
	}
	if status != http.StatusOK {
		t.Fatalf("a proof with replica 1's nonce at replica 2: status %d %s; want 200", status, body)
	}
	if status, _, body, _ = send(replicas[0], nonce, used); status != http.StatusUnauthorized || !strings.Contains(body, "dpop_proof_replayed") {
		t.Errorf("the proof used at replica 2, again at replica 1: status %d %s; want 401 dpop_proof_replayed (one Redis for both)", status, body)
	}
}
