package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// dpopKey is a client's DPoP key, its proofs signed by go-jose, an implementation independent
// of withauth's, as is its RFC 7638 thumbprint.
type dpopKey struct {
	signer jose.Signer
	jkt    string
}

func newDPoPKey(t *testing.T, alg jose.SignatureAlgorithm, private crypto.Signer) *dpopKey {
	t.Helper()
	options := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: private}, options)
	if err != nil {
		t.Fatal(err)
	}
	public := jose.JSONWebKey{Key: private.Public()}
	thumbprint, err := public.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{signer: signer, jkt: base64.RawURLEncoding.EncodeToString(thumbprint)}
}

var e2eProofs int

// proof is a DPoP proof for method and uri, bound to token by ath.
func (k *dpopKey) proof(t *testing.T, method, uri, token string) string {
	t.Helper()
	e2eProofs++
	sum := sha256.Sum256([]byte(token))
	claims, _ := json.Marshal(map[string]any{"jti": fmt.Sprint("e2e-proof-", e2eProofs, "-", time.Now().UnixNano()), "htm": method, "htu": uri,
		"iat": time.Now().Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])})
	signed, err := k.signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := signed.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return compact
}

// TestDPoPInTraefik: tokens bound to ES256 and EdDSA keys (cnf.jkt) with proofs minted by
// go-jose, through a real Traefik: admitted with their proof; a replayed proof, a proof for
// another URL or method, a proof of another key and the bound token sent as Bearer refused.
func TestDPoPInTraefik(t *testing.T) {
	s := newStack(t)
	routes := []harness.Route{
		{Name: "dpop", Path: "/dpop", Auth: map[string]any{"dpop": "required"}},
		{Name: "dpopallowed", Path: "/dpop-allowed", Auth: map[string]any{"dpop": "allowed"}},
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"dpop.yml": harness.FileConfig(routes, s.common(), s.backendURL)}})
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
	boundTo := func(k *dpopKey) string {
		r := harness.Alice
		r.Extra = map[string]any{"cnf": map[string]any{"jkt": k.jkt}}
		return mustMint(t, s.mint(), r)
	}
	esToken, edToken := boundTo(es256), boundTo(eddsa)
	uri := tr.URL + "/dpop/orders"

	send := func(method, path, scheme, token, proof string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, tr.URL+path, nil)
		req.Header.Set("Authorization", scheme+" "+token)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
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

	esProof := es256.proof(t, "GET", uri, esToken)
	status, header, body := send("GET", "/dpop/orders", "DPoP", esToken, esProof)
	expect("an ES256-bound token with its proof", status, header, body, http.StatusOK, "")
	var seen backend.Seen
	if err := json.Unmarshal([]byte(body), &seen); err != nil || seen.Headers["X-User-Id"] != "alice" {
		t.Errorf("the backend saw %s (%v); want X-User-Id alice", body, err)
	}
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, esProof)
	expect("the same proof again", status, header, body, http.StatusUnauthorized, "dpop_proof_replayed")
	status, header, body = send("GET", "/dpop/orders", "DPoP", edToken, eddsa.proof(t, "GET", uri, edToken))
	expect("an EdDSA-bound token with its proof", status, header, body, http.StatusOK, "")
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, es256.proof(t, "GET", tr.URL+"/dpop/other", esToken))
	expect("a proof for another URL", status, header, body, http.StatusUnauthorized, "dpop_proof_mismatch")
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, es256.proof(t, "POST", uri, esToken))
	expect("a proof for another method", status, header, body, http.StatusUnauthorized, "dpop_proof_mismatch")
	status, header, body = send("GET", "/dpop/orders", "DPoP", esToken, other.proof(t, "GET", uri, esToken))
	expect("a proof of another key", status, header, body, http.StatusUnauthorized, "dpop_key_mismatch")
	status, header, body = send("GET", "/dpop/orders", "Bearer", esToken, "")
	expect("the bound token as Bearer", status, header, body, http.StatusUnauthorized, "dpop_bound_as_bearer")
	status, header, body = send("GET", "/dpop-allowed/orders", "Bearer", esToken, "")
	expect("the bound token as Bearer where DPoP is allowed", status, header, body, http.StatusUnauthorized, "dpop_bound_as_bearer")
	status, header, body = send("GET", "/dpop-allowed/orders", "Bearer", mustMint(t, s.mint(), harness.Bob), "")
	expect("an unbound Bearer token where DPoP is allowed", status, header, body, http.StatusOK, "")
	status, header, body = send("GET", "/dpop/orders", "Bearer", mustMint(t, s.mint(), harness.Bob), "")
	expect("an unbound Bearer token where DPoP is required", status, header, body, http.StatusUnauthorized, "dpop_required")
}
