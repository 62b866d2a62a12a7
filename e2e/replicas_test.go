package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/redis"
)

// startRedis runs a real redis-server for the test, with a password; without one installed the
// test is skipped, except under CI=true where that is a failure (make redis installs it).
func startRedis(t *testing.T) *redis.Server {
	t.Helper()
	if _, err := redis.Binary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skip(err)
	}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server, err := redis.Start(ctx, port, "replay-pw-4f1c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Close)
	return server
}

// TestReplicasShareProofsAndNonces: two Traefik replicas behind one public origin (as behind a
// load balancer), with the same configuration and a real redis-server as replayStore: a nonce
// issued by one is accepted by the other; a proof used at one is refused at the other; with
// Redis stopped, DPoP routes answer 503 and JWT routes 200, the outage logged once; with Redis
// back, DPoP works again without a restart. The Redis password is in no line withauth logs.
func TestReplicasShareProofsAndNonces(t *testing.T) {
	redisServer := startRedis(t)
	s := newStack(t)
	const origin = "https://api.example.test"
	routes := []harness.Route{
		{Name: "dpop", Path: "/dpop", Auth: map[string]any{"dpop": "required", "dpopOrigins": []string{origin},
			"dpopNonce": "required", "dpopNonceSecret": "a shared nonce secret of at least 32 bytes", "replayStore": redisServer.URL()}},
		{Name: "jwt", Path: "/jwt"},
		{Name: "catchall", Path: "/", Bare: true},
	}
	dynamic := map[string]string{"routes.yml": harness.FileConfig(routes, s.common(), s.backendURL)}
	replicaA := startTraefik(t, harness.Options{Dynamic: dynamic})
	replicaB := startTraefik(t, harness.Options{Dynamic: dynamic})
	waitReady(t, replicaA, "/dpop", harness.RouterNames(routes)...)
	waitReady(t, replicaB, "/dpop", harness.RouterNames(routes)...)

	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := newDPoPKey(t, jose.ES256, private)
	bound := harness.Alice
	bound.Extra = map[string]any{"cnf": map[string]any{"jkt": key.JKT}}
	token := mustMint(t, s.mint(), bound)
	proofWith := func(nonce string) string {
		p, err := key.ProofWithNonce("GET", origin+"/dpop/orders", token, nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	send := func(tr *harness.Traefik, path, scheme, token, proof string) (int, http.Header, string) {
		t.Helper()
		return sendToken(t, http.MethodGet, tr.URL+path, scheme, token, proof)
	}

	status, header, body := send(replicaA, "/dpop/orders", "DPoP", token, proofWith(""))
	nonce := header.Get("DPoP-Nonce")
	if status != 401 || nonce == "" || !strings.Contains(header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("a proof without a nonce at replica A: status %d, DPoP-Nonce %q, %s; want 401 use_dpop_nonce with a nonce", status, nonce, body)
	}
	used := proofWith(nonce)
	if status, _, body := send(replicaB, "/dpop/orders", "DPoP", token, used); status != 200 || !strings.Contains(body, `"X-User-Id": "alice"`) {
		t.Fatalf("a proof with replica A's nonce at replica B: status %d %s; want 200 for alice", status, body)
	}
	if status, _, body := send(replicaA, "/dpop/orders", "DPoP", token, used); status != 401 || !strings.Contains(body, "dpop_proof_replayed") {
		t.Fatalf("the proof used at replica B, again at replica A: status %d %s; want 401 dpop_proof_replayed", status, body)
	}

	redisServer.Stop()
	refused := proofWith(nonce)
	status, header, body = send(replicaA, "/dpop/orders", "DPoP", token, refused)
	if status != 503 || !strings.Contains(body, "replay_store_unavailable") || header.Get("Retry-After") == "" {
		t.Fatalf("a fresh proof at replica A with Redis stopped: status %d %s, Retry-After %q; want 503 replay_store_unavailable with Retry-After", status, body, header.Get("Retry-After"))
	}
	for i := 0; i < 5; i++ {
		send(replicaA, "/dpop/orders", "DPoP", token, proofWith(nonce))
	}
	if status, _, body := send(replicaA, "/jwt", "Bearer", mustMint(t, s.mint(), harness.Bob), ""); status != 200 {
		t.Fatalf("a JWT route with Redis stopped: status %d %s; want 200", status, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := redisServer.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The store is asked again a second after its last failure.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body = send(replicaA, "/dpop/orders", "DPoP", token, refused)
		if status == 200 || time.Now().After(deadline) {
			break
		}
		refused = proofWith(nonce)
		time.Sleep(200 * time.Millisecond)
	}
	if status != 200 {
		t.Fatalf("a proof at replica A with Redis back: status %d %s; want 200 without a restart", status, body)
	}
	for _, tr := range []*harness.Traefik{replicaA, replicaB} {
		log, err := os.ReadFile(tr.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		// Traefik's own DEBUG lines print the dynamic configuration as given (secrets by file are
		// issue 31's); withauth's lines never hold the password.
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "plugin=plugin-withauth") && strings.Contains(line, redisServer.Password) {
				t.Errorf("a withauth line of Traefik's log holds the Redis password: %s", line)
			}
		}
		if tr == replicaA {
			if outages := strings.Count(string(log), "cannot be reached (DPoP requests are answered 503"); outages != 1 {
				t.Errorf("replica A logged the outage %d times; want once", outages)
			}
			if !strings.Contains(string(log), "is back; DPoP requests are judged again") {
				t.Error("replica A did not log the end of the outage")
			}
		}
	}
}
