package withauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestJWKSKeySelection(t *testing.T) {
	server := newKeyServer(t)
	base := func(t testing.TB) *Config { return jwksConfig(t, server) }
	signedAs := func(keyFile, kid string) func(testing.TB) string {
		return func(t testing.TB) string {
			return signRS256(t, privateKey(t, keyFile), rs256Header(kid), userClaims(t, nil))
		}
	}
	runTokenCases(t, base, []tokenCase{
		{name: "kid key-1", token: signedAs("key-1", "key-1"), wantStatus: 200},
		{name: "kid key-2", token: signedAs("key-2", "key-2"), wantStatus: 200},
		{name: "kid selects the key: key-2 token named key-1", token: signedAs("key-2", "key-1"), wantStatus: 401, wantError: "invalid_token", wantErr: errBadSignature},
		{name: "unknown kid", token: signedAs("rogue", "rogue"), wantStatus: 401, wantError: "invalid_token", wantErr: errUnknownKey},
		{name: "no kid with several keys", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "key-1"), map[string]string{"alg": "RS256"}, userClaims(t, nil))
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errUnknownKey},
		{name: "JWK for encryption is never used", token: signedAs("key-1", "enc-key"), wantStatus: 401, wantError: "invalid_token", wantErr: errUnknownKey},
		{name: "JWK for RS512 never verifies RS256", token: signedAs("key-1", "rs512-key"), wantStatus: 401, wantError: "invalid_token", wantErr: errKeyAlgorithm},
		{name: "EC JWK never verifies RS256", token: signedAs("key-1", "ec-key"), wantStatus: 401, wantError: "invalid_token", wantErr: errKeyAlgorithm},
		{name: "1024-bit JWK is never used", token: signedAs("weak-1024", "weak-1024"), wantStatus: 401, wantError: "invalid_token", wantErr: errUnknownKey},
		{name: "HS256 keyed with a JWK modulus", token: func(t testing.TB) string {
			return hmacSigned(t, "HS256", "key-1", privateKey(t, "key-1").N.Bytes())
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errAlgorithm},
	})
}

func TestAttacksOnKeySelection(t *testing.T) {
	trap := newTrapServer(t)
	key1, key2, rogue := privateKey(t, "key-1"), privateKey(t, "key-2"), privateKey(t, "rogue")
	secret := []byte("a shared secret the endpoint publishes by mistake")
	k := base64.RawURLEncoding.EncodeToString(secret)
	lowercase := jwkOf(&key1.PublicKey, "rsa-lowercase")
	lowercase["kty"] = "rsa"
	hmacAlg := jwkOf(&key1.PublicKey, "rsa-for-hs256")
	hmacAlg["alg"] = "HS256"
	body := jwksOf(t,
		jwkOf(&key1.PublicKey, "key-1"), jwkOf(&key2.PublicKey, "key-2"),
		map[string]interface{}{"kty": "oct", "kid": "oct-hs256", "alg": "HS256", "k": k},
		map[string]interface{}{"kty": "oct", "kid": "oct-rs256", "alg": "RS256", "use": "sig", "k": k},
		map[string]interface{}{"kty": "EC", "kid": "ec-rs256", "alg": "RS256", "crv": "P-256", "x": "pP2p0utYhJXRmhYqLHe9nHqKD5f6VZFJEqlKSe5gs5Y", "y": "wPoPEQmvuzoEeBWWaQxG0ZvJPecGmgnr3sCNaCsgu1k"},
		map[string]interface{}{"kty": "OKP", "kid": "okp-ed25519", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
		lowercase, hmacAlg,
	)
	server := newKeyServer(t)
	server.set(http.StatusOK, body)
	base := func(t testing.TB) *Config { return jwksConfig(t, server) }
	signedBy := func(key *rsa.PrivateKey, header map[string]interface{}) func(testing.TB) string {
		return func(t testing.TB) string { return signRS256(t, key, header, userClaims(t, nil)) }
	}
	hmacRS256 := func(kid string) func(testing.TB) string {
		return func(t testing.TB) string {
			input := segment(t, rs256Header(kid)) + "." + segment(t, userClaims(t, nil))
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}
	}
	certificate := func(t testing.TB) string {
		template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "key-1"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, template, template, &rogue.PublicKey, rogue)
		if err != nil {
			t.Fatalf("making a certificate: %v", err)
		}
		return base64.StdEncoding.EncodeToString(der)
	}
	header := func(members map[string]interface{}) map[string]interface{} {
		h := map[string]interface{}{"alg": "RS256", "typ": "JWT"}
		for name, value := range members {
			h[name] = value
		}
		return h
	}
	var cases []tokenCase
	// alg RS256 naming a JWK that is not an RSA signing key.
	cases = append(cases,
		refused("RS256 naming an oct JWK, HMAC signature", hmacRS256("oct-hs256"), errUnknownKey),
		refused("RS256 naming an oct JWK that claims RS256, HMAC signature", hmacRS256("oct-rs256"), errUnknownKey),
		refused("RS256 naming an EC JWK that claims RS256", signedBy(key1, rs256Header("ec-rs256")), errUnknownKey),
		refused("RS256 naming an OKP JWK", signedBy(key1, rs256Header("okp-ed25519")), errKeyAlgorithm),
		refused("RS256 naming a JWK of kty rsa in lower case", signedBy(key1, rs256Header("rsa-lowercase")), errUnknownKey),
		refused("RS256 naming an RSA JWK for HS256", signedBy(key1, rs256Header("rsa-for-hs256")), errUnknownKey),
		refused("HS256 naming an oct JWK, HMAC signature", func(t testing.TB) string { return hmacSigned(t, "HS256", "oct-hs256", secret) }, errAlgorithm),
	)
	// kid is a name to look up, never a path or a URL.
	for _, kid := range []string{"../../etc/passwd", "../key-1", "key-1/../key-1", "/etc/passwd", trap.URL + "/", "http://evil/", "file:///etc/passwd",
		"key-1\x00", "key-1 ", " key-1", "KEY-1", "%6Bey-1", "key-1?kid=key-1", "key-1#", `key-1"}`, strings.Repeat("k", 10000)} {
		kid := kid
		name := kid
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		cases = append(cases, refused("kid "+strconv.Quote(name)+", signed by key-1", signedBy(key1, rs256Header(kid)), errUnknownKey))
	}
	// jku, x5u, jwk and x5c are ignored: keys come from the configured source only.
	cases = append(cases,
		refused("jku naming a trap, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "rogue", "jku": trap.URL + "/jwks.json"})), errUnknownKey),
		refused("jku naming a trap and kid key-1, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "key-1", "jku": trap.URL + "/jwks.json"})), errBadSignature),
		refused("x5u naming a trap, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "rogue", "x5u": trap.URL + "/cert.pem"})), errUnknownKey),
		refused("jwk embedding the signer's key, kid key-1", signedBy(rogue, header(map[string]interface{}{"kid": "key-1", "jwk": jwkOf(&rogue.PublicKey, "key-1")})), errBadSignature),
		refused("jwk embedding the signer's key, no kid", signedBy(rogue, header(map[string]interface{}{"jwk": jwkOf(&rogue.PublicKey, "rogue")})), errUnknownKey),
		refused("x5c carrying the signer's certificate, kid key-1", func(t testing.TB) string {
			return signRS256(t, rogue, header(map[string]interface{}{"kid": "key-1", "x5c": []string{certificate(t)}}), userClaims(t, nil))
		}, errBadSignature),
		tokenCase{name: "jku and x5u naming a trap on a token signed by key-1 are ignored",
			token: signedBy(key1, header(map[string]interface{}{"kid": "key-1", "jku": trap.URL + "/jwks.json", "x5u": trap.URL + "/cert.pem"})), wantStatus: 200},
	)
	t.Run("JWKS", func(t *testing.T) { runTokenCases(t, base, cases) })
	t.Run("PEM key", func(t *testing.T) {
		runTokenCases(t, pemConfig, []tokenCase{
			refused("jwk embedding the signer's key", signedBy(rogue, header(map[string]interface{}{"jwk": jwkOf(&rogue.PublicKey, "rogue")})), errBadSignature),
			refused("jku naming a trap, signed by rogue", signedBy(rogue, header(map[string]interface{}{"kid": "rogue", "jku": trap.URL + "/jwks.json"})), errBadSignature),
		})
	})
	if got := trap.requests.Load(); got != 0 {
		t.Errorf("the server named in jku, x5u and kid received %d requests; want none", got)
	}
	if got := server.requests.Load(); got < 1 {
		t.Errorf("the configured JWKS endpoint was asked %d times; want at least once", got)
	}
	server.checkOnlyConfiguredPath(t)
}

func TestIssuerAloneIsAKeySource(t *testing.T) {
	server := newKeyServer(t)
	server.serveOnly(map[string][]byte{"/.well-known/jwks.json": readFixture(t, "keys/jwks.json")})
	config := CreateConfig()
	config.Issuer = server.URL + "/"
	claims := userClaims(t, map[string]interface{}{"iss": server.URL + "/"})
	next := &upstream{}
	rec := httptest.NewRecorder()
	newHandler(t, config, next).ServeHTTP(rec, request(signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), claims)))
	want := []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"}
	if got := server.requested(); rec.Code != 200 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("status %d after requests for %q; want 200 after %q (no discovery document: the conventional key set)", rec.Code, got, want)
	}
}

// TestKeyEndpointRedirectsAreNotFollowed: no key endpoint needs a redirect, and following one
// lets whoever controls the endpoint's answers pick the keys' host.
func TestKeyEndpointRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newTrapServer(t)
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/jwks.json", http.StatusFound))
	t.Cleanup(redirecting.Close)
	config := CreateConfig()
	config.JWKSURL = redirecting.URL + "/jwks.json"
	next := &upstream{}
	rec, _ := serve(newHandler(t, config, next), request(validToken(t)))
	if rec.Code != http.StatusServiceUnavailable || next.calls.Load() != 0 {
		t.Fatalf("JWKS endpoint answering 302: status %d, upstream called %d times; want 503, upstream never", rec.Code, next.calls.Load())
	}
	if got := elsewhere.requests.Load(); got != 0 {
		t.Fatalf("the redirect's target received %d requests; want none (redirects are not followed)", got)
	}
}

// TestKeyResponseLimit: a key set of exactly 1 MiB is read; one byte more is refused.
func TestKeyResponseLimit(t *testing.T) {
	jwks := readFixture(t, "keys/jwks.json")
	for _, tc := range []struct {
		name string
		size int
		want int
	}{
		{"exactly 1 MiB", 1 << 20, http.StatusOK},
		{"1 MiB and one byte", 1<<20 + 1, http.StatusServiceUnavailable},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			body := append(append([]byte{}, jwks...), bytes.Repeat([]byte(" "), tc.size-len(jwks))...)
			if !json.Valid(body) || len(body) != tc.size {
				t.Fatalf("test bug: body of %d bytes", len(body))
			}
			server := newKeyServer(t)
			server.set(http.StatusOK, body)
			rec, _ := serve(newHandler(t, jwksConfig(t, server), &upstream{}), request(validToken(t)))
			if rec.Code != tc.want {
				t.Fatalf("key set of %d bytes: status %d (%s); want %d (limit 1 MiB)", tc.size, rec.Code, errorDescription(rec), tc.want)
			}
		})
	}
}

// TestInlineJWKS: a key set given in the configuration, as text (a label, a Secret's value) or
// as an object (YAML, a Kubernetes resource), verifies its kids as a fetched set does, and is
// never fetched: a token of another kid is refused at once.
func TestInlineJWKS(t *testing.T) {
	text := string(readFixture(t, "keys/jwks.json"))
	var object map[string]interface{}
	if err := json.Unmarshal([]byte(text), &object); err != nil {
		t.Fatal(err)
	}
	// key-3 is not in the set; key-2 is, and so is weak-1024, too short to be kept.
	key2 := func(t testing.TB) string {
		return signRS256(t, privateKey(t, "key-2"), rs256Header("key-2"), userClaims(t, nil))
	}
	key3 := func(t testing.TB) string {
		return signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	}
	weak := func(t testing.TB) string {
		return signRS256(t, privateKey(t, "weak-1024"), rs256Header("weak-1024"), userClaims(t, nil))
	}
	for _, given := range []struct {
		name  string
		value interface{}
	}{{"as text", text}, {"as an object", object}} {
		given := given
		t.Run(given.name, func(t *testing.T) {
			runTokenCases(t, func(t testing.TB) *Config {
				return givenKeySourceConfig(t, map[string]interface{}{"jwks": given.value, "issuer": "https://app-demo.frontegg.com"})
			}, []tokenCase{
				{name: "a token of the set's first key", token: validToken, wantStatus: http.StatusOK},
				{name: "a token of its second key", token: key2, wantStatus: http.StatusOK},
				refused("a token of a kid the set lacks", key3, errUnknownKey),
				refused("a token of a key too short to be kept", weak, errUnknownKey),
				refused("another issuer", tokenWith(map[string]interface{}{"iss": "https://other.example"}), errIssuer),
			})
		})
	}
}
