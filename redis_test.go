package withauth

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// respServer is a Redis for tests: it speaks RESP over TCP and knows AUTH, SELECT and
// SET key value NX PX ttl, as withauth sends them. It records the commands it received, and can
// refuse connections (stop) and forget every connection (drop), as a restarted Redis would.
type respServer struct {
	listener net.Listener
	address  string
	password string // "" for none

	mu       sync.Mutex
	keys     map[string]time.Time
	commands []string
	conns    map[net.Conn]bool
	stopped  bool
}

func newRESPServer(t testing.TB, password string) *respServer {
	return startRESPServer(t, password, nil)
}

// startRESPServer is newRESPServer over TLS with certificate, when it is not nil.
func startRESPServer(t testing.TB, password string, certificate *tls.Certificate) *respServer {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if certificate != nil {
		listener = tls.NewListener(listener, &tls.Config{Certificates: []tls.Certificate{*certificate}, MinVersion: tls.VersionTLS12})
	}
	s := &respServer{listener: listener, address: listener.Addr().String(), password: password, keys: map[string]time.Time{}, conns: map[net.Conn]bool{}}
	go s.accept()
	t.Cleanup(func() { s.stop(); _ = listener.Close() })
	return s
}

func (s *respServer) accept() {
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.conns[conn] = true
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// serve answers one connection's commands.
func (s *respServer) serve(conn net.Conn) {
	defer conn.Close()
	reader := bufio.NewReader(conn)
	authenticated := s.password == ""
	for {
		args, err := readCommand(reader)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.commands = append(s.commands, strings.Join(args, " "))
		reply := "+OK\r\n"
		switch strings.ToUpper(args[0]) {
		case "AUTH":
			if args[len(args)-1] != s.password {
				reply = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
			} else {
				authenticated = true
			}
		case "SELECT":
		case "SET":
			if !authenticated {
				reply = "-NOAUTH Authentication required.\r\n"
				break
			}
			ttl, _ := strconv.Atoi(args[5])
			if until, exists := s.keys[args[1]]; exists && time.Now().Before(until) {
				reply = "$-1\r\n"
			} else {
				s.keys[args[1]] = time.Now().Add(time.Duration(ttl) * time.Millisecond)
			}
		default:
			reply = "-ERR unknown command\r\n"
		}
		s.mu.Unlock()
		if _, err := io.WriteString(conn, reply); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not a command: %q (%v)", line, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	args := make([]string, 0, n)
	for i := 0; i < n; i++ {
		if _, err := r.ReadString('\n'); err != nil {
			return nil, err
		}
		arg, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args = append(args, strings.TrimSuffix(arg, "\r\n"))
	}
	return args, nil
}

// stop closes every connection and refuses new ones; start accepts them again.
func (s *respServer) stop() {
	s.mu.Lock()
	s.stopped = true
	for conn := range s.conns {
		_ = conn.Close()
	}
	s.conns = map[net.Conn]bool{}
	s.mu.Unlock()
}

func (s *respServer) start() {
	s.mu.Lock()
	s.stopped = false
	s.mu.Unlock()
}

// drop closes every open connection and goes on accepting: a restart between two requests.
func (s *respServer) drop() {
	s.stop()
	s.start()
}

func (s *respServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{}, s.commands...)
}

// redisStoreFor is the client of replayStore setting in a process of its own, on clock, logging
// to the test's process's log.
func redisStoreFor(t testing.TB, setting string, clock *fakeClock) *redisStore {
	store, err := newReplayStoreSetting(setting, fetchTiming{now: clock.Now, log: testProcess(t).log})
	if err != nil {
		t.Fatalf("replayStore %s: %v", setting, err)
	}
	return store
}

// TestRedisStoreRecordsOnce: SET NX PX records a proof once for every client of the store; the
// client authenticates (user and password, or a password alone) and selects its database.
func TestRedisStoreRecordsOnce(t *testing.T) {
	t.Parallel()
	server := newRESPServer(t, "p@ss:word")
	clock := newFakeClock()
	a := redisStoreFor(t, "redis://withauth:p%40ss%3Aword@"+server.address+"/3", clock)
	b := redisStoreFor(t, "redis://:p%40ss%3Aword@"+server.address+"/3", clock)
	if first, err := a.setOnce("digest-1", int64(time.Minute)); err != nil || !first {
		t.Fatalf("a proof recorded the first time: %v, %v; want true", first, err)
	}
	if first, err := b.setOnce("digest-1", int64(time.Minute)); err != nil || first {
		t.Fatalf("the same proof through another client of the store: %v, %v; want false (recorded already)", first, err)
	}
	if first, err := b.setOnce("digest-2", int64(time.Minute)); err != nil || !first {
		t.Fatalf("another proof: %v, %v; want true", first, err)
	}
	commands := strings.Join(server.received(), "\n")
	for _, want := range []string{"AUTH withauth p@ss:word", "AUTH p@ss:word", "SELECT 3",
		"SET withauth:dpop:" + fmt.Sprintf("%x", "digest-1") + " 1 NX PX 60000"} {
		if !strings.Contains(commands, want) {
			t.Errorf("the store received:\n%s\nwant %q among them", commands, want)
		}
	}
	if a.setOnce("digest-3", int64(time.Minute)); len(server.received()) != 8 {
		t.Errorf("a third command through client a: %d commands in all; want 8 (no AUTH nor SELECT again: one connection per client, kept open)", len(server.received()))
	}
}

// TestRedisStoreOutage: while the store cannot be reached, proofs are not recorded (an error),
// one log line says so without the password, the store is not asked again for a second, and
// recording resumes by itself when it is back, with one line more; a wrong password is an
// outage too.
func TestRedisStoreOutage(t *testing.T) {
	log := captureLog(t)
	server := newRESPServer(t, "s3cret-pw")
	clock := newFakeClock()
	store := redisStoreFor(t, "redis://:s3cret-pw@"+server.address, clock)
	if _, err := store.setOnce("before", int64(time.Minute)); err != nil {
		t.Fatal(err)
	}
	server.stop()
	for i := 0; i < 5; i++ {
		if _, err := store.setOnce(fmt.Sprint("during-", i), int64(time.Minute)); err != errReplayStoreDown && (i > 0 || err == nil) {
			t.Fatalf("recording %d while the store is down: %v; want an error", i+1, err)
		}
	}
	asked := len(server.received())
	server.start()
	if _, err := store.setOnce("too-soon", int64(time.Minute)); err != errReplayStoreDown || len(server.received()) != asked {
		t.Fatalf("within a second of the failure, the store back: %v after %d commands; want errReplayStoreDown without asking", err, len(server.received())-asked)
	}
	clock.Advance(redisRetryAfter)
	if first, err := store.setOnce("after", int64(time.Minute)); err != nil || !first {
		t.Fatalf("a second later, the store back: %v, %v; want recorded", first, err)
	}
	lines := log.lines(false)
	if len(lines) != 2 || !strings.Contains(lines[0], "cannot be reached") || !strings.Contains(lines[1], "is back") {
		t.Errorf("log lines %q; want one for the outage and one for its end", lines)
	}
	wrong := redisStoreFor(t, "redis://:not-the-password@"+server.address, clock)
	if _, err := wrong.setOnce("x", int64(time.Minute)); err == nil {
		t.Error("a wrong password: recorded; want an error")
	}
	for _, line := range log.lines(false) {
		if strings.Contains(line, "s3cret-pw") || strings.Contains(line, "not-the-password") {
			t.Errorf("a log line holds the password: %s", line)
		}
	}
}

// TestRedisStoreReconnects: connections the store closed (it restarted) are replaced without a
// failed request.
func TestRedisStoreReconnects(t *testing.T) {
	t.Parallel()
	server := newRESPServer(t, "")
	store := redisStoreFor(t, "redis://"+server.address, newFakeClock())
	for i := 0; i < 3; i++ {
		if _, err := store.setOnce(fmt.Sprint("proof-", i), int64(time.Minute)); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		server.drop()
	}
}

// TestRedisStoreOverTLS: rediss:// verifies the store's certificate with the system's roots and
// caBundle, and refuses one no trusted authority signed.
func TestRedisStoreOverTLS(t *testing.T) {
	t.Parallel()
	authority := newCertificate(t, "replay store CA", nil, 0)
	leaf := newCertificate(t, "localhost", authority, x509.ExtKeyUsageServerAuth)
	pair, err := tls.X509KeyPair([]byte(leaf.certPEM), []byte(leaf.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	server := startRESPServer(t, "pw", &pair)
	_, port, _ := net.SplitHostPort(server.address)
	setting := "rediss://:pw@localhost:" + port
	clock := newFakeClock()
	trusting := CreateConfig()
	trusting.CABundle = authority.certPEM
	timing, err := parseFetchTiming(trusting, time.Second, testProcess(t).log)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := newReplayStoreSetting(setting, timing)
	if err != nil {
		t.Fatal(err)
	}
	if first, err := trusted.setOnce("over-tls", int64(time.Minute)); err != nil || !first {
		t.Fatalf("over TLS with caBundle naming the store's authority: %v, %v; want recorded", first, err)
	}
	untrusting := redisStoreFor(t, setting, clock)
	if _, err := untrusting.setOnce("over-tls-2", int64(time.Minute)); err == nil {
		t.Fatal("over TLS without caBundle: recorded; want the store's certificate refused")
	}
}

func TestReplayStoreConfiguration(t *testing.T) {
	for _, tc := range []struct{ setting, want string }{
		{"redis", `replayStore: "redis" is not a setting; use process`},
		{"memcached://cache:11211", "is not a setting"},
		{"redis://:hunter2@cache:6379/x", `replayStore: the database "x" of redis://:xxxxx@cache:6379/x is not a number`},
		{"redis://cache:6379?ssl=true", "is not a setting"},
	} {
		config := dpopConfig("required")(t)
		config.ReplayStore = tc.setting
		got := newError(t, config)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "hunter2") {
			t.Errorf("replayStore %q: New logged %q; want %q, and never the password", tc.setting, got, tc.want)
		}
	}
}

// TestReplicasShareTheReplayStore: two Traefiks (two processes) naming one replayStore refuse a
// proof the other accepted; while the store is down, DPoP requests are 503 (a proof that cannot
// be recorded is not accepted) and other routes unaffected; once it is back, DPoP recovers.
func TestReplicasShareTheReplayStore(t *testing.T) {
	t.Parallel()
	server := newRESPServer(t, "")
	clock := newFakeClock()
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	config := dpopConfig("required")(t)
	config.ReplayStore = "redis://" + server.address
	config.Now = clock.Now
	next := &upstream{}
	replicaA := handlerIn(newProcess(), next, config, "replica-a")
	replicaB := handlerIn(newProcess(), next, config, "replica-b")
	jwtRoute := handlerIn(newProcess(), next, pemConfig(t), "jwt-route")
	proof := func() string { return client.proof(t, "GET", testOrigin+"/admin", token, clock.Now(), nil) }
	used := proof()
	if rec, _ := serve(replicaA, dpopRequest(token, used)); rec.Code != http.StatusOK {
		t.Fatalf("a proof at replica A: status %d %s; want 200", rec.Code, rec.Body.String())
	}
	if rec, _ := serve(replicaB, dpopRequest(token, used)); rec.Code != http.StatusUnauthorized || bodyField(rec.Body.Bytes(), "reason") != "dpop_proof_replayed" {
		t.Fatalf("the same proof at replica B: status %d %s; want 401 dpop_proof_replayed", rec.Code, rec.Body.String())
	}
	server.stop()
	retried := proof()
	rec, _ := serve(replicaB, dpopRequest(token, retried))
	if rec.Code != http.StatusServiceUnavailable || bodyField(rec.Body.Bytes(), "reason") != "replay_store_unavailable" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a fresh proof while the store is down: status %d %s, Retry-After %q; want 503 replay_store_unavailable with Retry-After", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	if rec, _ := serve(jwtRoute, request(validToken(t))); rec.Code != http.StatusOK {
		t.Fatalf("a JWT route while the store is down: status %d; want 200", rec.Code)
	}
	server.start()
	clock.Advance(redisRetryAfter)
	if rec, _ := serve(replicaB, dpopRequest(token, retried)); rec.Code != http.StatusOK {
		t.Fatalf("the proof refused 503, sent again once the store is back: status %d %s; want 200 (never recorded)", rec.Code, rec.Body.String())
	}
	if next.calls.Load() != 3 {
		t.Errorf("the upstream was reached %d times; want 3", next.calls.Load())
	}
}
