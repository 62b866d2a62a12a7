package withauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// discoveryDocument is an issuer's OpenID metadata naming jwksURI.
func discoveryDocument(t testing.TB, issuer, jwksURI string) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]interface{}{"issuer": issuer, "jwks_uri": jwksURI, "id_token_signing_alg_values_supported": []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// issuerToken is a valid token of key-1 from issuer.
func issuerToken(t testing.TB, issuer string) string {
	return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, map[string]interface{}{"iss": issuer}))
}

// TestIssuerAloneDiscoversItsKeys: issuer alone reads OpenID Connect's discovery document,
// else RFC 8414's, and takes the keys from its jwks_uri (Keycloak's is not at jwks.json).
func TestIssuerAloneDiscoversItsKeys(t *testing.T) {
	for _, tc := range []struct{ name, document string }{
		{"OpenID Connect Discovery", "/realms/acme/.well-known/openid-configuration"},
		{"RFC 8414", "/.well-known/oauth-authorization-server/realms/acme"},
	} {
		server := newKeyServer(t)
		issuer := server.URL + "/realms/acme"
		server.serveOnly(map[string][]byte{
			tc.document: discoveryDocument(t, issuer, server.URL+"/realms/acme/protocol/openid-connect/certs"),
			"/realms/acme/protocol/openid-connect/certs": readFixture(t, "keys/jwks.json"),
		})
		config := CreateConfig()
		config.Issuer = issuer
		if rec, _ := serve(newHandler(t, config, &upstream{}), request(issuerToken(t, issuer))); rec.Code != http.StatusOK {
			t.Errorf("%s: status %d (%s) after requests for %q; want 200 with the keys of jwks_uri", tc.name, rec.Code, errorDescription(rec), server.requested())
		}
	}
}

// TestDiscoveryOfAnotherIssuerIsRefused: a document whose issuer is not the configured one
// must not be used (OpenID Connect Discovery §4.3): no key is obtained, 503.
func TestDiscoveryOfAnotherIssuerIsRefused(t *testing.T) {
	server := newKeyServer(t)
	issuer := server.URL
	server.serveOnly(map[string][]byte{
		"/.well-known/openid-configuration": discoveryDocument(t, "https://evil.example", server.URL+"/certs"),
		"/certs":                            readFixture(t, "keys/jwks.json"),
		"/.well-known/jwks.json":            readFixture(t, "keys/jwks.json"),
	})
	config := CreateConfig()
	config.Issuer = issuer
	rec, _ := serve(newHandler(t, config, &upstream{}), request(issuerToken(t, issuer)))
	if rec.Code != http.StatusServiceUnavailable || bodyField(rec.Body.Bytes(), "reason") != "issuer_mismatch" || !strings.HasPrefix(errorDescription(rec), "configuration mismatch:") {
		t.Fatalf("discovery document of another issuer: status %d %s; want 503 reason issuer_mismatch, described as a configuration mismatch", rec.Code, rec.Body.String())
	}
	for _, path := range server.requested() {
		if path != "/.well-known/openid-configuration" {
			t.Errorf("withauth asked for %s after the document named another issuer; want nothing more", path)
		}
	}
	fetcher := discoveryEndpoint{issuer: issuer, client: newHTTPClient(5*time.Second, nil)}
	if _, err := fetcher.fetch(request("").Context()); err == nil || !strings.Contains(err.Error(), `the document's issuer is "https://evil.example", the configured issuer "`+issuer+`"`) {
		t.Errorf("discovery error %v; want it to name both issuers", err)
	}
}

// TestJWKSURLPointingAtADiscoveryDocument says what it is, instead of "no usable key".
func TestJWKSURLPointingAtADiscoveryDocument(t *testing.T) {
	_, err := jose.ParseJWKS(discoveryDocument(t, "https://idp.example", "https://idp.example/certs"))
	if err == nil || !strings.Contains(err.Error(), "OpenID discovery document, not a JWKS: set jwksUrl to its jwks_uri (https://idp.example/certs)") {
		t.Fatalf("jose.ParseJWKS(discovery document) error %v; want it to name the document and its jwks_uri", err)
	}
}

func TestOAuthMetadataURL(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://idp.example":              "https://idp.example/.well-known/oauth-authorization-server",
		"https://idp.example/":             "https://idp.example/.well-known/oauth-authorization-server",
		"https://idp.example/realms/acme/": "https://idp.example/.well-known/oauth-authorization-server/realms/acme",
	} {
		if got := oauthMetadataURL(issuer); got != want {
			t.Errorf("oauthMetadataURL(%q) = %q; want %q (RFC 8414 §3.1)", issuer, got, want)
		}
	}
}
