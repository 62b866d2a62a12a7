package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/dpopkey"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// newDPoPKey is a client's DPoP key for a test.
func newDPoPKey(t *testing.T, alg jose.SignatureAlgorithm, private crypto.Signer) *dpopkey.Key {
	t.Helper()
	k, err := dpopkey.New(alg, private)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof is a DPoP proof of k for method and uri, bound to token, issued now.
func proof(t *testing.T, k *dpopkey.Key, method, uri, token string) string {
	t.Helper()
	p, err := k.Proof(method, uri, token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDPoPInTraefik: tokens bound to ES256 and EdDSA keys (cnf.jkt) with proofs minted by
// go-jose, through a real Traefik: admitted with their proof; a replayed proof, a proof for
// another URL or method, a proof of another key and the bound token sent as Bearer refused.
func TestDPoPInTraefik(t *testing.T) {
	s := newStack(t)
	// As deployed: a catch-all router to the same backend, which must never serve a refused
	// request, nor the path of a route whose DPoP setting is refused.
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	routes := []harness.Route{
		{Name: "dpop", Path: "/dpop", Auth: map[string]any{"dpop": "required", "dpopOrigins": []string{origin}}},
		{Name: "dpopallowed", Path: "/dpop-allowed", Auth: map[string]any{"dpop": "allowed", "dpopOrigins": origin}},
		{Name: "dpopmisspelled", Path: "/dpop-misspelled", Auth: map[string]any{"dpop": "sometimes", "dpopOrigins": origin}},
		{Name: "dpopnoorigins", Path: "/dpop-no-origins", Auth: map[string]any{"dpop": "required"}},
		{Name: "catchall", Path: "/", Bare: true},
	}
	tr := startTraefik(t, harness.Options{WebPort: port, Dynamic: map[string]string{"dpop.yml": harness.FileConfig(routes, s.common(), s.backendURL)}})
	waitReady(t, tr, "/dpop", harness.RouterNames(routes)...)

	ecPrivate, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edPrivate, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPrivate, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es256, eddsa, other := newDPoPKey(t, jose.ES256, ecPrivate), newDPoPKey(t, jose.EdDSA, edPrivate), newDPoPKey(t, jose.ES256, otherPrivate)
	boundTo := func(k *dpopkey.Key) string {
		r := harness.Alice
		r.Extra = map[string]any{"cnf": map[string]any{"jkt": k.JKT}}
		return mustMint(t, s.mint(), r)
	}
	esToken, edToken := boundTo(es256), boundTo(eddsa)
	uri := tr.URL + "/dpop/orders"

	send := func(method, path, scheme, token, proof string) (int, http.Header, string) {
		t.Helper()
		return sendToken(t, method, tr.URL+path, scheme, token, proof)
	}
	expect := func(what string, status int, header http.Header, body string, wantStatus int, wantReason string) {
		t.Helper()
		if status != wantStatus || wantReason != "" && !strings.Contains(body, `"reason":"`+wantReason+`"`) {
			t.Errorf("%s: status %d %s; want %d %s", what, status, body, wantStatus, wantReason)
		}
		if wantStatus == http.StatusUnauthorized && !strings.Contains(strings.Join(header.Values("WWW-Authenticate"), " | "), `DPoP algs="ES256 EdDSA PS256 RS256"`) {
			t.Errorf("%s: WWW-Authenticate %q; want a DPoP challenge naming the algorithms", what, header.Values("WWW-Authenticate"))
		}
	}

	esProof := proof(t, es256, "GET", uri, esToken)
	status, header, body := send("GET", "/dpop/orders", "DPoP", esToken, esProof)
	expect("an ES256-bound token with its proof", status, header, body, http.StatusOK, "")
	var seen backend.Seen
	if err := json.Unmarshal([]byte(body), &seen); err != nil || seen.Headers["X-User-Id"] != "alice" {
		t.Errorf("the backend saw %s (%v); want X-User-Id alice", body, err)
	}
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, esProof)
	expect("the same proof again", status, header, body, http.StatusUnauthorized, "dpop_proof_replayed")
	status, header, body = send("GET", "/dpop/orders", "DPoP", edToken, proof(t, eddsa, "GET", uri, edToken))
	expect("an EdDSA-bound token with its proof", status, header, body, http.StatusOK, "")
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, proof(t, es256, "GET", tr.URL+"/dpop/other", esToken))
	expect("a proof for another URL", status, header, body, http.StatusUnauthorized, "dpop_htu_mismatch")
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, proof(t, es256, "POST", uri, esToken))
	expect("a proof for another method", status, header, body, http.StatusUnauthorized, "dpop_htm_mismatch")
	// The client's Host, which Traefik copies into X-Forwarded-Host, never makes another origin's
	// proof acceptable (S4-8).
	req, _ := http.NewRequest(http.MethodGet, tr.URL+"/dpop/orders", nil)
	req.Host = "other-api.example.net"
	req.Header.Set("Authorization", "DPoP "+esToken)
	req.Header.Set("DPoP", proof(t, es256, "GET", "http://other-api.example.net/dpop/orders", esToken))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a proof for another origin, sent with that origin as Host: %v %v; want 401", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, proof(t, other, "GET", uri, esToken))
	expect("a proof of another key", status, header, body, http.StatusUnauthorized, "dpop_key_mismatch")
	status, header, body = send("GET", "/dpop/orders", "Bearer", esToken, "")
	expect("the bound token as Bearer", status, header, body, http.StatusUnauthorized, "dpop_bound_as_bearer")
	status, header, body = send("GET", "/dpop-allowed/orders", "Bearer", esToken, "")
	expect("the bound token as Bearer where DPoP is allowed", status, header, body, http.StatusUnauthorized, "dpop_bound_as_bearer")
	status, header, body = send("GET", "/dpop-allowed/orders", "Bearer", mustMint(t, s.mint(), harness.Bob), "")
	expect("an unbound Bearer token where DPoP is allowed", status, header, body, http.StatusOK, "")
	status, header, body = send("GET", "/dpop/orders", "Bearer", mustMint(t, s.mint(), harness.Bob), "")
	expect("an unbound Bearer token where DPoP is required", status, header, body, http.StatusUnauthorized, "dpop_required")
	for _, path := range []string{"/dpop-misspelled/orders", "/dpop-no-origins/orders"} {
		status, _, body = send("GET", path, "DPoP", esToken, proof(t, es256, "GET", tr.URL+path, esToken))
		if status != http.StatusInternalServerError || !strings.Contains(body, `"reason":"misconfigured"`) {
			t.Errorf("%s, whose DPoP settings are refused: status %d %s; want 500 misconfigured, never the catch-all", path, status, body)
		}
	}
}

// TestRFC9449ExampleIndependently: RFC 9449 §7.1's proof, the fixture the plugin's
// TestRFC9449Example admits, verifies with go-jose against its own jwk, whose RFC 7638
// thumbprint is RFC 9449 §6.1's: an implementation independent of withauth's agrees.
func TestRFC9449ExampleIndependently(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "testdata", "rfc9449", "proof"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jose.ParseSigned(string(text), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	jwk := signed.Signatures[0].Protected.JSONWebKey
	payload, err := signed.Verify(jwk)
	if err != nil {
		t.Fatalf("go-jose does not verify RFC 9449's proof with its jwk: %v", err)
	}
	thumbprint, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(thumbprint); got != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
		t.Errorf("the jwk's thumbprint by go-jose: %s; want RFC 9449's 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", got)
	}
	if !strings.Contains(string(payload), `"htu":"https://resource.example.org/protectedresource","iat":1562262618`) {
		t.Errorf("the proof's claims %s; want RFC 9449's", payload)
	}
}
