package withauth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// The helpers every test shares: fixtures (RSA keys in testdata/keys, where key-1 and key-2 are
// in jwks.json and rogue is in no key set; the claims of a Frontegg user token in
// testdata/claims), one signer, one upstream, one key server, one panicking key source, and
// the table runner of token cases. Yaegi runs these tests too: every function literal names
// its parameters, structs that go into interfaces have a field, and loop variables are copied
// before they are captured.

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("reading fixture %s: %v", name, err)
	}
	return data
}

func privateKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(readFixture(t, "keys/"+name+".key.pem"))
	if block == nil {
		t.Fatalf("fixture keys/%s.key.pem holds no PEM block", name)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("fixture keys/%s.key.pem: %v", name, err)
	}
	return key
}

// userClaims returns the fixture claims valid for an hour, with changes applied: a nil value
// removes the claim.
func userClaims(t testing.TB, changes map[string]interface{}) map[string]interface{} {
	t.Helper()
	var claims map[string]interface{}
	if err := json.Unmarshal(readFixture(t, "claims/frontegg-user.json"), &claims); err != nil {
		t.Fatalf("fixture claims/frontegg-user.json: %v", err)
	}
	now := time.Now().Unix()
	claims["iat"] = now
	claims["exp"] = now + 3600
	return changeClaims(claims, changes)
}

// changeClaims applies changes to claims: a nil value removes the claim.
func changeClaims(claims, changes map[string]interface{}) map[string]interface{} {
	for name, value := range changes {
		if value == nil {
			delete(claims, name)
		} else {
			claims[name] = value
		}
	}
	return claims
}

func segment(t testing.TB, value interface{}) string {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatalf("encoding %v: %v", value, err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// signRS256 makes a compact JWS of header and claims signed with key.
func signRS256(t testing.TB, key *rsa.PrivateKey, header, claims interface{}) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	digest := sha256.Sum256([]byte(input))
	signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature)
}

func rs256Header(kid string) map[string]interface{} {
	return map[string]interface{}{"alg": "RS256", "typ": "JWT", "kid": kid}
}

// signRaw signs header and claims given as raw JSON text, so that a test controls every byte:
// duplicate member names, trailing data, odd spacing.
func signRaw(t testing.TB, key *rsa.PrivateKey, headerJSON, claimsJSON string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(headerJSON)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsJSON))
	return input + "." + rs256Signature(t, key, input)
}

// rs256Signature is the base64url RS256 signature of input.
func rs256Signature(t testing.TB, key *rsa.PrivateKey, input string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(input))
	signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(signature)
}

// signWith makes a compact JWS of header and claims, by the algorithm header["alg"] names,
// with key: an *rsa.PrivateKey for RS* and PS*, an *ecdsa.PrivateKey for ES* (R and S as the
// fixed-size halves JWS wants) or an ed25519.PrivateKey for EdDSA.
func signWith(t testing.TB, key crypto.Signer, header map[string]interface{}, claims interface{}) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	alg, _ := header["alg"].(string)
	hash := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}[alg[len(alg)-3:]] // none for EdDSA
	var signature []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		digest := jose.Digest(alg, input)
		if strings.HasPrefix(alg, "PS") {
			signature, err = rsa.SignPSS(rand.Reader, k, hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			signature, err = rsa.SignPKCS1v15(rand.Reader, k, hash, digest)
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, jose.Digest(alg, input))
		if err == nil {
			size := (k.Curve.Params().BitSize + 7) / 8
			signature = make([]byte, 2*size)
			r.FillBytes(signature[:size])
			s.FillBytes(signature[size:])
		}
	case ed25519.PrivateKey:
		signature = ed25519.Sign(k, []byte(input))
	default:
		t.Fatalf("signWith: unsupported key %T", key)
	}
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature)
}

// testKeys are one key of each kind the algorithms need, made once per test binary: key-1 for
// RSA, fresh EC and Ed25519 keys.
type testKeys struct {
	rsa              *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed25519          ed25519.PrivateKey
}

var sharedTestKeys *testKeys

func algorithmKeys(t testing.TB) *testKeys {
	t.Helper()
	if sharedTestKeys != nil {
		return sharedTestKeys
	}
	k := &testKeys{rsa: privateKey(t, "key-1")}
	// One assignment at a time: Yaegi v0.16.1 drops values of tuple assignments to fields.
	k.p256 = ecKey(t, elliptic.P256())
	k.p384 = ecKey(t, elliptic.P384())
	k.p521 = ecKey(t, elliptic.P521())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.ed25519 = edKey
	sharedTestKeys = k
	return k
}

func ecKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// forAlgorithm is the key of testKeys that signs alg.
func (k *testKeys) forAlgorithm(alg string) crypto.Signer {
	switch alg {
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	case "EdDSA":
		return k.ed25519
	}
	return k.rsa
}

// publicJWK is the JWK of a public key (RSA, EC or Ed25519) named kid, with alg ("" for none).
func publicJWK(t testing.TB, key crypto.PublicKey, kid, alg string) map[string]interface{} {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]interface{}{"kid": kid, "use": "sig"}
	switch k := key.(type) {
	case *rsa.PublicKey:
		jwk["kty"] = "RSA"
		jwk["n"] = b64(k.N.Bytes())
		jwk["e"] = b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		x := make([]byte, size)
		y := make([]byte, size)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		jwk["kty"] = "EC"
		jwk["crv"] = k.Curve.Params().Name
		jwk["x"] = b64(x)
		jwk["y"] = b64(y)
	case ed25519.PublicKey:
		jwk["kty"] = "OKP"
		jwk["crv"] = "Ed25519"
		jwk["x"] = b64(k)
	default:
		t.Fatalf("publicJWK: unsupported key %T", key)
	}
	if alg != "" {
		jwk["alg"] = alg
	}
	return jwk
}

// hmacSigned is a token whose header names alg (HS256, HS384 or HS512) and whose signature is
// an HMAC keyed with secret: the key-confusion forgery.
func hmacSigned(t testing.TB, alg, kid string, secret []byte) string {
	t.Helper()
	input := segment(t, map[string]string{"alg": alg, "typ": "JWT", "kid": kid}) + "." + segment(t, userClaims(t, nil))
	var newHash func() hash.Hash
	switch alg {
	case "HS384":
		newHash = sha512.New384
	case "HS512":
		newHash = sha512.New
	default:
		newHash = sha256.New
	}
	mac := hmac.New(newHash, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// claimsText is userClaims as JSON text.
func claimsText(t testing.TB, changes map[string]interface{}) string {
	t.Helper()
	data, err := json.Marshal(userClaims(t, changes))
	if err != nil {
		t.Fatalf("encoding claims: %v", err)
	}
	return string(data)
}

// prependMembers inserts raw `"name":value` members at the start of a JSON object's text;
// appendMembers at its end, where a duplicate name wins.
func prependMembers(object, members string) string {
	return "{" + members + "," + strings.TrimPrefix(object, "{")
}

func appendMembers(object, members string) string {
	return strings.TrimSuffix(object, "}") + "," + members + "}"
}

// jwkOf is the JWK of an RSA public key.
func jwkOf(key *rsa.PublicKey, kid string) map[string]interface{} {
	return map[string]interface{}{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}
}

// jwksOf is the text of a JWKS holding keys.
func jwksOf(t testing.TB, keys ...map[string]interface{}) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]interface{}{"keys": keys})
	if err != nil {
		t.Fatalf("encoding JWKS: %v", err)
	}
	return data
}

// upstream is the protected service: it counts the requests that reach it and keeps the
// headers of the last one; check, if set, inspects each. Safe for concurrent requests.
type upstream struct {
	calls  atomic.Int64
	check  func(req *http.Request)
	mu     sync.Mutex
	header http.Header
}

func (u *upstream) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	u.calls.Add(1)
	if u.check != nil {
		u.check(req)
	}
	u.mu.Lock()
	u.header = req.Header.Clone()
	u.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// testProcesses hold the process of each running test: the handlers a test builds share one, as
// the middlewares of one Traefik do, and no two tests share any state.
var testProcesses = struct {
	mu     sync.Mutex
	byTest map[string]*process
}{byTest: map[string]*process{}}

// testProcess is the test's process, made on first use and forgotten when the test that made it
// ends; a test's subtests share it, as a test's handlers do.
func testProcess(t testing.TB) *process {
	testProcesses.mu.Lock()
	defer testProcesses.mu.Unlock()
	name := strings.SplitN(t.Name(), "/", 2)[0]
	p := testProcesses.byTest[name]
	if p == nil {
		p = newProcess()
		testProcesses.byTest[name] = p
		t.Cleanup(func() {
			testProcesses.mu.Lock()
			delete(testProcesses.byTest, name)
			testProcesses.mu.Unlock()
		})
	}
	return p
}

// newHandler is New in the test's process, failing the test if the configuration is refused.
func newHandler(t testing.TB, config *Config, next http.Handler) http.Handler {
	t.Helper()
	handler := handlerIn(testProcess(t), next, config, "test")
	if _, refused := handler.(misconfigured); refused {
		_, err := build(testProcess(t), next, config, "test")
		t.Fatalf("New refused the configuration: %v; want a middleware", err)
	}
	return handler
}

// newError is the line New logs for a configuration it refuses, after checking that its
// handler answers 500 "misconfigured" to a valid token and never calls the upstream; a test
// failure when New accepts the configuration.
func newError(t *testing.T, config *Config) string {
	t.Helper()
	next := &upstream{}
	handler := handlerIn(testProcess(t), next, config, "route")
	rec, _ := serve(handler, request(validToken(t)))
	if rec.Code != http.StatusInternalServerError || bodyField(rec.Body.Bytes(), "reason") != "misconfigured" || next.calls.Load() != 0 {
		t.Fatalf("New accepted the configuration: a valid token got %d %s, upstream called %d times; want 500 reason misconfigured and no upstream call",
			rec.Code, rec.Body.String(), next.calls.Load())
	}
	_, err := build(testProcess(t), next, config, "route")
	if err == nil {
		t.Fatal("build accepted the configuration New refused")
	}
	return refusedConfiguration("route", err)
}

func pemConfig(t testing.TB) *Config {
	config := CreateConfig()
	config.PublicKey = string(readFixture(t, "keys/key-1.pub.pem"))
	return config
}

// givenConfig is a configuration as Traefik hands it over: every key in Given (the typed fields
// left as CreateConfig made them), with publicKey set to key-1's PEM key unless given.
func givenConfig(t testing.TB, given map[string]interface{}) *Config {
	config := CreateConfig()
	config.Given = map[string]interface{}{}
	if _, ok := given["publicKey"]; !ok {
		config.Given["publicKey"] = string(readFixture(t, "keys/key-1.pub.pem"))
	}
	for key, value := range given {
		config.Given[key] = value
	}
	return config
}

// givenKeySourceConfig is givenConfig for a configuration that names its own key source: no
// publicKey is added.
func givenKeySourceConfig(t testing.TB, given map[string]interface{}) *Config {
	config := givenConfig(t, given)
	if _, ok := given["publicKey"]; !ok {
		delete(config.Given, "publicKey")
	}
	return config
}

func request(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/admin", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// serve runs one request through handler and times it.
func serve(handler http.Handler, req *http.Request) (*httptest.ResponseRecorder, time.Duration) {
	rec := httptest.NewRecorder()
	start := time.Now()
	handler.ServeHTTP(rec, req)
	return rec, time.Since(start)
}

// serveTwice sends the same request twice through handler (a verification, then a cache hit)
// and returns what the upstream received the second time.
func serveTwice(t *testing.T, handler http.Handler, next *upstream, build func() *http.Request) http.Header {
	t.Helper()
	for i := 0; i < 2; i++ {
		next.calls.Store(0)
		if rec, _ := serve(handler, build()); rec.Code != http.StatusOK || next.calls.Load() != 1 {
			t.Fatalf("request %d: status %d (%s), upstream called %d times; want 200 and once", i+1, rec.Code, errorDescription(rec), next.calls.Load())
		}
	}
	return next.header
}

// errorDescription is the error_description of a JSON error answer, or "".
func errorDescription(rec *httptest.ResponseRecorder) string {
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return body["error_description"]
}

// tokenCase is a request through one handler and what must come of it.
type tokenCase struct {
	name        string
	config      func(*Config)
	token       func(t testing.TB) string
	header      func(*http.Request)
	wantStatus  int
	wantError   string // the error code in WWW-Authenticate and the JSON body
	wantErr     error  // the refusal: its row in refusalTable decides status, reason and description
	wantForward map[string]string
}

func validToken(t testing.TB) string {
	return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, nil))
}

func tokenWith(changes map[string]interface{}) func(t testing.TB) string {
	return func(t testing.TB) string {
		return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, changes))
	}
}

func literal(token string) func(t testing.TB) string {
	return func(t testing.TB) string { return token }
}

func tamperedPayload(t testing.TB) string {
	parts := strings.Split(validToken(t), ".")
	parts[1] = segment(t, userClaims(t, map[string]interface{}{"roles": []string{"admin", "owner"}}))
	return strings.Join(parts, ".")
}

func runTokenCases(t *testing.T, base func(testing.TB) *Config, cases []tokenCase) {
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := base(t)
			if tc.config != nil {
				tc.config(config)
			}
			next := &upstream{}
			handler := newHandler(t, config, next)
			token := ""
			if tc.token != nil {
				token = tc.token(t)
			}
			req := request(token)
			if tc.header != nil {
				tc.header(req)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			checkAnswer(t, rec, next, tc)
		})
	}
}

func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, next *upstream, tc tokenCase) {
	t.Helper()
	if rec.Code != tc.wantStatus {
		t.Fatalf("status = %d (body %s); want %d", rec.Code, rec.Body.String(), tc.wantStatus)
	}
	if tc.wantStatus == http.StatusOK {
		if next.calls.Load() != 1 {
			t.Fatalf("upstream called %d times; want once", next.calls.Load())
		}
		for name, want := range tc.wantForward {
			if got := next.header.Get(name); got != want {
				t.Errorf("upstream header %s = %q; want %q", name, got, want)
			}
		}
		return
	}
	if next.calls.Load() != 0 {
		t.Fatalf("upstream called for a request answered %d; want it never reached", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	challenge := rec.Header().Get("WWW-Authenticate")
	switch {
	case tc.wantStatus == http.StatusServiceUnavailable:
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	case tc.wantError == "":
		if challenge != `Bearer realm="withauth"` {
			t.Errorf("WWW-Authenticate = %q; want the bare challenge Bearer realm=\"withauth\"", challenge)
		}
	default:
		if !strings.HasPrefix(challenge, `Bearer realm="withauth", error="`+tc.wantError+`", error_description="`) {
			t.Errorf("WWW-Authenticate = %q; want error=%q with a description", challenge, tc.wantError)
		}
	}
	if tc.wantError != "" && body["error"] != tc.wantError {
		t.Errorf("body error = %q; want %q", body["error"], tc.wantError)
	}
	if tc.wantErr != nil {
		want := refusals[tc.wantErr]
		if body["reason"] != want.reason || body["error_description"] != tc.wantErr.Error() || rec.Code != want.status {
			t.Errorf("status %d, reason %q, error_description %q; want %d, %q, %q (refusalTable's row for that error)",
				rec.Code, body["reason"], body["error_description"], want.status, want.reason, tc.wantErr.Error())
		}
	}
}

// keyServer is the tests' one key endpoint. It serves a JWKS (testdata/keys/jwks.json until
// set), or misbehaves as its fault says; it counts the requests it receives (TLS connections
// for an untrusted certificate) and records their paths. A trap is one that must receive none.
type keyServer struct {
	*httptest.Server
	requests atomic.Int64
	stop     chan struct{}
	// written counts the bytes of the 50 MB body the server managed to write; bigDone is
	// closed once that handler has first returned.
	written atomic.Int64
	bigDone chan struct{}
	bigOnce sync.Once

	mu     sync.Mutex
	fault  string // "ok": status and body as set
	status int
	body   []byte
	paths  []string
	// documents, when set, are the only paths served (others are 404), each with its body.
	documents map[string][]byte
}

func newKeyServer(t testing.TB) *keyServer { return startKeyServer(t, false) }

// newTLSKeyServer serves over TLS with a certificate no client trusts.
func newTLSKeyServer(t testing.TB) *keyServer { return startKeyServer(t, true) }

// newTrapServer is a key server that tokens name in jku, x5u or kid: it must receive nothing.
func newTrapServer(t testing.TB) *keyServer {
	s := newKeyServer(t)
	s.set(http.StatusOK, []byte(`{"keys":[]}`))
	return s
}

func startKeyServer(t testing.TB, untrustedTLS bool) *keyServer {
	s := &keyServer{stop: make(chan struct{}), bigDone: make(chan struct{}), fault: "ok", status: http.StatusOK, body: readFixture(t, "keys/jwks.json")}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// The TLS handshake errors the untrusted certificate causes are logged to stderr: Yaegi
	// cannot assign a *log.Logger made by the interpreted code to Config.ErrorLog.
	if untrustedTLS {
		s.Server.Config.ConnState = func(conn net.Conn, state http.ConnState) {
			if state == http.StateNew {
				s.requests.Add(1)
			}
		}
		s.Server.StartTLS()
	} else {
		s.Server.Start()
	}
	t.Cleanup(func() { s.Server.Close() })
	t.Cleanup(func() { close(s.stop) }) // runs first: releases the handlers that never end
	return s
}

// url is the key set's URL on the server.
func (s *keyServer) url() string { return s.URL + "/.well-known/jwks.json" }

// set makes the server answer status and body.
func (s *keyServer) set(status int, body []byte) {
	s.mu.Lock()
	s.fault = "ok"
	s.status = status
	s.body = body
	s.mu.Unlock()
}

// setFault makes the server misbehave (see serve), with body as the key set it serves when
// it answers one; nil keeps the current body.
func (s *keyServer) setFault(fault string, body []byte) {
	s.mu.Lock()
	s.fault = fault
	if body != nil {
		s.body = body
	}
	s.mu.Unlock()
}

// serveOnly makes the server answer only these paths, each with its body, and 404 elsewhere.
func (s *keyServer) serveOnly(documents map[string][]byte) {
	s.mu.Lock()
	s.documents = documents
	s.mu.Unlock()
}

// requested lists the paths asked for so far.
func (s *keyServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.paths...)
}

// checkOnlyConfiguredPath fails the test if the server was asked for another path than the key set's.
func (s *keyServer) checkOnlyConfiguredPath(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, path := range s.paths {
		if path != "/.well-known/jwks.json" {
			t.Errorf("the JWKS endpoint was asked for %q; want only the configured /.well-known/jwks.json", path)
		}
	}
}

// wait blocks until the client gives up, the test ends, or d passes; it reports whether d passed.
func (s *keyServer) wait(req *http.Request, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-req.Context().Done():
	case <-s.stop:
	}
	return false
}

// serve answers one request as the server's fault says.
func (s *keyServer) serve(rw http.ResponseWriter, req *http.Request) {
	if req.TLS == nil {
		s.requests.Add(1)
	}
	s.mu.Lock()
	s.paths = append(s.paths, req.URL.RequestURI())
	mode, status, body := s.fault, s.status, s.body
	documents := s.documents
	s.mu.Unlock()
	if documents != nil {
		document, ok := documents[req.URL.Path]
		if !ok {
			http.NotFound(rw, req)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(document)
		return
	}
	flusher, _ := rw.(http.Flusher)
	rw.Header().Set("Content-Type", "application/json")
	switch mode {
	case "500":
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write([]byte(`{"error":"internal"}`))
	case "404":
		http.NotFound(rw, req)
	case "slow beyond httpTimeout":
		if s.wait(req, 30*time.Second) {
			_, _ = rw.Write(body)
		}
	case "a body that never ends":
		_, _ = rw.Write([]byte(`{"keys":[`))
		chunk := bytes.Repeat([]byte(" "), 32<<10)
		for {
			if _, err := rw.Write(chunk); err != nil {
				return
			}
			select {
			case <-req.Context().Done():
				return
			case <-s.stop:
				return
			default:
			}
		}
	case "a body that trickles":
		_, _ = rw.Write([]byte(`{"keys":[`))
		for {
			if flusher != nil {
				flusher.Flush()
			}
			if !s.wait(req, 20*time.Millisecond) {
				return
			}
			if _, err := rw.Write([]byte(" ")); err != nil {
				return
			}
		}
	case "a 50 MB body":
		// A valid JWKS, 50 MB long: the key set, spaces, then its closing brace.
		defer s.bigOnce.Do(func() { close(s.bigDone) })
		jwks := bytes.TrimSpace(body)
		n, err := rw.Write(jwks[:len(jwks)-1])
		s.written.Add(int64(n))
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for err == nil && s.written.Load() < bigBodyBytes {
			n, err = rw.Write(chunk)
			s.written.Add(int64(n))
		}
		if err == nil {
			_, _ = rw.Write([]byte("}"))
		}
	case "invalid JSON":
		_, _ = rw.Write(body[:len(body)/2])
	case "HTML":
		rw.Header().Set("Content-Type", "text/html")
		_, _ = rw.Write([]byte("<html><body>Sign in</body></html>"))
	case "a JWKS with no usable key":
		_, _ = rw.Write(unusableJWKS)
	default:
		rw.WriteHeader(status)
		_, _ = rw.Write(body)
	}
}

// withoutRefreshFloor lets the test's configurations refetch keys at once (minRefreshInterval
// "0s"), so that rotations need no waiting; TestMinRefreshIntervalHasAFloor keeps the floor.
func withoutRefreshFloor(t testing.TB) {
	testProcess(t).minRefreshFloor = 0
}

// jwksConfig points a fresh config at server, refetching at once (see withoutRefreshFloor).
// Every test uses its own server URL, so it gets its own shared key cache.
func jwksConfig(t testing.TB, server *keyServer) *Config {
	withoutRefreshFloor(t)
	config := CreateConfig()
	config.JWKSURL = server.url()
	config.MinRefreshInterval = "0s"
	return config
}

// setKeys makes keys the key source of the middleware's only issuer. Its grants then no longer
// follow from its configuration, so it gets caches of its own, outside the store.
func setKeys(m *Middleware, keys *keySource) {
	only := *m.trust.only
	only.keys = keys
	only.epoch = keys.epochs
	m.trust.only = &only
	for source, c := range m.caches {
		if c != nil {
			m.caches[source] = &tokenCache{store: c.store, size: c.size, grants: make(map[string]*grant)}
		}
	}
	if m.cache != nil {
		m.cache = m.caches[fromAuthorization]
	}
}

// freshStore empties the grants of the test's process: the caches of the handlers it builds
// from then on hold only what it puts there.
func freshStore(t testing.TB) {
	testProcess(t).grants = newTokenStore(maxStoreBytes)
}

// panickingKeys is a key source with a bug: the key of kid (of every kid when kid is "") is an
// RSA key without its numbers, which panics when a signature is verified with it; the other
// kids get key-1.
func panickingKeys(t testing.TB, kid string) *keySource {
	poisoned := &jose.Key{Public: (*rsa.PublicKey)(nil)}
	if kid == "" {
		return newStaticKeys(jose.SingleKeySet(poisoned))
	}
	good := &jose.Key{Public: &privateKey(t, "key-1").PublicKey}
	return newStaticKeys(&jose.KeySet{ByKid: map[string]*jose.Key{"key-1": good, kid: poisoned}})
}

// failures collects failures from many goroutines and reports the first few.
type failures struct {
	mu    sync.Mutex
	count int
	first []string
}

func (f *failures) add(message string) {
	f.mu.Lock()
	f.count++
	if len(f.first) < 10 {
		f.first = append(f.first, message)
	}
	f.mu.Unlock()
}

func (f *failures) report(t testing.TB, what string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.count > 0 {
		t.Errorf("%d %s; the first ones:\n  %s", f.count, what, strings.Join(f.first, "\n  "))
	}
}

// settledGoroutines waits until at most limit goroutines run, or until the deadline, and
// returns the count: goroutines of finished HTTP exchanges take a moment to end, in real time.
func settledGoroutines(limit int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		// Real time, not a clock: the runtime ends those goroutines when it gets to them.
		time.Sleep(10 * time.Millisecond)
	}
}

// heapAfterGC is the live heap after full collections.
func heapAfterGC() uint64 {
	var stats runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}

// bodyField is one member of a JSON error answer, or "".
func bodyField(body []byte, name string) string {
	var fields map[string]string
	_ = json.Unmarshal(body, &fields)
	return fields[name]
}

// fakeClock is the clock tests move instead of sleeping (Config.Now): it starts at the real
// time, against which tokens are minted, and moves only by Advance.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// settleFetch waits for the fetch the middleware's only key source has under way, if any: a
// request that finds its keys due starts one in the background.
func settleFetch(handler http.Handler) {
	keys := handler.(*Middleware).trust.only.keys
	keys.mu.Lock()
	call := keys.inflight
	keys.mu.Unlock()
	if call != nil {
		<-call.done
	}
}
