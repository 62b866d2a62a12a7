package withauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers of the hardening tests (attacks, key endpoint faults, reloads, load, panics, fuzzing).
// Yaegi runs these tests too: every function literal names its parameters, structs that go
// into interfaces have a field, and loop variables are copied before they are captured.

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

// serve runs one request through handler and times it.
func serve(handler http.Handler, req *http.Request) (*httptest.ResponseRecorder, time.Duration) {
	rec := httptest.NewRecorder()
	start := time.Now()
	handler.ServeHTTP(rec, req)
	return rec, time.Since(start)
}

// errorDescription is the error_description of a JSON error answer, or "".
func errorDescription(rec *httptest.ResponseRecorder) string {
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return body["error_description"]
}

// trapServer fails a test that makes it receive anything: tokens name it in jku, x5u or kid.
type trapServer struct {
	server   *httptest.Server
	requests atomic.Int64
}

func newTrapServer(t testing.TB) *trapServer {
	trap := &trapServer{}
	trap.server = httptest.NewServer(http.HandlerFunc(trap.serve))
	t.Cleanup(func() { trap.server.Close() })
	return trap
}

func (s *trapServer) serve(rw http.ResponseWriter, req *http.Request) {
	s.requests.Add(1)
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write([]byte(`{"keys":[]}`))
}

// countingUpstream is an upstream safe for concurrent requests.
type countingUpstream struct {
	calls atomic.Int64
	// check, if set, inspects every request that reaches the upstream.
	check func(req *http.Request)
}

func (u *countingUpstream) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	u.calls.Add(1)
	if u.check != nil {
		u.check(req)
	}
	rw.WriteHeader(http.StatusOK)
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
// returns the count: goroutines of finished HTTP exchanges take a moment to end.
func settledGoroutines(limit int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
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
