package withauth

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestReplayStoreBounds: a proof counts once; a key holding its share is refused while another
// key's proofs pass; the whole store, full of acceptable proofs, refuses rather than forgets.
func TestReplayStoreBounds(t *testing.T) {
	t.Parallel()
	s := newReplayStore(40) // a key's share: 4
	s.noteMaxAge(time.Minute)
	now := time.Now().UnixNano()
	for i := 0; i < 4; i++ {
		if _, err := s.firstUse(fmt.Sprint("mallory-", i), "mallory", now, now); err != nil {
			t.Fatalf("Mallory's proof %d: %v; want it recorded", i+1, err)
		}
	}
	if _, err := s.firstUse("mallory-0", "mallory", now, now); err != errDPoPProofReplayed {
		t.Fatalf("a proof used again: %v; want errDPoPProofReplayed", err)
	}
	if _, err := s.firstUse("mallory-4", "mallory", now, now); err != errDPoPKeyOverShare {
		t.Fatalf("a fifth proof of one key whose share is 4: %v; want errDPoPKeyOverShare", err)
	}
	for i := 0; i < 36; i++ {
		if _, err := s.firstUse(fmt.Sprint("other-", i), fmt.Sprint("key-", i/4), now, now); err != nil {
			t.Fatalf("proof %d of other keys: %v; want it recorded", i+1, err)
		}
	}
	if _, err := s.firstUse("alice-0", "alice", now, now); err != errProofStoreFull || len(s.seen) != 40 {
		t.Fatalf("a proof when 40 acceptable ones fill the store: %v with %d held; want errProofStoreFull and 40", err, len(s.seen))
	}
	later := now + int64(61*time.Second)
	if _, err := s.firstUse("alice-0", "alice", later, later); err != nil || len(s.seen) != 1 || len(s.perKey) != 1 {
		t.Fatalf("a proof once the others expired: %v with %d held for %d keys; want it recorded alone", err, len(s.seen), len(s.perKey))
	}
}

// TestReplayStoreSweepsAsItGoes: expired proofs leave by the second they expire in, a few at a
// time, and none that is still acceptable does; a proof forgotten (its record failed elsewhere)
// can be recorded again.
func TestReplayStoreSweepsAsItGoes(t *testing.T) {
	t.Parallel()
	s := newReplayStore(maxProofsSeen)
	s.noteMaxAge(10 * time.Second)
	start := time.Unix(1700000000, 0).UnixNano()
	for i := 0; i < 100; i++ {
		iat := start + int64(i)*int64(100*time.Millisecond)
		if _, err := s.firstUse(fmt.Sprint("proof-", i), "key", iat, iat); err != nil {
			t.Fatal(err)
		}
	}
	// At start + 15 s, the proofs of iat up to start + 5 s (until iat + 10 s) have expired.
	now := start + int64(15*time.Second)
	if _, err := s.firstUse("probe", "another key", now, now); err != nil {
		t.Fatal(err)
	}
	if got := len(s.seen); got < 49 || got > 52 {
		t.Errorf("at start + 15 s, %d proofs held; want about 50 (the other half of 100 expired, plus the probe)", got)
	}
	if _, err := s.firstUse("proof-99", "key", now, now); err != errDPoPProofReplayed {
		t.Errorf("the last proof, still acceptable: %v; want errDPoPProofReplayed", err)
	}
	s.forget("proof-99")
	if _, err := s.firstUse("proof-99", "key", now, now); err != nil {
		t.Errorf("a proof forgotten, recorded again: %v; want recorded", err)
	}
	if len(s.expiring) > 12 {
		t.Errorf("%d buckets of expiring proofs; want at most one a second of the next 10 s and a few more", len(s.expiring))
	}
}

// TestOneKeyCannotLockEveryDPoPRoute: one user holding one bound token sends valid proofs, on
// a route that refuses him 403, as fast as he likes; another user's proofs on another route
// pass all along (S4-3).
func TestOneKeyCannotLockEveryDPoPRoute(t *testing.T) {
	t.Parallel()
	p := testProcess(t)
	p.proofs = newReplayStore(160) // a key's share: 16
	keys := algorithmKeys(t)
	mallory := newDPoPClient(t, keys.p256, "ES256")
	alice := newDPoPClient(t, keys.ed25519, "EdDSA")
	malloryToken := tokenWith(map[string]interface{}{"sub": "mallory", "roles": []string{"viewer"}, "cnf": map[string]interface{}{"jkt": mallory.jkt}})(t)
	aliceToken := tokenWith(map[string]interface{}{"sub": "alice", "cnf": map[string]interface{}{"jkt": alice.jkt}})(t)
	adminRoute := dpopConfig("required")(t)
	adminRoute.Roles = []string{"admin"}
	admin := newHandler(t, adminRoute, &upstream{})
	reports := newHandler(t, dpopConfig("required")(t), &upstream{})
	const uri = testOrigin + "/admin"
	statuses := map[int]int{}
	for i := 0; i < 40; i++ {
		rec, _ := serve(admin, dpopRequest(malloryToken, mallory.proof(t, "GET", uri, malloryToken, time.Now(), nil)))
		statuses[rec.Code]++
		if rec.Code == http.StatusTooManyRequests && (bodyField(rec.Body.Bytes(), "reason") != "dpop_key_over_share" || rec.Header().Get("Retry-After") == "") {
			t.Fatalf("Mallory past his key's share: %s, Retry-After %q; want dpop_key_over_share with Retry-After", rec.Body.String(), rec.Header().Get("Retry-After"))
		}
	}
	if statuses[http.StatusForbidden] != 16 || statuses[http.StatusTooManyRequests] != 24 {
		t.Errorf("40 valid proofs of one key on a route that refuses it: %v; want 16 answered 403 and 24 answered 429", statuses)
	}
	for i := 0; i < 3; i++ {
		rec, _ := serve(reports, dpopRequest(aliceToken, alice.proof(t, "GET", uri, aliceToken, time.Now(), nil)))
		if rec.Code != http.StatusOK {
			t.Errorf("Alice's proof %d on another route meanwhile: status %d %s; want 200", i+1, rec.Code, bodyField(rec.Body.Bytes(), "reason"))
		}
	}
}

// TestProofRememberedForTheLongestMaxAge: a proof used on a route with dpopProofMaxAge 60s is
// refused 90 s later where the process has a route (or a reload) with 10m (S4-5).
func TestProofRememberedForTheLongestMaxAge(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	short := dpopConfig("required")(t)
	short.Now = clock.Now
	long := dpopConfig("required")(t)
	long.DPoPProofMaxAge = "10m"
	long.Now = clock.Now
	shortHandler, longHandler := newHandler(t, short, &upstream{}), newHandler(t, long, &upstream{})
	proof := client.proof(t, "GET", testOrigin+"/admin", token, clock.Now(), nil)
	if rec, _ := serve(shortHandler, dpopRequest(token, proof)); rec.Code != http.StatusOK {
		t.Fatalf("first use (dpopProofMaxAge 60s): status %d %s; want 200", rec.Code, rec.Body.String())
	}
	clock.Advance(90 * time.Second)
	next := &upstream{}
	rec, _ := serve(longHandler, dpopRequest(token, proof))
	if rec.Code != http.StatusUnauthorized || bodyField(rec.Body.Bytes(), "reason") != "dpop_proof_replayed" || next.calls.Load() != 0 {
		t.Errorf("the same proof 90 s later where dpopProofMaxAge is 10m: status %d %s; want 401 dpop_proof_replayed", rec.Code, rec.Body.String())
	}
}

// TestRefusedConfigurationDoesNotLengthenProofMemory: a configuration refused after its DPoP
// settings were read leaves the process's store as it was.
func TestRefusedConfigurationDoesNotLengthenProofMemory(t *testing.T) {
	config := dpopConfig("required")(t)
	config.DPoPProofMaxAge = "5m"
	config.TokenHeader = "Authorization" // refused after the DPoP settings
	newError(t, config)
	p := testProcess(t)
	p.proofs.mu.Lock()
	defer p.proofs.mu.Unlock()
	if p.proofs.longestMaxAgeNanos != 0 {
		t.Errorf("after a refused configuration, proofs are remembered %v; want as before (0: no route yet)", time.Duration(p.proofs.longestMaxAgeNanos))
	}
}
