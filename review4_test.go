package withauth

// Security review 4 (../shared/reviews/security-4, 2026-12-08): the hypotheses that held, kept
// holding. Two expectations name the more precise refusals DPoP proofs now get, and the notes of
// S4-8 (htu's host, now fixed: TestDPoPOrigins) and S4-9 (a cnf.jkt that is not a string, now
// refused) follow the fixes.

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Two routes with one introspection URL and different clients share neither the endpoint's
// answers nor grants: the provider answers active to client-a only.
func TestReview4HoldsIntrospectionAnswersArePerClient(t *testing.T) {
	freshStore(t)
	clock := newFakeClock()
	var calls atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		calls.Add(1)
		id, _, _ := req.BasicAuth()
		answer := `{"active": false}`
		if id == "client-a" {
			members, _ := json.Marshal(activeAnswer(clock.Now(), nil))
			answer = string(members)
		}
		_, _ = rw.Write([]byte(answer))
	}))
	t.Cleanup(endpoint.Close)
	route := func(id string) http.Handler {
		config := pemConfig(t)
		config.Issuer = "https://app-demo.frontegg.com"
		config.IntrospectionURL = endpoint.URL
		config.IntrospectionClientID = id
		config.IntrospectionClientSecret = "secret-of-" + id
		config.Now = clock.Now
		return newHandler(t, config, &upstream{})
	}
	a, b := route("client-a"), route("client-b")
	for i, tc := range []struct {
		handler http.Handler
		want    int
	}{{a, 200}, {b, 401}, {a, 200}, {b, 401}} {
		if rec, _ := serve(tc.handler, request("ory_at_shared.sig")); rec.Code != tc.want {
			t.Errorf("request %d: status %d; want %d (each client's own answer)", i+1, rec.Code, tc.want)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls; want 2 (one per client, each answer cached for its own client)", calls.Load())
	}
}

// Members of an introspection answer of the wrong type never admit: numbers as strings, an
// active that is not a boolean, a number beyond a double, an audience that is not a string.
func TestReview4HoldsIntrospectionMemberTypes(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	config := introspectionConfig(t, s, clock)
	config.Audience = []string{"api"}
	next := &upstream{}
	handler := newHandler(t, config, next)
	now := clock.Now()
	cases := map[string]map[string]interface{}{
		"exp-as-text":  activeAnswer(now, map[string]interface{}{"exp": "99999999999"}),
		"nbf-as-text":  activeAnswer(now, map[string]interface{}{"nbf": "0"}),
		"iat-as-text":  activeAnswer(now, map[string]interface{}{"iat": "0"}),
		"exp-absent":   activeAnswer(now, map[string]interface{}{"exp": nil}),
		"aud-a-number": activeAnswer(now, map[string]interface{}{"aud": 1}),
		"iss-absent":   activeAnswer(now, map[string]interface{}{"iss": nil}),
		"active-text":  activeAnswer(now, map[string]interface{}{"active": "true"}),
		"active-one":   activeAnswer(now, map[string]interface{}{"active": 1}),
	}
	for token, answer := range cases {
		s.set(token, answer)
	}
	s.mu.Lock()
	s.answers["exp-beyond-double"] = `{"active": true, "iss": "https://app-demo.frontegg.com", "aud": "api", "exp": 1e400}`
	s.mu.Unlock()
	cases["exp-beyond-double"] = nil
	for token := range cases {
		rec, _ := serve(handler, request(token))
		t.Logf("%s: %d %s", token, rec.Code, bodyField(rec.Body.Bytes(), "reason"))
		if rec.Code == http.StatusOK || rec.Code >= 500 && !strings.HasPrefix(token, "active-") {
			t.Errorf("%s: status %d %s; want 401 (503 for an active that is not a boolean)", token, rec.Code, rec.Body.String())
		}
	}
	if next.calls.Load() != 0 {
		t.Errorf("the upstream was reached %d times; want never", next.calls.Load())
	}
}

// The introspection client secret is in no log line, answer or refusal; a secret given without
// introspectionUrl is refused without being named.
func TestReview4HoldsIntrospectionSecretNeverShown(t *testing.T) {
	log := captureLog(t)
	s := newIntrospectionServer(t)
	s.setFault("500")
	clock := newFakeClock()
	config := introspectionConfig(t, s, clock)
	config.LogRejections = "error"
	rec, _ := serve(newHandler(t, config, &upstream{}), request("opaque"))
	seen := rec.Body.String() + strings.Join(rec.Header().Values("WWW-Authenticate"), " ")
	lone := pemConfig(t)
	lone.IntrospectionClientSecret = "s3cr3t-alone"
	seen += newError(t, lone)
	seen += strings.Join(log.lines(false), "\n") + strings.Join(log.lines(true), "\n")
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(seen, "s3cr3t") {
		t.Errorf("status %d; answers and log lines: %s; want 503 and no secret", rec.Code, seen)
	}
}

// maxTokenAge bounds an introspected token's exp - iat as a JWT's.
func TestReview4HoldsMaxTokenAgeAppliesToIntrospection(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	config := introspectionConfig(t, s, clock)
	config.MaxTokenAge = "1h"
	handler := newHandler(t, config, &upstream{})
	now := clock.Now()
	s.set("long-lived", activeAnswer(now, map[string]interface{}{"exp": now.Add(48 * time.Hour).Unix()}))
	s.set("no-iat", activeAnswer(now, map[string]interface{}{"iat": nil}))
	s.set("short", activeAnswer(now, map[string]interface{}{"exp": now.Add(30 * time.Minute).Unix()}))
	for token, want := range map[string]int{"long-lived": 401, "no-iat": 401, "short": 200} {
		if rec, _ := serve(handler, request(token)); rec.Code != want {
			t.Errorf("%s with maxTokenAge 1h: status %d %s; want %d", token, rec.Code, rec.Body.String(), want)
		}
	}
}

// A grant is never served on a route whose binding rules differ: a DPoP-bound token admitted
// (as Bearer) on a route with dpop off is refused on a dpop route with the same other settings,
// and one admitted over its certificate is refused without it on a certificateBound route.
func TestReview4HoldsGrantsNotSharedAcrossBindingSettings(t *testing.T) {
	freshStore(t)
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	if rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(token)); rec.Code != 200 {
		t.Fatalf("the bound token as Bearer, dpop off: status %d; want 200 (cached)", rec.Code)
	}
	for _, mode := range []string{"allowed", "required"} {
		rec, _ := serve(newHandler(t, dpopConfig(mode)(t), &upstream{}), request(token))
		if rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "dpop_bound_as_bearer" {
			t.Errorf("the same token as Bearer, dpop %s: status %d %s; want 401 dpop_bound_as_bearer", mode, rec.Code, rec.Body.String())
		}
	}
	ca := newCertificate(t, "clients CA", nil, 0)
	mine := newCertificate(t, "mine", ca, x509.ExtKeyUsageClientAuth)
	sum := sha256.Sum256(mine.cert.Raw)
	certBound := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}})(t)
	bound := pemConfig(t)
	bound.CertificateBound = "allowed"
	handler := newHandler(t, bound, &upstream{})
	over := request(certBound)
	over.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{mine.cert}}
	if rec, _ := serve(handler, over); rec.Code != 200 {
		t.Fatalf("the certificate-bound token over its certificate: status %d; want 200", rec.Code)
	}
	// Only the leaf counts: the token's certificate second in the chain is another client's.
	other := newCertificate(t, "other", ca, x509.ExtKeyUsageClientAuth)
	chained := request(certBound)
	chained.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{other.cert, mine.cert}}
	noTLS := request(certBound)
	noTLS.Header.Set("X-Forwarded-Tls-Client-Cert", base64.StdEncoding.EncodeToString(mine.cert.Raw))
	for name, req := range map[string]*http.Request{"second in the chain": chained, "no TLS, a header": noTLS} {
		if rec, _ := serve(handler, req); rec.Code != 401 {
			t.Errorf("the certificate-bound token, its certificate %s (grant cached): status %d; want 401", name, rec.Code)
		}
	}
}

// Authorization: DPoP on a route with dpop off is no credential: 401, never the upstream.
func TestReview4HoldsDPoPSchemeWhereDPoPIsOff(t *testing.T) {
	client := newDPoPClient(t, algorithmKeys(t).ed25519, "EdDSA")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	next := &upstream{}
	rec, _ := serve(newHandler(t, pemConfig(t), next), dpopRequest(token, client.proof(t, "GET", "http://backend.example/admin", token, time.Now(), nil)))
	if rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "no_credentials" || next.calls.Load() != 0 {
		t.Errorf("Authorization: DPoP, dpop off: status %d %s, upstream %d; want 401 no_credentials", rec.Code, rec.Body.String(), next.calls.Load())
	}
}

// Proof headers: alg none and HS256 are refused; the memo of headers cannot be poisoned (the
// victim's header text, once remembered, does not verify another key's signature); a proof
// replayed with another token is refused without spending its jti.
func TestReview4HoldsProofHeadersAndMemo(t *testing.T) {
	keys := algorithmKeys(t)
	victim := newDPoPClient(t, keys.p256, "ES256")
	attacker := newDPoPClient(t, ecKey(t, keys.p256.Curve), "ES256")
	victimToken := tokenWith(map[string]interface{}{"sub": "victim", "cnf": map[string]interface{}{"jkt": victim.jkt}})(t)
	// Bound to the victim's key too, so that only the proof's signature can stop the attacker.
	attackerToken := tokenWith(map[string]interface{}{"sub": "attacker", "cnf": map[string]interface{}{"jkt": victim.jkt}})(t)
	handler := newHandler(t, dpopConfig("required")(t), &upstream{})
	const uri = "http://backend.example/admin"
	claims := segment(t, map[string]interface{}{"jti": "unsigned", "htm": "GET", "htu": uri, "iat": time.Now().Unix()})
	for _, alg := range []string{"none", "HS256"} {
		header := segment(t, map[string]interface{}{"typ": "dpop+jwt", "alg": alg, "jwk": victim.jwk})
		if rec, _ := serve(handler, dpopRequest(victimToken, header+"."+claims+".c2ln")); rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "dpop_proof_invalid" {
			t.Errorf("a proof with alg %s: status %d %s; want 401 dpop_proof_invalid", alg, rec.Code, rec.Body.String())
		}
	}
	victimProof := victim.proof(t, "GET", uri, victimToken, time.Now(), nil)
	// The victim's header (its key), signed by another key: the memo holds the victim's key.
	forged := attacker.proof(t, "GET", uri, attackerToken, time.Now(), map[string]interface{}{"header.jwk": victim.jwk})
	if rec, _ := serve(handler, dpopRequest(attackerToken, forged)); rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "dpop_signature_invalid" {
		t.Errorf("the victim's header over another key's signature: status %d %s; want 401 dpop_signature_invalid", rec.Code, rec.Body.String())
	}
	if rec, _ := serve(handler, dpopRequest(attackerToken, victimProof)); rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "dpop_ath_mismatch" {
		t.Errorf("the victim's proof with another token: status %d %s; want 401 dpop_ath_mismatch", rec.Code, rec.Body.String())
	}
	if rec, _ := serve(handler, dpopRequest(victimToken, victimProof)); rec.Code != 200 {
		t.Errorf("the victim's proof after the attempts: status %d %s; want 200 (its jti unspent)", rec.Code, rec.Body.String())
	}
}

// New keys of the wrong type are refused by name (YAML booleans and numbers where a word or a
// duration is expected, HS256 or none among dpopAlgorithms, a private key in jwks).
func TestReview4HoldsNewKeysOfTheWrongType(t *testing.T) {
	for name, given := range map[string]map[string]interface{}{
		"dpop: true":                     {"dpop": true},
		"dpop: false":                    {"dpop": false},
		"certificateBound: true":         {"certificateBound": true},
		"introspect: true":               {"introspectionUrl": "https://idp.example/introspect", "introspect": true},
		"introspectionCacheDuration: 30": {"introspectionUrl": "https://idp.example/introspect", "introspectionCacheDuration": 30},
		"dpopProofMaxAge: 60":            {"dpop": "required", "dpopProofMaxAge": 60},
		"maxTokenAge: 3600":              {"maxTokenAge": 3600},
		"dpopAlgorithms: none":           {"dpop": "required", "dpopAlgorithms": []interface{}{"ES256", "none"}},
		"dpopAlgorithms: HS256":          {"dpop": "required", "dpopAlgorithms": "HS256"},
		"introspectionClientSecret: []":  {"introspectionUrl": "https://idp.example/introspect", "introspectionClientId": "a", "introspectionClientSecret": []interface{}{}},
		"jwks with d": {"publicKey": nil, "jwks": map[string]interface{}{"keys": []interface{}{
			map[string]interface{}{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}}}},
	} {
		config := givenConfig(t, given)
		if given["publicKey"] == nil {
			if _, named := given["publicKey"]; named {
				delete(config.Given, "publicKey")
			}
		}
		if got := newError(t, config); got == "" {
			t.Errorf("%s: accepted; want refused", name)
		}
	}
}

// S4-9: where dpop and certificateBound are off (the default), a token bound to a DPoP key or a
// certificate is admitted as a Bearer token, without proof or certificate, as RFC 9449 lets a
// resource server that does not know DPoP do (documented). With dpop allowed, a cnf.jkt that is
// not a string is unreadable, and the token is refused, never taken for an unbound one.
func TestReview4BoundTokensWhereBindingIsOff(t *testing.T) {
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	bound := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt, "x5t#S256": "bm90LXRoaXMtY2xpZW50"}})(t)
	if rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(bound)); rec.Code != 200 {
		t.Errorf("a DPoP- and certificate-bound token as Bearer, binding off: status %d; this note pins the current behavior (200)", rec.Code)
	}
	odd := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": []string{client.jkt}}})(t)
	if rec, _ := serve(newHandler(t, dpopConfig("allowed")(t), &upstream{}), request(odd)); rec.Code != 401 {
		t.Errorf("cnf.jkt a list, dpop allowed, as Bearer: status %d; want 401", rec.Code)
	}
	oddCertificate := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"x5t#S256": 42}})(t)
	allowed := pemConfig(t)
	allowed.CertificateBound = "allowed"
	if rec, _ := serve(newHandler(t, allowed, &upstream{}), request(oddCertificate)); rec.Code != 401 {
		t.Errorf("cnf x5t#S256 a number, certificateBound allowed: status %d; want 401", rec.Code)
	}
}
