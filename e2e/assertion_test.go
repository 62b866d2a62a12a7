package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/assertion"
	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// TestConditionsAndAssertionsInTraefik: through two real Traefik replicas given one key: a route
// whose upstream trusts withauth's signed assertion only (e2e/internal/assertion, the example
// backend), verified against the key set the route publishes without a token, whichever replica
// minted it, a client's own assertion header replaced; and a route with claimConditions, 200 and
// 403 as written.
func TestConditionsAndAssertionsInTraefik(t *testing.T) {
	s := newStack(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "upstream.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const issuer, audience, jwksPath = "https://gateway.withauth.test", "api.withauth.test", "/signed/.well-known/withauth-jwks.json"
	verifier := &assertion.Verifier{Issuer: issuer, Audience: audience, Client: &http.Client{Timeout: 5 * time.Second}}
	trusting := httptest.NewServer(assertion.Handler(verifier, "X-Withauth-Assertion", backend.Handler("signed")))
	t.Cleanup(trusting.Close)

	routes := []harness.Route{
		{Name: "signed", Path: "/signed", BackendURL: trusting.URL, Auth: map[string]any{"upstreamTokenKeyFile": keyFile,
			"upstreamTokenIssuer": issuer, "upstreamTokenAudience": audience, "upstreamJwksPath": jwksPath}},
		{Name: "conditions", Path: "/conditions", Auth: map[string]any{"claimConditions": `Equals("plan", "pro") && !Equals("suspended", "true")`}},
	}
	dynamic := map[string]string{"routes.yml": harness.FileConfig(routes, s.common(), s.backendURL)}
	replicaA := startTraefik(t, harness.Options{Dynamic: dynamic})
	replicaB := startTraefik(t, harness.Options{Dynamic: dynamic})
	waitReady(t, replicaA, "/conditions", harness.RouterNames(routes)...)
	waitReady(t, replicaB, "/conditions", harness.RouterNames(routes)...)
	verifier.JWKSURL = replicaA.URL + jwksPath

	resp, err := http.Get(replicaB.URL + jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	decodeErr := json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || decodeErr != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] == "" || set.Keys[0]["d"] != "" {
		t.Fatalf("GET %s without a token: %d, %+v, %v; want 200 and the one public key", jwksPath, resp.StatusCode, set, decodeErr)
	}

	pro := idp.Request{Subject: "alice", Email: "alice@acme.example", Tenant: "acme", Extra: map[string]any{"plan": "pro"}}
	free := pro
	free.Extra = map[string]any{"plan": "free"}
	suspended := pro
	suspended.Extra = map[string]any{"plan": "pro", "suspended": true}
	for _, replica := range []*harness.Traefik{replicaA, replicaB} {
		runCases(t, replica.URL, []harness.Case{
			{Path: "/signed", Who: "alice, her assertion verified by the backend", Token: &pro, Status: http.StatusOK,
				Seen: map[string]string{"X-User-Assertion-Sub": "alice"}},
			{Path: "/signed", Who: "alice + a forged X-Withauth-Assertion", Token: &pro, Header: map[string]string{"X-Withauth-Assertion": "forged"},
				Status: http.StatusOK, Seen: map[string]string{"X-User-Assertion-Sub": "alice"}},
			{Path: "/signed", Who: "nobody", Status: http.StatusUnauthorized},
			{Path: "/conditions", Who: "alice on plan pro", Token: &pro, Status: http.StatusOK},
			{Path: "/conditions", Who: "alice on plan free", Token: &free, Status: http.StatusForbidden, Error: "insufficient_scope"},
			{Path: "/conditions", Who: "alice, suspended", Token: &suspended, Status: http.StatusForbidden, Error: "insufficient_scope"},
		}, s.mint())
	}
	direct, err := http.NewRequest(http.MethodGet, trusting.URL+"/signed", nil)
	if err != nil {
		t.Fatal(err)
	}
	direct.Header.Set("X-Withauth-Assertion", "forged")
	direct.Header.Set("X-User-Id", "mallory")
	answer, err := http.DefaultClient.Do(direct)
	if err != nil {
		t.Fatal(err)
	}
	answer.Body.Close()
	if answer.StatusCode != http.StatusUnauthorized {
		t.Errorf("the backend reached around Traefik with a forged assertion and X-User-Id: %d; want 401", answer.StatusCode)
	}
	if _, err := verifier.Verify(strings.Repeat("x", 10), time.Now()); err == nil {
		t.Errorf("the example verifier accepted garbage")
	}
}
