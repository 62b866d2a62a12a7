package withauth

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// reloads is how many times TestReloadsLeaveNothingBehind calls New: Traefik calls it for
// every router on every configuration reload.
const reloads = 10000

func TestReloadsLeaveNothingBehind(t *testing.T) {
	server := newJWKSServer(t)
	// The issuer's keys are at the same URL, with other timing: a key source of its own. Its
	// handlers never serve here (the fixture tokens name another issuer).
	jwksIssuer := CreateConfig()
	jwksIssuer.Issuer = server.URL
	configs := []*Config{pemConfig(t), jwksConfig(server), jwksIssuer}
	token := validToken(t)

	// The handlers of the first configuration, used once so that the keys are fetched and the
	// HTTP client's connection is open before measuring.
	var first []http.Handler
	for _, config := range configs[:2] {
		handler := newHandler(t, config, &upstream{})
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Fatalf("first handler: status %d (%s); want 200", rec.Code, errorDescription(rec))
		}
		first = append(first, handler)
	}
	fetches := server.requests.Load()

	sharedBefore := countSharedKeySources()
	goroutinesBefore := settledGoroutines(0, 200*time.Millisecond)
	heapBefore := heapAfterGC()
	for i := 0; i < reloads; i++ {
		handler, err := New(context.Background(), &upstream{}, configs[i%len(configs)], "reload")
		if err != nil {
			t.Fatalf("New, reload %d: %v", i, err)
		}
		if i%1000 < len(configs) && i%len(configs) != 2 {
			// Now and then a new handler serves, as routers do after a reload.
			if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
				t.Fatalf("handler of reload %d: status %d (%s); want 200", i, rec.Code, errorDescription(rec))
			}
		}
	}
	goroutinesAfter := settledGoroutines(goroutinesBefore, 2*time.Second)
	sharedAfter := countSharedKeySources()
	heapAfter := heapAfterGC()
	t.Logf("%d calls of New: goroutines %d before, %d after; heap %d KiB before, %d KiB after (after GC); shared key sources %d before, %d after",
		reloads, goroutinesBefore, goroutinesAfter, heapBefore>>10, heapAfter>>10, sharedBefore, sharedAfter)

	if goroutinesAfter > goroutinesBefore+2 {
		t.Errorf("goroutines grew from %d to %d over %d calls of New; want New to start none", goroutinesBefore, goroutinesAfter, reloads)
	}
	// A generous bound: 2 MiB over 10,000 calls is 200 bytes a call; the real growth is noise.
	if heapAfter > heapBefore+2<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB over %d calls of New; want it flat (at most 2 MiB of noise)", heapBefore>>10, heapAfter>>10, reloads)
	}
	if sharedAfter != sharedBefore+1 {
		t.Errorf("shared remote key sources: %d before, %d after; want one more (the issuer's), not one per call of New", sharedBefore, sharedAfter)
	}
	if got := server.requests.Load(); got != fetches {
		t.Errorf("the key endpoint was asked %d more times during the reloads; want none (routers and reloads share the keys)", got-fetches)
	}
	for i, handler := range first {
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Errorf("handler %d of the first configuration after %d reloads: status %d (%s); want 200", i, reloads, rec.Code, errorDescription(rec))
		}
	}
}

// countSharedKeySources counts the remote key sources shared by all middleware instances.
func countSharedKeySources() int {
	n := 0
	remoteKeySets.Range(func(key, value interface{}) bool {
		n++
		return true
	})
	return n
}

// TestSharedKeySourcesKeepCredentialsApart: middlewares share a key source only when they
// name the same endpoint with the same credentials. Frontegg's is looked up by gateway, client
// ID and API key joined with spaces, so client "a b" with key "c" and client "a" with key
// "b c" share one, and the second middleware calls Frontegg with the first one's credentials.
func TestSharedKeySourcesKeepCredentialsApart(t *testing.T) {
	first := CreateConfig()
	first.APIGatewayURL = "http://127.0.0.1:9"
	first.ClientID = "client one"
	first.APIKey = "key"
	second := CreateConfig()
	second.APIGatewayURL = "http://127.0.0.1:9"
	second.ClientID = "client"
	second.APIKey = "one key"
	a := newHandler(t, first, &upstream{}).(*Middleware)
	b := newHandler(t, second, &upstream{}).(*Middleware)
	if a.frontegg == b.frontegg || b.frontegg.clientID != "client" || b.frontegg.apiKey != "one key" {
		t.Fatalf("clientId %q/apiKey %q got the Frontegg client of clientId %q/apiKey %q; want one of its own", second.ClientID, second.APIKey, b.frontegg.clientID, b.frontegg.apiKey)
	}
}
