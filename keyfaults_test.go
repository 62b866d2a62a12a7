package withauth

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Key endpoint faults: a JWKS server that misbehaves on command. Whatever it does, no request
// waits much longer than httpTimeout, concurrent requests share one fetch, the last good keys
// are kept, 503 is answered only while no key was ever obtained, and the middleware recovers
// by itself once the endpoint does. (plugin_test.go covers a 500 and a hanging endpoint once
// each; this runs every fault through the whole sequence.)

const (
	faultTimeout    = 300 * time.Millisecond
	faultMinRefresh = 400 * time.Millisecond
	// faultMargin is what a request may take beyond httpTimeout: scheduling under -race and Yaegi.
	faultMargin = 1500 * time.Millisecond
	// bigBodyBytes is the size of the body of the "50 MB body" fault.
	bigBodyBytes = 50 << 20
)

// faultServer serves a JWKS, or misbehaves as its mode says.
type faultServer struct {
	server  *httptest.Server
	fetches atomic.Int64 // requests received, or TLS connections opened
	stop    chan struct{}
	// written counts the bytes of the 50 MB body the server managed to write; bigDone is set
	// once that handler has returned.
	written atomic.Int64
	bigDone atomic.Bool

	mu   sync.Mutex
	mode string
	body []byte
}

func newFaultServer(t testing.TB, untrustedTLS bool) *faultServer {
	s := &faultServer{stop: make(chan struct{}), mode: "ok", body: readFixture(t, "keys/jwks.json")}
	s.server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// The TLS handshake errors the untrusted certificate causes are logged to stderr: Yaegi
	// cannot assign a *log.Logger made by the interpreted code to Config.ErrorLog.
	if untrustedTLS {
		s.server.Config.ConnState = func(conn net.Conn, state http.ConnState) {
			if state == http.StateNew {
				s.fetches.Add(1)
			}
		}
		s.server.StartTLS()
	} else {
		s.server.Start()
	}
	t.Cleanup(func() { s.server.Close() })
	t.Cleanup(func() { close(s.stop) }) // runs first: releases the handlers that never end
	return s
}

func (s *faultServer) url() string { return s.server.URL + "/.well-known/jwks.json" }

func (s *faultServer) set(mode string, body []byte) {
	s.mu.Lock()
	s.mode = mode
	if body != nil {
		s.body = body
	}
	s.mu.Unlock()
}

// wait blocks until the client gives up, the test ends, or d passes; it reports whether d passed.
func (s *faultServer) wait(req *http.Request, d time.Duration) bool {
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

func (s *faultServer) serve(rw http.ResponseWriter, req *http.Request) {
	if req.TLS == nil {
		s.fetches.Add(1)
	}
	s.mu.Lock()
	mode, body := s.mode, s.body
	s.mu.Unlock()
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
		defer s.bigDone.Store(true)
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
		_, _ = rw.Write(body)
	}
}

// unusableJWKS holds only keys withauth must not use: EC, encryption, RS512, 1024 bits, oct.
var unusableJWKS = []byte(`{"keys":[
 {"kty":"EC","kid":"ec-key","alg":"ES256","crv":"P-256","x":"pP2p0utYhJXRmhYqLHe9nHqKD5f6VZFJEqlKSe5gs5Y","y":"wPoPEQmvuzoEeBWWaQxG0ZvJPecGmgnr3sCNaCsgu1k"},
 {"kty":"oct","kid":"key-1","alg":"HS256","k":"c2VjcmV0"},
 {"kty":"RSA","kid":"key-1","use":"enc","e":"AQAB","n":"wZo6yeaoA7ytM9u6TnhqX6egcZEgTAN9BvG0YlgfciN2AUjq-a3EILwCauC-Qy73KT6XuoP05VdBZBykK7L_7HHTn4FTTrYKKg4Q1etiSUliKJmSbWO3Cqz6blKx9txRdDbvzrYNaTNSyRvIxbEEgWBd-dD0cjOfizVMd4hN4pLjyn7nJ-ZJ9SkMgWCsEMUoc8NJkCI72zTnTAf0-zyi3vD9oSlTrR5ahiwSt7rjganBvcZO_kxhC08sJsdoaGLaOj5EE_rjXMuRZDwCJKlq97cYbd02N3LV4r71CNmuzKd9rSmz5hx0s5gKE8FOQLMHVwT0I0js3OOU7laQzu6WkQ"},
 {"kty":"RSA","kid":"key-1","alg":"RS512","e":"AQAB","n":"wZo6yeaoA7ytM9u6TnhqX6egcZEgTAN9BvG0YlgfciN2AUjq-a3EILwCauC-Qy73KT6XuoP05VdBZBykK7L_7HHTn4FTTrYKKg4Q1etiSUliKJmSbWO3Cqz6blKx9txRdDbvzrYNaTNSyRvIxbEEgWBd-dD0cjOfizVMd4hN4pLjyn7nJ-ZJ9SkMgWCsEMUoc8NJkCI72zTnTAf0-zyi3vD9oSlTrR5ahiwSt7rjganBvcZO_kxhC08sJsdoaGLaOj5EE_rjXMuRZDwCJKlq97cYbd02N3LV4r71CNmuzKd9rSmz5hx0s5gKE8FOQLMHVwT0I0js3OOU7laQzu6WkQ"},
 {"kty":"RSA","kid":"key-1","e":"AQAB","n":"AQAB"}
]}`)

// faultAnswer is one response as the fault tests judge it.
type faultAnswer struct {
	token      string
	status     int
	elapsed    time.Duration
	retryAfter string
	detail     string
}

// concurrently sends one request per token at once and returns the answers in token order.
func concurrently(handler http.Handler, tokens []string) []faultAnswer {
	answers := make([]faultAnswer, len(tokens))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tokens {
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec, elapsed := serve(handler, request(tokens[i]))
			answers[i] = faultAnswer{token: tokens[i], status: rec.Code, elapsed: elapsed, retryAfter: rec.Header().Get("Retry-After"), detail: errorDescription(rec)}
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

func repeated(token string, n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = token
	}
	return tokens
}

func TestKeyEndpointFaults(t *testing.T) {
	faults := []string{"500", "404", "slow beyond httpTimeout", "a body that never ends", "a body that trickles", "a 50 MB body",
		"invalid JSON", "HTML", "a JWKS with no usable key", "untrusted TLS certificate"}
	valid := validToken(t)
	key3Token := signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	withKey3 := jwksOf(t, jwkOf(&privateKey(t, "key-1").PublicKey, "key-1"), jwkOf(&privateKey(t, "key-3").PublicKey, "key-3"))
	withoutRefreshFloor(t) // faultMinRefresh is below the floor, so that the phases are quick
	// The faults run at once, past -parallel's limit of GOMAXPROCS: they mostly wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, fault := range faults {
		wg.Add(1)
		// Not `go t.Run(fault, ...)`: Yaegi would give every closure the last fault.
		go func(fault string) {
			defer wg.Done()
			t.Run(fault, func(t *testing.T) { checkKeyEndpointFault(t, fault, valid, key3Token, withKey3) })
		}(fault)
	}
}

// checkKeyEndpointFault runs one fault through the sequence: never obtained, recovery, last
// good keys, a new key.
func checkKeyEndpointFault(t *testing.T, fault, valid, key3Token string, withKey3 []byte) {
	tls := fault == "untrusted TLS certificate"
	s := newFaultServer(t, tls)
	s.set(fault, nil)
	config := CreateConfig()
	config.JWKSURL = s.url()
	config.HTTPTimeout = faultTimeout.String()
	config.MinRefreshInterval = faultMinRefresh.String()
	config.RefreshInterval = "10m"
	next := &countingUpstream{}
	handler := newHandler(t, config, next)
	checkFetches := func(phase string, want int64) {
		t.Helper()
		if got := s.fetches.Load(); got != want {
			t.Fatalf("%s: the endpoint was asked %d times in all; want %d (one fetch shared by concurrent requests, at most one per minRefreshInterval)", phase, got, want)
		}
	}
	checkBounded := func(phase string, answers []faultAnswer) {
		t.Helper()
		for _, a := range answers {
			if a.elapsed > faultTimeout+faultMargin {
				t.Fatalf("%s: a request took %v; want at most httpTimeout (%v) plus %v", phase, a.elapsed, faultTimeout, faultMargin)
			}
		}
	}

	// 1. No key was ever obtained: 503 with Retry-After, for every waiting request.
	answers := concurrently(handler, repeated(valid, 20))
	checkBounded("never obtained", answers)
	for _, a := range answers {
		if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || a.retryAfter == "0" {
			t.Fatalf("never obtained: status %d, Retry-After %q (%s); want 503 with a positive Retry-After", a.status, a.retryAfter, a.detail)
		}
	}
	checkFetches("never obtained", 1)
	if fault == "a 50 MB body" {
		deadline := time.Now().Add(5 * time.Second)
		for !s.bigDone.Load() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if written := s.written.Load(); !s.bigDone.Load() || written >= bigBodyBytes/2 {
			t.Fatalf("the server wrote %d bytes of a 50 MB body (done: %v); want the client to stop reading after 1 MiB", written, s.bigDone.Load())
		}
	}
	if tls {
		// An untrusted certificate stays untrusted: fail closed on every attempt.
		time.Sleep(faultMinRefresh + 50*time.Millisecond)
		if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("second attempt against an untrusted certificate: status %d; want 503", rec.Code)
		}
		checkFetches("untrusted certificate, second attempt", 2)
		if next.calls.Load() != 0 {
			t.Fatalf("the upstream was reached %d times without keys", next.calls.Load())
		}
		return
	}

	// 2. The endpoint comes back: the same middleware recovers by itself.
	s.set("ok", nil)
	time.Sleep(faultMinRefresh + 50*time.Millisecond)
	if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
		t.Fatalf("after the endpoint came back: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
	checkFetches("recovery", 2)

	// 3. It fails again: the last good keys keep verifying, an unknown kid is a 401
	// (never a 503), and the refetch it causes is shared and bounded.
	s.set(fault, nil)
	time.Sleep(faultMinRefresh + 50*time.Millisecond)
	answers = concurrently(handler, append(repeated(valid, 10), repeated(key3Token, 10)...))
	checkBounded("last good keys", answers)
	for i, a := range answers {
		if i < 10 && a.status != http.StatusOK {
			t.Fatalf("last good keys: a key-1 token got %d (%s); want 200", a.status, a.detail)
		}
		if i < 10 && a.elapsed > faultTimeout {
			t.Fatalf("last good keys: a key-1 token took %v; want no wait for the failing refetch (httpTimeout %v)", a.elapsed, faultTimeout)
		}
		if i >= 10 && (a.status != http.StatusUnauthorized || !strings.Contains(a.detail, "unknown key")) {
			t.Fatalf("last good keys: a token of a kid not in them got %d (%s); want 401 unknown key", a.status, a.detail)
		}
	}
	checkFetches("last good keys", 3)

	// 4. It comes back with a new key: tokens of that key are verified, without a restart.
	s.set("ok", withKey3)
	time.Sleep(faultMinRefresh + 50*time.Millisecond)
	for _, token := range []string{key3Token, valid} {
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Fatalf("after the endpoint came back with key-3: status %d (%s); want 200", rec.Code, errorDescription(rec))
		}
	}
	checkFetches("new key", 4)
	if got := next.calls.Load(); got != 13 {
		t.Fatalf("the upstream was reached %d times; want 13 (the 200s only)", got)
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
			server := newJWKSServer(t)
			server.set(http.StatusOK, body)
			rec, _ := serve(newHandler(t, jwksConfig(server), &upstream{}), request(validToken(t)))
			if rec.Code != tc.want {
				t.Fatalf("key set of %d bytes: status %d (%s); want %d (limit 1 MiB)", tc.size, rec.Code, errorDescription(rec), tc.want)
			}
		})
	}
}
