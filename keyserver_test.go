package withauth

// The tests' one key endpoint, and the key sources made from it or by hand.

import (
	"bytes"
	"crypto/rsa"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

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
