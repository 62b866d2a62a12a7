package withauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLoginURL: a browser navigation that would get 401 is sent to loginUrl with the escaped
// original URL, as the client used it; API calls keep their 401 and challenge.
func TestLoginURL(t *testing.T) {
	config := pemConfig(t)
	config.LoginURL = "https://app-demo.frontegg.com/oauth/account/sign-in?redirectUrl={url}"
	config.Roles = []string{"owner"}
	handler := newHandler(t, config, &upstream{})
	navigation := func(token string, header map[string]string) *http.Request {
		req := request(token)
		req.URL.RawQuery = "tab=billing"
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		for name, value := range header {
			req.Header.Set(name, value)
		}
		return req
	}
	want := "https://app-demo.frontegg.com/oauth/account/sign-in?redirectUrl=" + "https%3A%2F%2Fapp.example.com%2Fadmin%3Ftab%3Dbilling"
	forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com"}
	rec, _ := serve(handler, navigation("", forwarded))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != want {
		t.Errorf("a browser without a token: status %d, Location %q; want 302 to %q", rec.Code, rec.Header().Get("Location"), want)
	}
	rec, _ = serve(handler, navigation(tamperedPayload(t), map[string]string{"Accept": "*/*", "Sec-Fetch-Mode": "navigate"}))
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "https://app-demo.frontegg.com/oauth/account/sign-in?redirectUrl=http%3A%2F%2Fbackend.example%2Fadmin") {
		t.Errorf("a navigation (Sec-Fetch-Mode) with a forged token: status %d, Location %q; want 302 to the login page with the request's own URL", rec.Code, rec.Header().Get("Location"))
	}
	api := request("")
	api.Header.Set("Accept", "application/json")
	if rec, _ := serve(handler, api); rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("an API call without a token: status %d; want 401 with the challenge", rec.Code)
	}
	post := navigation("", nil)
	post.Method = http.MethodPost
	if rec, _ := serve(handler, post); rec.Code != http.StatusUnauthorized {
		t.Errorf("a POST asking for HTML: status %d; want 401 (not a navigation)", rec.Code)
	}
	if rec, _ := serve(handler, navigation(validToken(t), nil)); rec.Code != http.StatusForbidden {
		t.Errorf("a navigation with a valid token lacking the role: status %d; want 403 (signed in: no login)", rec.Code)
	}
	for _, bad := range []string{"/login", "javascript:alert(1)", "//evil.example/login", "ftp://login.example"} {
		config := pemConfig(t)
		config.LoginURL = bad
		if got := newError(t, config); !strings.Contains(got, "loginUrl:") {
			t.Errorf("loginUrl %q: New error %q; want it refused", bad, got)
		}
	}
}

// TestLoginRedirectCarriesNoQueryToken: with loginUrl and tokenQueryParameter, a navigation's
// {url} carried access_token=<token> to the login host, its logs and the browser's history.
func TestLoginRedirectCarriesNoQueryToken(t *testing.T) {
	config := sourcesConfig(t)
	config.LoginURL = "https://login.example/sign-in?redirectUrl={url}"
	handler := newHandler(t, config, &upstream{})
	for _, token := range []string{tamperedPayload(t), "not-a-token", ""} {
		req := sourceRequest("query", token)
		req.Header.Set("Accept", "text/html")
		rec, _ := serve(handler, req)
		location := rec.Header().Get("Location")
		want := "https://login.example/sign-in?redirectUrl=" + url.QueryEscape("http://backend.example/admin?page=2")
		if rec.Code != http.StatusFound || location != want {
			t.Errorf("a navigation with access_token=%.20q: %d, Location %q; want 302 to %q (the page kept, the token gone)", token, rec.Code, location, want)
		}
	}
}
