package withauth

import (
	"crypto/rsa"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadKind is one kind of request of the load test and the answer it must get.
type loadKind struct {
	name   string
	tokens []string // "" sends no Authorization header
	status int
	detail string // part of error_description
}

const (
	kindKey1 = iota // valid until key-1 leaves the key set
	kindKey2        // valid throughout: key-2 is in both key sets
	kindKey3        // valid once key-3 is published; sent only from then on
	kindNoRole
	kindExpired
	kindAlgNone
	kindHS256
	kindWrongKey
	kindUnknownKid
	kindTampered
	kindMissing
	loadKinds
)

// TestLoadWithKeyRotation: 200 concurrent clients mix valid, expired, forged and missing
// tokens against one handler while the JWKS rotates from key-1+key-2 to key-2+key-3. Every
// answer must be the right one, and no valid request may be lost to the rotation.
func TestLoadWithKeyRotation(t *testing.T) {
	const clients = 200
	const (
		beforeRotation = 500 * time.Millisecond
		// key3Delay is how long after publishing key-3 the issuer starts signing with it: more
		// than minRefreshInterval, as a key must be published before it is used.
		key3Delay     = 400 * time.Millisecond
		afterKey3Live = 500 * time.Millisecond
	)
	key1, key2, key3, rogue := privateKey(t, "key-1"), privateKey(t, "key-2"), privateKey(t, "key-3"), privateKey(t, "rogue")
	server := newJWKSServer(t)
	server.set(http.StatusOK, jwksOf(t, jwkOf(&key1.PublicKey, "key-1"), jwkOf(&key2.PublicKey, "key-2")))
	rotated := jwksOf(t, jwkOf(&key2.PublicKey, "key-2"), jwkOf(&key3.PublicKey, "key-3"))
	config := jwksConfig(server)
	config.Roles = []string{"admin"}
	config.MinRefreshInterval = "100ms"
	config.RefreshInterval = "250ms"

	// The user each admitted token names; the upstream checks that it gets that one.
	users := map[string]string{}
	signed := func(n int, prefix string, sign func(sub string) string) []string {
		var tokens []string
		for i := 0; i < n; i++ {
			sub := prefix + "-user-" + strconv.Itoa(i)
			token := sign(sub)
			users[token] = sub
			tokens = append(tokens, token)
		}
		return tokens
	}
	by := func(key *rsa.PrivateKey, kid string, changes map[string]interface{}) func(sub string) string {
		return func(sub string) string {
			claims := userClaims(t, changes)
			claims["sub"] = sub
			return signRS256(t, key, rs256Header(kid), claims)
		}
	}
	kinds := make([]loadKind, loadKinds)
	kinds[kindKey1] = loadKind{name: "key-1", tokens: signed(5, "key-1", by(key1, "key-1", nil)), status: 200}
	kinds[kindKey2] = loadKind{name: "key-2", tokens: signed(5, "key-2", by(key2, "key-2", nil)), status: 200}
	kinds[kindKey3] = loadKind{name: "key-3", tokens: signed(5, "key-3", by(key3, "key-3", nil)), status: 200}
	kinds[kindNoRole] = loadKind{name: "no admin role", tokens: signed(3, "reader", by(key2, "key-2", map[string]interface{}{"roles": []string{"read-only"}})), status: 403}
	kinds[kindExpired] = loadKind{name: "expired", tokens: signed(3, "expired", by(key2, "key-2", map[string]interface{}{"exp": time.Now().Unix() - 3600})), status: 401, detail: "expired"}
	kinds[kindAlgNone] = loadKind{name: "alg none", tokens: []string{segment(t, map[string]string{"alg": "none", "kid": "key-2"}) + "." + segment(t, userClaims(t, nil)) + "."}, status: 401, detail: "not signed with RS256"}
	kinds[kindHS256] = loadKind{name: "HS256 keyed with the modulus", tokens: []string{hmacSigned(t, "HS256", "key-2", key2.N.Bytes())}, status: 401, detail: "not signed with RS256"}
	kinds[kindWrongKey] = loadKind{name: "rogue key, kid key-2", tokens: signed(2, "rogue", by(rogue, "key-2", nil)), status: 401, detail: "signature is invalid"}
	kinds[kindUnknownKid] = loadKind{name: "rogue key, unknown kid", tokens: signed(2, "unknown", by(rogue, "rogue", nil)), status: 401, detail: "unknown key"}
	tampered := strings.Split(kinds[kindKey2].tokens[0], ".")
	tampered[1] = segment(t, userClaims(t, map[string]interface{}{"sub": "mallory", "roles": []string{"admin", "owner"}}))
	kinds[kindTampered] = loadKind{name: "tampered payload", tokens: []string{strings.Join(tampered, ".")}, status: 401, detail: "signature is invalid"}
	kinds[kindMissing] = loadKind{name: "no token", tokens: []string{""}, status: 401, detail: "a bearer token is required"}

	var wrong failures
	next := &countingUpstream{check: func(req *http.Request) {
		token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if want, got := users[token], req.Header.Get("X-User-Id"); got != want || want == "" {
			wrong.add("upstream got X-User-Id " + strconv.Quote(got) + " for the token of " + strconv.Quote(want))
		}
	}}
	handler := newHandler(t, config, next)

	var stop, rotatedFlag, key3Live atomic.Bool
	var mu sync.Mutex
	counts := make([]int, loadKinds)
	key1Refused := 0
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		c := c
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]int, loadKinds)
			mineKey1Refused := 0
			for i := 0; !stop.Load(); i++ {
				kind := (c + i) % loadKinds
				if kind == kindKey1 && rotatedFlag.Load() || kind == kindKey3 && !key3Live.Load() {
					kind = kindKey2
				}
				k := kinds[kind]
				token := k.tokens[(c+i)%len(k.tokens)]
				rec, _ := serve(handler, request(token))
				mine[kind]++
				detail := errorDescription(rec)
				if kind == kindKey1 && rec.Code == 401 && strings.Contains(detail, "unknown key") && rotatedFlag.Load() {
					mineKey1Refused++ // sent just before the rotation, answered after it
					continue
				}
				if rec.Code != k.status || !strings.Contains(detail, k.detail) {
					wrong.add(k.name + ": status " + strconv.Itoa(rec.Code) + " (" + detail + "); want " + strconv.Itoa(k.status) + " " + k.detail)
				}
			}
			mu.Lock()
			for kind, n := range mine {
				counts[kind] += n
			}
			key1Refused += mineKey1Refused
			mu.Unlock()
		}()
	}
	time.Sleep(beforeRotation)
	rotatedFlag.Store(true)
	server.set(http.StatusOK, rotated)
	time.Sleep(key3Delay)
	key3Live.Store(true)
	time.Sleep(afterKey3Live)
	stop.Store(true)
	wg.Wait()

	total, admitted := 0, 0
	var summary []string
	for kind, n := range counts {
		total += n
		if kinds[kind].status == 200 {
			admitted += n
		}
		summary = append(summary, kinds[kind].name+" "+strconv.Itoa(n))
	}
	admitted -= key1Refused
	t.Logf("%d requests from %d clients, %d JWKS fetches: %s; key-1 tokens refused right after the rotation: %d",
		total, clients, server.requests.Load(), strings.Join(summary, ", "), key1Refused)
	wrong.report(t, "wrong answers under load")
	for kind, n := range counts {
		if n == 0 {
			t.Errorf("no %s request was sent; want every kind exercised", kinds[kind].name)
		}
	}
	if got := next.calls.Load(); got != int64(admitted) {
		t.Errorf("the upstream was reached %d times; want %d (once per 200)", got, admitted)
	}
	// After the rotation key-1 is gone, cached or not.
	time.Sleep(150 * time.Millisecond)
	if rec, _ := serve(handler, request(kinds[kindKey1].tokens[0])); rec.Code != 401 {
		t.Errorf("key-1 token after the rotation: status %d; want 401 (key-1 left the key set)", rec.Code)
	}
}
