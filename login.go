package withauth

// Browsers that open a protected page without a valid token are sent to the login page.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// checkLoginURL accepts only absolute http(s) URLs: withauth redirects to loginUrl's own host,
// and {url} only ever becomes a query value in it, so no request can choose the target.
func checkLoginURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("loginUrl: %q is not an absolute http(s) URL; give your login page, such as https://app.example.com/login?redirect={url}", redactURL(raw))
	}
	return raw, nil
}

// isNavigation tells a browser opening a page (a GET or HEAD asking for HTML, or
// Sec-Fetch-Mode: navigate) from an API call, which keeps its 401 and challenge.
func isNavigation(req *http.Request) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if req.Header.Get("Sec-Fetch-Mode") == "navigate" {
		return true
	}
	return strings.Contains(req.Header.Get("Accept"), "text/html")
}

// loginLocation is loginURL with {url} replaced by the escaped URL the client asked for: the
// scheme and host it used, as Traefik's X-Forwarded-Proto and X-Forwarded-Host say, without
// the token query parameter (queryToken), which must not reach the login host, its logs or the
// browser's history.
func loginLocation(loginURL string, req *http.Request, queryToken string) string {
	scheme := req.Header.Get("X-Forwarded-Proto")
	if scheme == "" {
		scheme = "http"
		if req.TLS != nil {
			scheme = "https"
		}
	}
	host := req.Header.Get("X-Forwarded-Host")
	if host == "" {
		host = req.Host
	}
	target := *req.URL
	if queryToken != "" {
		// Not a tuple assignment into a field: Yaegi v0.16.1 can drop its value.
		query, _ := queryWithout(req.URL, queryToken)
		target.RawQuery = query
	}
	original := scheme + "://" + host + target.RequestURI()
	return strings.ReplaceAll(loginURL, "{url}", url.QueryEscape(original))
}
