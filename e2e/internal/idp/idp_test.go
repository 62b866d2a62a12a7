package idp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// verify checks token against the JWKS served by srv, as a relying party would, and returns its
// header and claims.
func verify(t *testing.T, srv *httptest.Server, token string) (map[string]any, map[string]any, error) {
	t.Helper()
	resp, err := http.Get(srv.URL + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Use, Alg, Kid, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	for _, k := range set.Keys {
		if k.Kid != header["kid"] {
			continue
		}
		if k.Kty != "RSA" || k.Use != "sig" || k.Alg != "RS256" {
			t.Errorf("JWKS key %+v, want kty RSA, use sig, alg RS256", k)
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		return header, claims, rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	return header, claims, errNoKey
}

var errNoKey = errors.New("no JWKS key has the token's kid")

func TestTokenEndpoint(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	mint := func(query string) string {
		resp, err := http.Get(srv.URL + "/token?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/token?%s: status %d: %s", query, resp.StatusCode, body)
		}
		return string(body)
	}

	header, claims, err := verify(t, srv, mint("sub=alice&tenant=acme&roles=admin,%20read-only&permissions=uploadFile&ttl=5m"))
	if err != nil {
		t.Fatalf("signature does not verify with the JWKS key: %v", err)
	}
	if header["alg"] != "RS256" || header["kid"] != p.KeyID() {
		t.Errorf("header %v, want alg RS256 and kid %s", header, p.KeyID())
	}
	want := map[string]any{"sub": "alice", "tenantId": "acme", "email": "alice@example.com", "type": "userToken",
		"iss": srv.URL, "aud": DefaultAudience}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if got, _ := json.Marshal(claims["roles"]); string(got) != `["admin","read-only"]` {
		t.Errorf("roles %s, want [admin read-only]", got)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 300 {
		t.Errorf("exp-iat = %v, want 300 (ttl=5m)", exp-iat)
	}

	_, claims, _ = verify(t, srv, mint("sub=alice&expired=1"))
	if exp := claims["exp"].(float64); exp > float64(time.Now().Add(-5*time.Minute).Unix()) {
		t.Errorf("expired=1: exp %v is not well in the past", exp)
	}
	header, _, err = verify(t, srv, mint("sub=alice&key=unknown"))
	if err != errNoKey || header["kid"] != "unknown-key" {
		t.Errorf("key=unknown: kid %v, verify error %v; want kid unknown-key absent from the JWKS", header["kid"], err)
	}
	resp, err := http.Get(srv.URL + "/token?ttl=soon")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("ttl=soon: status %d, want 400", resp.StatusCode)
	}
}

func TestFixedIssuer(t *testing.T) {
	p, err := New(Options{Issuer: "http://idp:9000/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	token, err := p.Mint(Request{Subject: "bob"}, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, claims, err := verify(t, srv, token)
	if err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != "http://idp:9000" {
		t.Errorf("iss %v, want the fixed issuer http://idp:9000", claims["iss"])
	}
}
