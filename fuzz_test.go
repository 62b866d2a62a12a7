package withauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// Fuzzing. Each Fuzz function checks properties, not only the absence of panics, and so does
// TestFuzzCorpora over the seed corpora in testdata/fuzz/<FuzzName>/: `yaegi test` runs Test
// functions only, so that test is how the properties run interpreted.
//
//	make fuzz                                    # every target for 5 s
//	make fuzz FUZZTIME=10m                       # longer
//	go test -run='^$' -fuzz='^FuzzToken$' -fuzztime=1h .   # one target
//
// A failing input is written to testdata/fuzz/<FuzzName>/ and replayed by `go test` from then
// on. WITHAUTH_WRITE_FUZZ_CORPUS=1 go test -run TestWriteFuzzCorpus . rewrites the seeds.

const (
	// fuzzIssuedAt and fuzzExpiry fix the seed tokens' times, so that RSA's deterministic
	// signatures make them the same bytes on every run: valid until 2100.
	fuzzIssuedAt = 1700000000
	fuzzExpiry   = 4102444800
	// fuzzTimeLimit bounds one execution: the work on any input is meant to be small.
	fuzzTimeLimit = time.Second
)

// fuzzClaims are the claims of the seed tokens, with changes applied (nil removes a claim).
func fuzzClaims(changes map[string]interface{}) map[string]interface{} {
	claims := map[string]interface{}{
		"sub": "fuzz-user", "email": "fuzz@example.com", "tenantId": "fuzz-tenant", "type": "userToken",
		"roles": []interface{}{"admin", "read-only"}, "permissions": []interface{}{"uploadFile"},
		"iss": "https://app-demo.frontegg.com", "aud": "fuzz-client", "iat": fuzzIssuedAt, "exp": fuzzExpiry,
	}
	return changeClaims(claims, changes)
}

// fuzzValidToken is a token that fuzzHandler admits (200) or refuses for want of a role (403).
type fuzzValidToken struct {
	name   string
	token  string
	status int
}

// fuzzValidTokens are the only tokens fuzzHandler may answer 200 or 403: the fuzzers mutate
// them, and no mutation may be accepted.
func fuzzValidTokens(t testing.TB) []fuzzValidToken {
	key := privateKey(t, "key-1")
	return []fuzzValidToken{
		{"valid-admin", signRS256(t, key, rs256Header("key-1"), fuzzClaims(nil)), 200},
		{"valid-no-kid", signRS256(t, key, map[string]interface{}{"alg": "RS256"}, fuzzClaims(map[string]interface{}{"sub": "other"})), 200},
		{"valid-reader", signRS256(t, key, rs256Header("key-1"), fuzzClaims(map[string]interface{}{"roles": []interface{}{"read-only"}})), 403},
		{"valid-nested", signRS256(t, key, rs256Header("key-1"), fuzzClaims(map[string]interface{}{
			"aud": []interface{}{"a", "b"}, "nbf": fuzzIssuedAt, "metadata": map[string]interface{}{"plan": "pro", "n": 1.5}, "email_verified": true,
		})), 200},
	}
}

// fuzzHandler is the handler the token fuzzers go through: key-1 as PEM, role admin required,
// all claims forwarded as well.
func fuzzHandler(t testing.TB) (http.Handler, *upstream) {
	config := pemConfig(t)
	config.Roles = []string{"admin"}
	config.ClaimsHeader = "X-Auth-Claims"
	next := &upstream{}
	return newHandler(t, config, next), next
}

// bounded runs fn and fails if it takes longer than fuzzTimeLimit or allocates more than
// limit bytes.
func bounded(t testing.TB, what string, limit uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if elapsed > fuzzTimeLimit {
		t.Fatalf("%s took %v; want at most %v", what, elapsed, fuzzTimeLimit)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > limit {
		t.Fatalf("%s allocated %d bytes; want at most %d", what, allocated, limit)
	}
}

// allocationLimit is what handling an input of n bytes may allocate: a generous multiple of
// the input (and the interpreter's overhead under Yaegi), plus a constant for the rest.
func allocationLimit(n int) uint64 {
	return 16<<20 + 64*uint64(n)
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// tokenChecker is the property of FuzzToken: through the real handler, a token is admitted
// (200) or refused for want of a role (403) only if it is byte for byte one of the valid
// tokens; anything else is a 401 (or a 400 for a malformed Authorization header), never 5xx,
// and never reaches the upstream.
type tokenChecker struct {
	handler http.Handler
	next    *upstream
	valid   map[string]int
}

func newTokenChecker(t testing.TB) *tokenChecker {
	handler, next := fuzzHandler(t)
	c := &tokenChecker{handler: handler, next: next, valid: map[string]int{}}
	for _, v := range fuzzValidTokens(t) {
		c.valid[v.token] = v.status
	}
	return c
}

func (c *tokenChecker) check(t testing.TB, token string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/", nil)
	req.Header["Authorization"] = []string{"Bearer " + token}
	rec := httptest.NewRecorder()
	calls := c.next.calls.Load()
	bounded(t, "a request with a token of "+strconv.Itoa(len(token))+" bytes", allocationLimit(len(token)), func() {
		c.handler.ServeHTTP(rec, req)
	})
	reached := c.next.calls.Load() - calls
	// The header's grammar allows more than one space after "Bearer".
	want, isValid := c.valid[strings.TrimLeft(token, " ")]
	switch {
	case isValid && rec.Code != want:
		t.Fatalf("valid token %q: status %d (%s); want %d", token, rec.Code, rec.Body.String(), want)
	case !isValid && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusBadRequest:
		t.Fatalf("token %q, not one of the valid tokens: status %d (%s); want 401 or 400", token, rec.Code, rec.Body.String())
	case (rec.Code == http.StatusOK) != (reached == 1) || reached > 1:
		t.Fatalf("token %q: status %d and the upstream reached %d times; want it reached once exactly for a 200", token, rec.Code, reached)
	}
	if rec.Code == http.StatusOK {
		for name, values := range c.next.header {
			for _, value := range values {
				if hasControl(value) {
					t.Fatalf("upstream header %s = %q holds a control character", name, value)
				}
			}
		}
	}
}

func FuzzToken(f *testing.F) {
	for _, v := range fuzzValidTokens(f) {
		f.Add(v.token)
	}
	checker := newTokenChecker(f)
	f.Fuzz(func(t *testing.T, token string) {
		checker.check(t, token)
	})
}

// claimsChecker is the property of FuzzSignedClaims: whatever claims the issuer signs, the
// answer is 200, 401 or 403, never 5xx; 200 and 403 only for a JSON object whose numeric exp,
// nbf and iat hold, 200 exactly when its roles list holds "admin"; and forwarded header
// values never hold a control character.
type claimsChecker struct {
	handler http.Handler
	next    *upstream
	sign    func(t testing.TB, claims string) string
}

func newClaimsChecker(t testing.TB) *claimsChecker {
	handler, next := fuzzHandler(t)
	key := privateKey(t, "key-1")
	return &claimsChecker{handler: handler, next: next, sign: func(t testing.TB, claims string) string {
		return signRaw(t, key, `{"alg":"RS256","kid":"key-1"}`, claims)
	}}
}

// expectation says what a token with these claims must get from fuzzHandler, or 0 when it
// depends on more than this oracle knows (it then only has to be 200, 401 or 403).
func claimsExpectation(claims string, now float64) int {
	var decoded map[string]interface{}
	if err := json.Unmarshal([]byte(claims), &decoded); err != nil || decoded == nil {
		return http.StatusUnauthorized
	}
	exp, ok := decoded["exp"].(float64)
	if !ok || exp+30 < now-5 {
		return http.StatusUnauthorized
	}
	if exp+30 < now+5 {
		return 0 // expires about now
	}
	for _, name := range []string{"nbf", "iat"} {
		value, present := decoded[name]
		date, numeric := value.(float64)
		if present && (!numeric || date-30 > now+5) {
			return http.StatusUnauthorized
		}
		if present && date-30 > now-5 {
			return 0
		}
	}
	// Frontegg's access tokens belong in x-api-key; other types are another issuer's.
	if kind, _ := decoded["type"].(string); kind == "userAccessToken" || kind == "tenantAccessToken" {
		return http.StatusUnauthorized
	}
	switch roles := decoded["roles"].(type) {
	case []interface{}:
		for _, role := range roles {
			if role == "admin" {
				return http.StatusOK
			}
		}
	case string:
		for _, role := range strings.Split(roles, " ") {
			if role == "admin" {
				return http.StatusOK
			}
		}
	case map[string]interface{}:
		if _, ok := roles["admin"]; ok {
			return http.StatusOK
		}
	}
	return http.StatusForbidden
}

func (c *claimsChecker) check(t testing.TB, claims string) {
	t.Helper()
	token := c.sign(t, claims)
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/", nil)
	req.Header["Authorization"] = []string{"Bearer " + token}
	rec := httptest.NewRecorder()
	calls := c.next.calls.Load()
	bounded(t, "a request with claims of "+strconv.Itoa(len(claims))+" bytes", allocationLimit(len(token)), func() {
		c.handler.ServeHTTP(rec, req)
	})
	reached := c.next.calls.Load() - calls
	want := claimsExpectation(claims, float64(time.Now().Unix()))
	if len(token) > jose.MaxTokenBytes {
		want = http.StatusUnauthorized
	}
	switch {
	case want != 0 && rec.Code != want:
		t.Fatalf("claims %q: status %d (%s); want %d", claims, rec.Code, rec.Body.String(), want)
	case rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden:
		t.Fatalf("claims %q: status %d (%s); want 200, 401 or 403", claims, rec.Code, rec.Body.String())
	case (rec.Code == http.StatusOK) != (reached == 1) || reached > 1:
		t.Fatalf("claims %q: status %d and the upstream reached %d times; want it reached once exactly for a 200", claims, rec.Code, reached)
	}
	if rec.Code != http.StatusOK {
		return
	}
	for name, values := range c.next.header {
		for _, value := range values {
			if hasControl(value) {
				t.Fatalf("claims %q: upstream header %s = %q holds a control character", claims, name, value)
			}
		}
	}
	all, err := base64.RawURLEncoding.DecodeString(c.next.header.Get("X-Auth-Claims"))
	var object map[string]interface{}
	if err != nil || json.Unmarshal(all, &object) != nil || object == nil {
		t.Fatalf("claims %q: X-Auth-Claims %q is not base64url JSON of an object", claims, c.next.header.Get("X-Auth-Claims"))
	}
}

func FuzzSignedClaims(f *testing.F) {
	for _, changes := range []map[string]interface{}{
		nil, {"roles": "admin"}, {"exp": 1e300}, {"exp": "4102444800"}, {"nbf": 1e300}, {"type": "userAccessToken"},
		{"email": "a\r\nX-Admin: yes"}, {"roles": []interface{}{[]interface{}{"admin"}}}, {"metadata": map[string]interface{}{"a": []interface{}{nil, true, 1e-300}}},
	} {
		data, _ := json.Marshal(fuzzClaims(changes))
		f.Add(string(data))
	}
	checker := newClaimsChecker(f)
	f.Fuzz(func(t *testing.T, claims string) {
		checker.check(t, claims)
	})
}

// checkJWKS is the property of FuzzParseJWKS: parsing is bounded; a key set is returned only
// for valid JSON, never empty, holding only RSA keys fit for RS256 (2048 bits or more, an odd
// exponent from 3 to 2^31-1), the single key set exactly when there is one; and parsing is
// deterministic.
func checkJWKS(t testing.TB, body []byte) {
	t.Helper()
	var set *jose.KeySet
	var err error
	bounded(t, "parseJWKS of "+strconv.Itoa(len(body))+" bytes", allocationLimit(len(body)), func() {
		set, err = jose.ParseJWKS(body)
	})
	if err != nil {
		if set != nil {
			t.Fatalf("parseJWKS returned a key set and the error %v", err)
		}
		return
	}
	if set == nil || len(set.ByKid) == 0 {
		t.Fatalf("jose.ParseJWKS(%q) returned no error and no key", body)
	}
	if !json.Valid(body) {
		t.Fatalf("parseJWKS accepted invalid JSON %q", body)
	}
	for kid, key := range set.ByKid {
		if !fitKey(key) {
			t.Fatalf("jose.ParseJWKS(%q) kept an unfit key for kid %q", body, kid)
		}
		if jose.FindKey(set, kid) != key {
			t.Fatalf("jose.ParseJWKS(%q): find(%q) is not the key of kid %q", body, kid, kid)
		}
	}
	if (set.Single != nil) != (len(set.ByKid) == 1) || set.SingleForAnyKid {
		t.Fatalf("jose.ParseJWKS(%q): single key %v with %d keys (any kid: %v); want it exactly when there is one key, for tokens without kid", body, set.Single != nil, len(set.ByKid), set.SingleForAnyKid)
	}
	again, err := jose.ParseJWKS(body)
	if err != nil || len(again.ByKid) != len(set.ByKid) {
		t.Fatalf("jose.ParseJWKS(%q) is not deterministic: %d keys, then %d (%v)", body, len(set.ByKid), len(again.ByKid), err)
	}
	for kid, key := range set.ByKid {
		if other := again.ByKid[kid]; other == nil || !jose.SameKey(key, other) {
			t.Fatalf("jose.ParseJWKS(%q) is not deterministic for kid %q", body, kid)
		}
	}
}

// fitKey reports whether key is one withauth may verify with: RSA of 2048 to 16384 bits with a
// valid exponent, EC on P-256, P-384 or P-521 with its point on the curve, or Ed25519.
func fitKey(key *jose.Key) bool {
	if key == nil {
		return false
	}
	switch k := key.Public.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048 && k.N.BitLen() <= 16384 && k.E >= 3 && k.E%2 == 1 && int64(k.E) <= 1<<31-1
	case *ecdsa.PublicKey:
		name := k.Curve.Params().Name
		supported := name == "P-256" || name == "P-384" || name == "P-521"
		//lint:ignore SA1019 the property checks what jwks.go checks, the same way
		return supported && k.Curve.IsOnCurve(k.X, k.Y)
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize
	}
	return false
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(readFixture(f, "keys/jwks.json"))
	f.Add([]byte(`{"keys":[]}`))
	f.Add(unusableJWKS)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkJWKS(t, body)
	})
}

// checkPEM is the property of FuzzParsePublicKeyPEM: parsing is bounded; a key is returned
// only if it is fit (fitKey); New accepts exactly the keys parsePublicKeyPEM accepts; and
// escaping the newlines (as labels and environment variables do) changes nothing.
func checkPEM(t testing.TB, text string) {
	t.Helper()
	var key *jose.Key
	var err error
	bounded(t, "parsePublicKeyPEM of "+strconv.Itoa(len(text))+" bytes", allocationLimit(len(text)), func() {
		key, err = jose.ParsePublicKeyPEM(text)
	})
	if err == nil && !fitKey(key) {
		t.Fatalf("jose.ParsePublicKeyPEM(%q) returned an unfit key", text)
	}
	if strings.TrimSpace(text) != "" {
		config := CreateConfig()
		config.PublicKey = text
		_, newErr := build(testProcess(t), &upstream{}, config, "fuzz")
		if (newErr == nil) != (err == nil) {
			t.Fatalf("publicKey %q: New error %v, parsePublicKeyPEM error %v; want both to accept or both to refuse", text, newErr, err)
		}
	}
	if err == nil && !strings.Contains(text, `\`) {
		escaped, eerr := jose.ParsePublicKeyPEM(strings.ReplaceAll(text, "\n", `\n`))
		if eerr != nil || !jose.SameKey(escaped, key) {
			t.Fatalf("jose.ParsePublicKeyPEM(%q) accepts a key but not its escaped-newline spelling (%v)", text, eerr)
		}
	}
}

// pkcs1PEM is key-1's public key as an "RSA PUBLIC KEY" (PKCS #1) PEM block.
func pkcs1PEM(t testing.TB) string {
	key := privateKey(t, "key-1")
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)}))
}

func FuzzParsePublicKeyPEM(f *testing.F) {
	for _, name := range []string{"keys/key-1.pub.pem", "keys/rogue.pub.pem", "keys/ec.pub.pem", "keys/key-1.key.pem"} {
		f.Add(string(readFixture(f, name)))
	}
	f.Add(strings.ReplaceAll(string(readFixture(f, "keys/key-2.pub.pem")), "\n", `\n`))
	f.Add(pkcs1PEM(f))
	f.Fuzz(func(t *testing.T, text string) {
		checkPEM(t, text)
	})
}

// checkBearer is the property of FuzzBearerToken: bearerToken extracts exactly the token of
// one "Bearer <token>" header (scheme in any case, one or more spaces, no space in the token),
// says "no token" for anything that is not the bearer scheme and names the problem otherwise;
// the handler answers 401 without a token, 400 for a malformed header, and judges the token
// as FuzzToken's property says.
func checkBearer(t testing.TB, tokens *tokenChecker, value string, copies uint8) {
	t.Helper()
	values := make([]string, int(copies%4))
	for i := range values {
		values[i] = value
	}
	var token string
	var problem error
	bounded(t, "bearerToken of "+strconv.Itoa(len(value))+" bytes", allocationLimit(len(value)), func() {
		token, problem = bearerToken(values)
	})
	isBearer := len(value) >= 7 && strings.EqualFold(value[:7], "bearer ")
	// "Bearer" alone (a client's "Bearer " with its space trimmed on the way) is an invalid
	// credential, never no credentials. "Bearer " and more is judged by what follows.
	bareScheme := !isBearer && strings.EqualFold(strings.TrimSpace(value), "bearer")
	switch {
	case len(values) == 0 && problem != errNoCredentials:
		t.Fatalf("no Authorization header: problem %v; want %v", problem, errNoCredentials)
	case len(values) > 1 && (problem == nil || problem == errNoCredentials):
		t.Fatalf("%d Authorization headers %q: token %q, problem %v; want a problem", len(values), value, token, problem)
	case len(values) == 1 && bareScheme && problem != errNotOneBearerToken:
		t.Fatalf("Authorization %q is the bearer scheme without a token: token %q, problem %v; want %v", value, token, problem, errNotOneBearerToken)
	case len(values) == 1 && !isBearer && !bareScheme && problem != errNoCredentials:
		t.Fatalf("Authorization %q is not the bearer scheme: token %q, problem %v; want %v", value, token, problem, errNoCredentials)
	case len(values) == 1 && isBearer && problem == nil && (token == "" || strings.Contains(token, " ") || token != strings.TrimLeft(value[7:], " ")):
		t.Fatalf("Authorization %q: token %q; want the non-empty credentials after \"Bearer \" without spaces", value, token)
	case len(values) == 1 && isBearer && problem != nil && problem != errNoCredentials && strings.TrimLeft(value[7:], " ") != "" && !strings.Contains(strings.TrimLeft(value[7:], " "), " "):
		t.Fatalf("Authorization %q: problem %v; want the token %q", value, problem, strings.TrimLeft(value[7:], " "))
	case problem != nil && token != "":
		t.Fatalf("Authorization %q: token %q with problem %v; want no token when there is a problem", value, token, problem)
	}

	req := httptest.NewRequest(http.MethodGet, "http://backend.example/", nil)
	if len(values) > 0 {
		req.Header["Authorization"] = values
	}
	rec := httptest.NewRecorder()
	calls := tokens.next.calls.Load()
	tokens.handler.ServeHTTP(rec, req)
	switch {
	case problem == errNoCredentials && (rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="withauth"`):
		t.Fatalf("Authorization %q ×%d, no bearer token: status %d, challenge %q; want 401 with the bare challenge", value, len(values), rec.Code, rec.Header().Get("WWW-Authenticate"))
	case problem != nil && problem != errNoCredentials && rec.Code != http.StatusBadRequest:
		t.Fatalf("Authorization %q ×%d (%v): status %d; want 400", value, len(values), problem, rec.Code)
	case problem == nil:
		want, isValid := tokens.valid[token]
		if !isValid {
			want = http.StatusUnauthorized
		}
		if rec.Code != want {
			t.Fatalf("Authorization %q: status %d (%s); want %d", value, rec.Code, rec.Body.String(), want)
		}
	}
	if reached := tokens.next.calls.Load() - calls; (rec.Code == http.StatusOK) != (reached == 1) {
		t.Fatalf("Authorization %q: status %d, upstream reached %d times", value, rec.Code, reached)
	}
}

func FuzzBearerToken(f *testing.F) {
	valid := fuzzValidTokens(f)[0].token
	for _, value := range []string{"Bearer " + valid, "bearer   " + valid, "BEARER x.y.z", "Bearer ", "Basic YWRhOnB3", "Bearer a b", "Bearer\tx", "Bearerx"} {
		f.Add(value, uint8(1))
	}
	f.Add("Bearer "+valid, uint8(2))
	f.Add("", uint8(0))
	checker := newTokenChecker(f)
	f.Fuzz(func(t *testing.T, value string, copies uint8) {
		checkBearer(t, checker, value, copies)
	})
}

// TestParsingIsBounded feeds each parser the largest inputs it can meet and checks the time
// and memory spent, as the fuzzers do for the inputs they make up.
func TestParsingIsBounded(t *testing.T) {
	checker := newTokenChecker(t)
	for _, token := range []string{
		strings.Repeat("A", 1<<20),
		strings.Repeat("eyJh.", 1<<18),
		segment(t, map[string]interface{}{"alg": "RS256", "x": strings.Repeat("x", 45000)}) + ".e30.AAAA",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 48000)+`}`)) + ".e30.AAAA",
	} {
		checker.check(t, token)
	}

	// A key set of 1 MiB, as many RSA keys as fit.
	key := jwkOf(&privateKey(t, "key-1").PublicKey, "")
	var keys []map[string]interface{}
	for i := 0; len(keys)*420 < 1<<20-1024; i++ {
		k := map[string]interface{}{}
		for name, value := range key {
			k[name] = value
		}
		k["kid"] = "key-" + strconv.Itoa(i)
		keys = append(keys, k)
	}
	body := jwksOf(t, keys...)
	if len(body) > maxResponseBytes || len(body) < maxResponseBytes*9/10 {
		t.Fatalf("test bug: key set of %d bytes; want close to the read limit", len(body))
	}
	checkJWKS(t, body)
	checkJWKS(t, bytes.Repeat([]byte("["), 1<<20))

	checkPEM(t, "-----BEGIN PUBLIC KEY-----\n"+strings.Repeat("QUFB", 1<<18)+"\n-----END PUBLIC KEY-----\n")
	checkPEM(t, strings.Repeat(`\n`, 1<<19))

	checkBearer(t, checker, "Bearer "+strings.Repeat("A", 1<<20), 1)
	checkBearer(t, checker, "Bearer "+strings.Repeat(" ", 1<<20), 3)
}
