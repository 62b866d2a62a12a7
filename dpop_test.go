package withauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// dpopClient is a client's DPoP key and what it signs proofs with.
type dpopClient struct {
	key crypto.Signer
	alg string
	jwk map[string]interface{}
	jkt string
}

var proofCounter atomic.Int64

func newDPoPClient(t testing.TB, key crypto.Signer, alg string) *dpopClient {
	t.Helper()
	public := publicJWK(t, key.Public(), "", "")
	delete(public, "kid")
	delete(public, "use")
	var k jose.JWK
	k.Kty, _ = public["kty"].(string)
	k.N, _ = public["n"].(string)
	k.E, _ = public["e"].(string)
	k.Crv, _ = public["crv"].(string)
	k.X, _ = public["x"].(string)
	k.Y, _ = public["y"].(string)
	jkt, err := jose.Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{key: key, alg: alg, jwk: public, jkt: jkt}
}

// proof signs a proof for method, uri and token; changes alter its header or claims (nil
// removes a member).
func (c *dpopClient) proof(t testing.TB, method, uri, token string, iat time.Time, changes map[string]interface{}) string {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	header := map[string]interface{}{"typ": "dpop+jwt", "alg": c.alg, "jwk": c.jwk}
	claims := map[string]interface{}{"jti": fmt.Sprint("proof-", proofCounter.Add(1)), "htm": method, "htu": uri,
		"iat": iat.Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])}
	for name, value := range changes {
		target := claims
		if strings.HasPrefix(name, "header.") {
			// One assignment at a time: Yaegi v0.16.1 drops values of tuple assignments.
			target = header
			name = strings.TrimPrefix(name, "header.")
		}
		if value == nil {
			delete(target, name)
		} else {
			target[name] = value
		}
	}
	return signWith(t, c.key, header, claims)
}

// dpopRequest is a request to the test URL with the DPoP scheme and a proof.
func dpopRequest(token, proof string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/admin", nil)
	req.Header.Set("Authorization", "DPoP "+token)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return req
}

// testOrigin is the origin of the tests' requests (request, dpopRequest).
const testOrigin = "http://backend.example"

func dpopConfig(mode string) func(testing.TB) *Config {
	return func(t testing.TB) *Config {
		config := pemConfig(t)
		config.DPoP = mode
		config.DPoPOrigins = []string{testOrigin}
		return config
	}
}

func TestDPoPProofs(t *testing.T) {
	t.Parallel()
	keys := algorithmKeys(t)
	es256 := newDPoPClient(t, keys.p256, "ES256")
	eddsa := newDPoPClient(t, keys.ed25519, "EdDSA")
	other := newDPoPClient(t, ecKey(t, keys.p256.Curve), "ES256")
	bound := func(c *dpopClient) string {
		return tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": c.jkt}})(t)
	}
	const uri = testOrigin + "/admin"
	now := time.Now()
	type proofCase struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantReason string
	}
	withProof := func(c *dpopClient, token string, changes map[string]interface{}) func() *http.Request {
		return func() *http.Request { return dpopRequest(token, c.proof(t, "GET", uri, token, now, changes)) }
	}
	es256Token, eddsaToken := bound(es256), bound(eddsa)
	tampered := func() *http.Request {
		proof := es256.proof(t, "GET", uri, es256Token, now, nil)
		parts := strings.Split(proof, ".")
		parts[1] = segment(t, map[string]interface{}{"jti": "forged", "htm": "GET", "htu": uri, "iat": now.Unix()})
		return dpopRequest(es256Token, strings.Join(parts, "."))
	}
	withSignature := func(edit func(string) string) func() *http.Request {
		return func() *http.Request {
			proof := es256.proof(t, "GET", uri, es256Token, now, nil)
			last := strings.LastIndexByte(proof, '.')
			return dpopRequest(es256Token, proof[:last+1]+edit(proof[last+1:]))
		}
	}
	cases := []proofCase{
		{"ES256 proof", withProof(es256, es256Token, nil), 200, ""},
		{"EdDSA proof", withProof(eddsa, eddsaToken, nil), 200, ""},
		{"htu with another case, the default port, a query", withProof(es256, es256Token, map[string]interface{}{"htu": "HTTP://Backend.Example:80/admin?x=1"}), 200, ""},
		{"a proof for another path", withProof(es256, es256Token, map[string]interface{}{"htu": testOrigin + "/other"}), 401, "dpop_htu_mismatch"},
		{"a proof for another origin", withProof(es256, es256Token, map[string]interface{}{"htu": "https://backend.example/admin"}), 401, "dpop_htu_mismatch"},
		{"a proof whose htu is not a URL", withProof(es256, es256Token, map[string]interface{}{"htu": "/admin"}), 401, "dpop_htu_mismatch"},
		{"a proof for another method", withProof(es256, es256Token, map[string]interface{}{"htm": "POST"}), 401, "dpop_htm_mismatch"},
		{"a proof for another token", withProof(es256, es256Token, map[string]interface{}{"ath": "AAAA"}), 401, "dpop_ath_mismatch"},
		{"a proof without ath", withProof(es256, es256Token, map[string]interface{}{"ath": nil}), 401, "dpop_ath_mismatch"},
		{"a proof of another key", withProof(other, es256Token, nil), 401, "dpop_key_mismatch"},
		{"a proof naming the bound key that another key signed", withProof(other, es256Token, map[string]interface{}{"header.jwk": es256.jwk}), 401, "dpop_signature_invalid"},
		{"a proof whose claims were changed", tampered, 401, "dpop_signature_invalid"},
		{"a proof with a newline inside its signature", withSignature(func(sig string) string { return sig[:10] + "\n" + sig[10:] }), 401, "dpop_signature_invalid"},
		{"a proof with a carriage return inside its signature", withSignature(func(sig string) string { return sig[:10] + "\r" + sig[10:] }), 401, "dpop_signature_invalid"},
		// iat is in whole seconds, and the requests come later than now: margins of 3 s.
		{"a proof too old", withProof(es256, es256Token, map[string]interface{}{"iat": now.Add(-63 * time.Second).Unix()}), 401, "dpop_proof_stale"},
		{"a proof 9 s in the future", withProof(es256, es256Token, map[string]interface{}{"iat": now.Add(9 * time.Second).Unix()}), 401, "dpop_proof_stale"},
		{"a proof 2 s in the future", withProof(es256, es256Token, map[string]interface{}{"iat": now.Add(2 * time.Second).Unix()}), 200, ""},
		{"a proof 55 s old", withProof(es256, es256Token, map[string]interface{}{"iat": now.Add(-55 * time.Second).Unix()}), 200, ""},
		{"a proof without jti", withProof(es256, es256Token, map[string]interface{}{"jti": nil}), 401, "dpop_jti_missing"},
		{"a proof typed JWT", withProof(es256, es256Token, map[string]interface{}{"header.typ": "JWT"}), 401, "dpop_proof_invalid"},
		{"a proof whose jwk holds the private key", withProof(es256, es256Token, map[string]interface{}{"header.jwk": withMember(es256.jwk, "d", "c2VjcmV0")}), 401, "dpop_proof_invalid"},
		{"a proof of an algorithm not accepted", withProof(newDPoPClient(t, keys.p384, "ES384"), es256Token, nil), 401, "dpop_proof_invalid"},
		{"no proof", func() *http.Request { return dpopRequest(es256Token, "") }, 401, "dpop_proof_missing"},
		{"two proofs", func() *http.Request {
			req := withProof(es256, es256Token, nil)()
			req.Header.Add("DPoP", es256.proof(t, "GET", uri, es256Token, now, nil))
			return req
		}, 401, "dpop_proof_missing"},
		{"the bound token as Bearer", func() *http.Request { return request(es256Token) }, 401, "dpop_bound_as_bearer"},
		{"an unbound token as DPoP", withProof(es256, validToken(t), nil), 401, "not_dpop_bound"},
		{"an unbound token as Bearer (dpop allowed)", func() *http.Request { return request(validToken(t)) }, 200, ""},
	}
	for _, mode := range []string{"allowed", "required"} {
		t.Run(mode, func(t *testing.T) {
			next := &upstream{}
			handler := newHandler(t, dpopConfig(mode)(t), next)
			for _, tc := range cases {
				want, reason := tc.wantStatus, tc.wantReason
				if mode == "required" && strings.HasPrefix(tc.name, "an unbound token as Bearer") {
					want, reason = 401, "dpop_required"
				}
				before := next.calls.Load()
				rec, _ := serve(handler, tc.req())
				if rec.Code != want || bodyField(rec.Body.Bytes(), "reason") != reason && want != 200 {
					t.Errorf("%s: status %d %s; want %d %s", tc.name, rec.Code, rec.Body.String(), want, reason)
				}
				if reached := next.calls.Load() - before; (want == 200) != (reached == 1) {
					t.Errorf("%s: the upstream was reached %d times for an answer %d; want once for 200, never otherwise", tc.name, reached, rec.Code)
				}
			}
		})
	}
}

func withMember(object map[string]interface{}, name string, value interface{}) map[string]interface{} {
	copied := map[string]interface{}{name: value}
	for key, v := range object {
		copied[key] = v
	}
	return copied
}

// TestDPoPProofIsCheckedOnEveryRequest: the token's grant comes from the cache, its proof never
// does: a fresh proof passes, the same proof again is a replay, also on another route and
// after a reload (the process remembers proofs).
func TestDPoPProofIsCheckedOnEveryRequest(t *testing.T) {
	t.Parallel()
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	const uri = testOrigin + "/admin"
	first := newHandler(t, dpopConfig("required")(t), &upstream{}).(*Middleware)
	proof := client.proof(t, "GET", uri, token, time.Now(), nil)
	for i, want := range []int{200, 401} {
		if rec, _ := serve(first, dpopRequest(token, proof)); rec.Code != want {
			t.Fatalf("request %d with the same proof: status %d %s; want %d", i+1, rec.Code, rec.Body.String(), want)
		}
	}
	if cachedGrant(first.caches[fromDPoP], token) == nil {
		t.Fatal("the DPoP token's grant is not cached; want it cached, its proof checked each time")
	}
	reloaded := newHandler(t, dpopConfig("required")(t), &upstream{})
	if rec, _ := serve(reloaded, dpopRequest(token, proof)); rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "dpop_proof_replayed" {
		t.Fatalf("the proof replayed after a reload: status %d %s; want 401 dpop_proof_replayed", rec.Code, rec.Body.String())
	}
	if rec, _ := serve(reloaded, dpopRequest(token, client.proof(t, "GET", uri, token, time.Now(), nil))); rec.Code != 200 {
		t.Fatalf("a fresh proof: status %d %s; want 200", rec.Code, rec.Body.String())
	}
	proofs := testProcess(t).proofs
	proofs.mu.Lock()
	defer proofs.mu.Unlock()
	for key := range proofs.seen {
		if len(key) != 32 {
			t.Fatalf("a used proof is kept under a key of %d bytes; want a 32-byte SHA-256, whatever its jti's size", len(key))
		}
	}
}

// TestDPoPChallenges: RFC 9449 §7.1's challenges name the route's algorithms and the error.
func TestDPoPChallenges(t *testing.T) {
	t.Parallel()
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	config := dpopConfig("allowed")(t)
	config.DPoPAlgorithms = []string{"ES256", "EdDSA"}
	handler := newHandler(t, config, &upstream{})
	rec, _ := serve(handler, dpopRequest(token, ""))
	challenges := rec.Header().Values("WWW-Authenticate")
	if len(challenges) != 1 || !strings.HasPrefix(challenges[0], `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof"`) || bodyField(rec.Body.Bytes(), "error") != "invalid_dpop_proof" {
		t.Errorf("no proof: challenges %q, body %s; want one DPoP challenge with invalid_dpop_proof", challenges, rec.Body.String())
	}
	rec, _ = serve(handler, request(""))
	challenges = rec.Header().Values("WWW-Authenticate")
	if len(challenges) != 2 || challenges[0] != `Bearer realm="withauth"` || challenges[1] != `DPoP algs="ES256 EdDSA"` {
		t.Errorf("no token on a route that also takes Bearer tokens: challenges %q; want Bearer's, then DPoP's", challenges)
	}
	rec, _ = serve(handler, request(token))
	if challenges = rec.Header().Values("WWW-Authenticate"); len(challenges) != 2 || !strings.Contains(challenges[1], `error="invalid_token"`) {
		t.Errorf("the bound token as Bearer: challenges %q; want a DPoP challenge with invalid_token", challenges)
	}
}

// TestDPoPOrigins: htu's origin must be one of dpopOrigins, whatever Host, X-Forwarded-Host and
// X-Forwarded-Proto the request carries (a client chooses them, and Traefik copies Host into
// X-Forwarded-Host), and its path the request's.
func TestDPoPOrigins(t *testing.T) {
	t.Parallel()
	client := newDPoPClient(t, algorithmKeys(t).ed25519, "EdDSA")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	config := dpopConfig("required")(t)
	config.DPoPOrigins = []string{"https://api.example.com", "https://API.example.com:8443/"}
	next := &upstream{}
	handler := newHandler(t, config, next)
	for _, tc := range []struct {
		htu, host, forwardedHost string
		want                     int
	}{
		{"https://api.example.com/admin", "backend.internal", "", 200},
		{"https://api.example.com:443/%61dmin", "", "", 200},
		{"https://api.example.com:8443/admin", "", "", 200},
		{"http://api.example.com/admin", "", "", 401},
		{"https://api.example.com:9443/admin", "", "", 401},
		{"https://api.example.com/admin/", "", "", 401},
		// S4-8: a proof minted for another server, sent with that server's Host.
		{"https://other-api.example.net/admin", "other-api.example.net", "other-api.example.net", 401},
		{"http://backend.example/admin", "backend.example", "backend.example", 401},
	} {
		req := dpopRequest(token, client.proof(t, "GET", tc.htu, token, time.Now(), nil))
		if tc.host != "" {
			req.Host = tc.host
		}
		if tc.forwardedHost != "" {
			req.Header.Set("X-Forwarded-Host", tc.forwardedHost)
			req.Header.Set("X-Forwarded-Proto", "https")
		}
		rec, _ := serve(handler, req)
		if rec.Code != tc.want || tc.want == 401 && bodyField(rec.Body.Bytes(), "reason") != "dpop_htu_mismatch" {
			t.Errorf("htu %s (Host %q, X-Forwarded-Host %q) with dpopOrigins %v: status %d %s; want %d", tc.htu, tc.host, tc.forwardedHost, config.DPoPOrigins, rec.Code, rec.Body.String(), tc.want)
		}
	}
	if next.calls.Load() != 3 {
		t.Errorf("the upstream was reached %d times; want 3 (the admitted proofs)", next.calls.Load())
	}
}

func TestDPoPConfiguration(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.DPoP = "yes" }, `dpop: "yes" is not a setting`},
		{func(c *Config) { c.DPoPAlgorithms = []string{"ES256"} }, "apply with dpop allowed or required"},
		{func(c *Config) { c.DPoPOrigins = []string{testOrigin} }, "apply with dpop allowed or required"},
		{func(c *Config) { c.ReplayStore = "process" }, "apply with dpop allowed or required"},
		{func(c *Config) {
			c.DPoP = "allowed"
			c.DPoPOrigins = []string{testOrigin}
			c.DPoPAlgorithms = []string{"HS256"}
		}, `dpopAlgorithms: "HS256" is not supported`},
		{func(c *Config) { c.DPoP = "allowed"; c.DPoPOrigins = []string{testOrigin}; c.DPoPProofMaxAge = "0s" }, "dpopProofMaxAge: 0s is not between 1s and 10m0s"},
		{func(c *Config) { c.DPoP = "allowed"; c.DPoPOrigins = []string{testOrigin}; c.DPoPProofMaxAge = "11m" }, "dpopProofMaxAge: 11m0s is not between 1s and 10m0s"},
		{func(c *Config) { c.DPoP = "required" }, "dpopOrigins: is required with dpop"},
		{func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{} }, "dpopOrigins: is set but empty"},
		{func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{"api.example.com"} }, `dpopOrigins: "api.example.com" is not an origin`},
		{func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{"https://api.example.com/v1"} }, `dpopOrigins: "https://api.example.com/v1" is not an origin`},
		{func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{"https://api.example.com?x"} }, "is not an origin"},
		{func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{"wss://api.example.com"} }, "is not an origin"},
		{func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{"https://user:pw@api.example.com"} }, `dpopOrigins: "https://user:xxxxx@api.example.com" is not an origin`},
		{func(c *Config) { c.CertificateBound = "on" }, `certificateBound: "on" is not a setting`},
	} {
		config := pemConfig(t)
		tc.change(config)
		if got := newError(t, config); !strings.Contains(got, tc.want) {
			t.Errorf("New logged %q; want %q", got, tc.want)
		}
	}
}

// fuzzProofCase is the fixed request of FuzzDPoPProof: a token bound to an Ed25519 key made from
// a fixed seed, and that key's proof for the request, the same bytes on every run (Ed25519 and
// RSA PKCS #1 v1.5 signatures are deterministic).
type fuzzProofCase struct {
	rule  *dpopRule
	token string
	jkt   string
	proof string
	now   time.Time
}

func newFuzzProofCase(t testing.TB) *fuzzProofCase {
	t.Helper()
	client := newDPoPClient(t, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)), "EdDSA")
	token := signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), fuzzClaims(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}}))
	sum := sha256.Sum256([]byte(token))
	proof := signWith(t, client.key, map[string]interface{}{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": client.jwk},
		map[string]interface{}{"jti": "fuzz-proof", "htm": "GET", "htu": "http://backend.example/admin", "iat": fuzzIssuedAt,
			"ath": base64.RawURLEncoding.EncodeToString(sum[:])})
	rule, err := newDPoP(&Config{DPoP: "required", DPoPOrigins: []string{testOrigin}}, fetchTiming{now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	shareDPoP(newProcess(), rule, "fuzz")
	return &fuzzProofCase{rule: rule, token: token, jkt: client.jkt, proof: proof, now: time.Unix(fuzzIssuedAt+10, 0)}
}

// check is FuzzDPoPProof's property: judging a proof is bounded, refuses with a proof error,
// and accepts the one valid proof and nothing else (each run with an empty replay store).
func (c *fuzzProofCase) check(t testing.TB, proof string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/admin", nil)
	req.Header["Dpop"] = []string{proof}
	c.rule.proofs = newReplayStore(maxProofsSeen)
	c.rule.proofs.noteMaxAge(time.Minute)
	var err error
	bounded(t, "checkProof of "+fmt.Sprint(len(proof))+" bytes", allocationLimit(len(proof)), func() {
		err = checkProof(c.rule, req, http.Header{}, c.token, c.jkt, c.now)
	})
	if err == nil && proof != c.proof {
		t.Fatalf("checkProof accepted %q, which is not the one valid proof", proof)
	}
	if err != nil && proof == c.proof {
		t.Fatalf("checkProof refused the valid proof: %v", err)
	}
	if err != nil && dpopProofErrors[err] == "" {
		t.Fatalf("checkProof(%q) = %v; want nil or a proof refusal", proof, err)
	}
}

func FuzzDPoPProof(f *testing.F) {
	c := newFuzzProofCase(f)
	for _, entry := range fuzzProofSeeds(c) {
		f.Add(entry)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		c.check(t, proof)
	})
}

// fuzzProofSeeds are the valid proof and near misses, for the fuzzer and its seed corpus.
func fuzzProofSeeds(c *fuzzProofCase) map[string]string {
	parts := strings.Split(c.proof, ".")
	return map[string]string{
		"valid":            c.proof,
		"typ-jwt":          base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"jwt","alg":"EdDSA"}`)) + "." + parts[1] + "." + parts[2],
		"alg-none":         base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none"}`)) + "." + parts[1] + ".",
		"private-jwk":      base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"AAAA"}}`)) + "." + parts[1] + "." + parts[2],
		"signature-padded": c.proof + "==",
		"two-parts":        parts[0] + "." + parts[1],
	}
}

// TestRFC9449Example: RFC 9449 §7.1's own protected-resource request (Figure 13), the opaque
// token introspected with its key's thumbprint (§6.1) as cnf.jkt, is admitted at the proof's
// iat, and refused the second time.
func TestRFC9449Example(t *testing.T) {
	t.Parallel()
	token := string(readFixture(t, "rfc9449/access-token"))
	proof := string(readFixture(t, "rfc9449/proof"))
	const thumbprint = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	clock := &fakeClock{now: time.Unix(1562262618, 0)}
	s := newIntrospectionServer(t)
	s.set(token, activeAnswer(clock.Now(), map[string]interface{}{"token_type": "DPoP", "cnf": map[string]interface{}{"jkt": thumbprint}}))
	config := introspectionConfig(t, s, clock)
	config.DPoP = "required"
	config.DPoPOrigins = []string{"https://resource.example.org"}
	next := &upstream{}
	handler := newHandler(t, config, next)
	send := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "http://traefik.internal/protectedresource", nil)
		req.Header.Set("Authorization", "DPoP "+token)
		req.Header.Set("DPoP", proof)
		rec, _ := serve(handler, req)
		return rec
	}
	if rec := send(); rec.Code != http.StatusOK || next.header.Get("X-User-Id") != "service-7" {
		t.Fatalf("RFC 9449's request: status %d %s, upstream saw X-User-Id %q; want 200 and the answer's sub", rec.Code, rec.Body.String(), next.header.Get("X-User-Id"))
	}
	if rec := send(); rec.Code != http.StatusUnauthorized || bodyField(rec.Body.Bytes(), "reason") != "dpop_proof_replayed" {
		t.Fatalf("RFC 9449's request again: status %d %s; want 401 dpop_proof_replayed", rec.Code, rec.Body.String())
	}
	if next.calls.Load() != 1 || s.calls.Load() != 1 {
		t.Errorf("upstream reached %d times after %d introspection calls; want once after one", next.calls.Load(), s.calls.Load())
	}
}

// TestDPoPRefusalsSayWhichPartFailed: with logRejections, a refused proof's line carries the
// verified token's iss, sub and kid, and for an htu that is not the request's, the htu expected;
// a DPoP-only route asks a request without credentials for a DPoP-bound token.
func TestDPoPRefusalsSayWhichPartFailed(t *testing.T) {
	captured := captureLog(t)
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	config := dpopConfig("required")(t)
	config.DPoPOrigins = []string{testOrigin, "https://api.example"}
	config.LogRejections = "error"
	handler := newHandler(t, config, &upstream{})
	rec, _ := serve(handler, dpopRequest(token, client.proof(t, "GET", "https://elsewhere.example/admin", token, time.Now(), nil)))
	if reason := bodyField(rec.Body.Bytes(), "reason"); rec.Code != http.StatusUnauthorized || reason != "dpop_htu_mismatch" {
		t.Fatalf("a proof for another origin: %d %s; want 401 dpop_htu_mismatch", rec.Code, reason)
	}
	lines := captured.lines(false)
	want := []string{"reason=dpop_htu_mismatch", `iss="https://app-demo.frontegg.com"`, `sub="6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11"`, `kid="key-1"`,
		`expected_htu="http://backend.example/admin or https://api.example/admin"`}
	for _, part := range want {
		if len(lines) != 1 || !strings.Contains(lines[0], part) {
			t.Errorf("the refusal logged %q; want one line with %s", lines, part)
		}
	}
	rec, _ = serve(handler, httptest.NewRequest(http.MethodGet, testOrigin+"/admin", nil))
	if description := errorDescription(rec); rec.Code != http.StatusUnauthorized || !strings.HasPrefix(description, "a DPoP-bound token is required") ||
		rec.Header().Get("WWW-Authenticate") != `DPoP algs="ES256 EdDSA PS256 RS256"` {
		t.Errorf("no credentials on a DPoP-only route: %d %q, challenge %q; want 401 asking for a DPoP-bound token, the DPoP challenge without an error",
			rec.Code, description, rec.Header().Get("WWW-Authenticate"))
	}
}
