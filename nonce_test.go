package withauth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const testNonceSecret = "a nonce secret of 32 bytes or more, the same on every replica"

// nonceConfig is a DPoP route requiring nonces made from secret, on clock.
func nonceConfig(t testing.TB, secret string, clock *fakeClock) *Config {
	config := dpopConfig("required")(t)
	config.DPoPNonce = "required"
	config.DPoPNonceSecret = secret
	config.Now = clock.Now
	return config
}

// TestDPoPNonces: RFC 9449 §8-9. A proof without a nonce gets 401 use_dpop_nonce and one to use;
// the nonce is accepted by every replica given the same secret, for its window and the next
// (a fresh one is offered from then), and never after, nor from another secret.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	next := &upstream{}
	replicaA := newHandler(t, nonceConfig(t, testNonceSecret, clock), next)
	// Another Traefik: a process of its own, the same secret.
	replicaB := handlerIn(newProcess(), next, nonceConfig(t, testNonceSecret, clock), "replica-b")
	stranger := handlerIn(newProcess(), next, nonceConfig(t, strings.Repeat("another secret ", 3), clock), "stranger")
	const uri = testOrigin + "/admin"
	send := func(handler http.Handler, nonce interface{}) *http.Response {
		changes := map[string]interface{}{"nonce": nonce}
		rec, _ := serve(handler, dpopRequest(token, client.proof(t, "GET", uri, token, clock.Now(), changes)))
		return rec.Result()
	}

	answer := send(replicaA, nil)
	nonce := answer.Header.Get("DPoP-Nonce")
	challenge := answer.Header.Get("WWW-Authenticate")
	if answer.StatusCode != 401 || nonce == "" || !strings.Contains(challenge, `error="use_dpop_nonce"`) || !strings.HasPrefix(challenge, "DPoP ") {
		t.Fatalf("a proof without a nonce: status %d, DPoP-Nonce %q, challenge %q; want 401 with a nonce and a DPoP use_dpop_nonce challenge", answer.StatusCode, nonce, challenge)
	}
	if answer := send(replicaA, nonce); answer.StatusCode != 200 || answer.Header.Get("DPoP-Nonce") != "" {
		t.Fatalf("a proof with the nonce: status %d, DPoP-Nonce %q; want 200 and no new nonce yet", answer.StatusCode, answer.Header.Get("DPoP-Nonce"))
	}
	if answer := send(replicaB, nonce); answer.StatusCode != 200 {
		t.Fatalf("a proof with replica A's nonce at replica B (the same secret): status %d; want 200", answer.StatusCode)
	}
	if answer := send(stranger, nonce); answer.StatusCode != 401 || answer.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("a proof with the nonce at a Traefik of another secret: status %d; want 401 with a nonce of its own", answer.StatusCode)
	}
	if answer := send(replicaA, "made-up"); answer.StatusCode != 401 {
		t.Fatalf("a made-up nonce: status %d; want 401", answer.StatusCode)
	}
	if answer := send(replicaA, 42); answer.StatusCode != 401 {
		t.Fatalf("a nonce that is not a string: status %d; want 401", answer.StatusCode)
	}
	// Half of the lifetime later (5m by default): the nonce still serves, a fresh one is offered.
	clock.Advance(150 * time.Second)
	answer = send(replicaB, nonce)
	fresh := answer.Header.Get("DPoP-Nonce")
	if answer.StatusCode != 200 || fresh == "" || fresh == nonce {
		t.Fatalf("the nonce in its second window: status %d, DPoP-Nonce %q; want 200 and a fresh nonce", answer.StatusCode, fresh)
	}
	clock.Advance(150 * time.Second)
	answer = send(replicaA, nonce)
	if offered := answer.Header.Get("DPoP-Nonce"); answer.StatusCode != 401 || offered == "" || offered == nonce || offered == fresh {
		t.Fatalf("the nonce after its lifetime: status %d, DPoP-Nonce %q; want 401 offering the current window's nonce", answer.StatusCode, offered)
	}
	if answer := send(replicaA, fresh); answer.StatusCode != 200 {
		t.Fatalf("the fresh nonce: status %d; want 200", answer.StatusCode)
	}
	if next.calls.Load() != 4 {
		t.Errorf("the upstream was reached %d times; want 4 (the admitted proofs)", next.calls.Load())
	}
}

// TestDPoPNonceOfferedWithEvery401: on a nonce route, a 401 for a missing token offers a nonce
// too, so that a client need not fail once with its proof to learn one.
func TestDPoPNonceOfferedWithEvery401(t *testing.T) {
	t.Parallel()
	handler := newHandler(t, nonceConfig(t, testNonceSecret, newFakeClock()), &upstream{})
	rec, _ := serve(handler, request(""))
	if rec.Code != 401 || rec.Header().Get("DPoP-Nonce") == "" {
		t.Errorf("no token: status %d, DPoP-Nonce %q; want 401 with a nonce", rec.Code, rec.Header().Get("DPoP-Nonce"))
	}
}

func TestDPoPNonceConfiguration(t *testing.T) {
	dpop := func(c *Config) { c.DPoP = "required"; c.DPoPOrigins = []string{testOrigin} }
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { dpop(c); c.DPoPNonce = "yes" }, `dpopNonce: "yes" is not a setting`},
		{func(c *Config) { dpop(c); c.DPoPNonce = "required" }, "dpopNonceSecret: is 0 bytes; give at least 32"},
		{func(c *Config) { dpop(c); c.DPoPNonce = "required"; c.DPoPNonceSecret = "short" }, "dpopNonceSecret: is 5 bytes; give at least 32"},
		{func(c *Config) { dpop(c); c.DPoPNonceSecret = testNonceSecret }, "apply with dpopNonce: required"},
		{func(c *Config) {
			dpop(c)
			c.DPoPNonce = "required"
			c.DPoPNonceSecret = testNonceSecret
			c.DPoPNonceLifetime = "5s"
		}, "dpopNonceLifetime: 5s is not between 10s and 1h"},
	} {
		config := pemConfig(t)
		tc.change(config)
		got := newError(t, config)
		if !strings.Contains(got, tc.want) || strings.Contains(got, testNonceSecret) {
			t.Errorf("New logged %q; want %q, and never the secret", got, tc.want)
		}
	}
}
