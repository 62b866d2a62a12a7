package withauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestKeyEndpointRedirectsAreNotFollowed: no key endpoint needs a redirect, and following one
// lets whoever controls the endpoint's answers pick the keys' host.
func TestKeyEndpointRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newTrapServer(t)
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.server.URL+"/jwks.json", http.StatusFound))
	t.Cleanup(redirecting.Close)
	config := CreateConfig()
	config.JWKSURL = redirecting.URL + "/jwks.json"
	next := &upstream{}
	rec, _ := serve(newHandler(t, config, next), request(validToken(t)))
	if rec.Code != http.StatusServiceUnavailable || next.calls != 0 {
		t.Fatalf("JWKS endpoint answering 302: status %d, upstream called %d times; want 503, upstream never", rec.Code, next.calls)
	}
	if got := elsewhere.requests.Load(); got != 0 {
		t.Fatalf("the redirect's target received %d requests; want none (redirects are not followed)", got)
	}
}
