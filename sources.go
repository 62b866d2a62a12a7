package withauth

// Where a request's token comes from, in the order sources are tried: the first present one is
// the only one judged.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// credentialSource is where a token came from: one token string is judged by other rules in
// each, and each has a cache of its own, so a token judged from one is never admitted through
// another.
type credentialSource int

const (
	fromAuthorization credentialSource = iota // Authorization: Bearer
	fromAPIKey                                // x-api-key, Frontegg vendor mode's access tokens
	fromHeader                                // tokenHeader
	fromCookie                                // tokenCookie
	fromQuery                                 // tokenQueryParameter
	fromDPoP                                  // Authorization: DPoP (dpop allowed or required)
	credentialSources
)

// tokenSources are the sources a middleware reads after Authorization.
type tokenSources struct {
	dpop   bool   // Authorization: DPoP (RFC 9449)
	apiKey bool   // x-api-key: Frontegg vendor mode's access tokens
	header string // canonical header name, "" for none
	cookie string
	query  string
}

// newTokenSources checks tokenHeader, tokenCookie and tokenQueryParameter: a token header may
// not be one that HTTP, withauth or the route's forwarded headers give another meaning.
func newTokenSources(config *Config, forward []forwardedHeader, vendorMode bool) (tokenSources, error) {
	header := strings.TrimSpace(config.TokenHeader)
	if header != "" {
		header = http.CanonicalHeaderKey(header)
		if !isHeaderName(header) || headersNotForwardable[headerKey(header)] || header == "X-Api-Key" || forwardsHeader(forward, header) {
			return tokenSources{}, fmt.Errorf("tokenHeader: %q cannot carry the token; give a header of your own such as X-Auth-Token", config.TokenHeader)
		}
	}
	return tokenSources{apiKey: vendorMode, header: header, cookie: strings.TrimSpace(config.TokenCookie), query: strings.TrimSpace(config.TokenQueryParameter)}, nil
}

// credentials finds the token: a bearer token in Authorization; in Frontegg vendor mode an
// access token in x-api-key; then tokenHeader, tokenCookie, tokenQueryParameter.
func credentials(sources *tokenSources, req *http.Request) (string, credentialSource, error) {
	token, err := bearerToken(req.Header["Authorization"])
	if err != errNoCredentials {
		return token, fromAuthorization, err
	}
	if sources.dpop {
		if token, err := dpopToken(req.Header["Authorization"]); err != errNoCredentials {
			return token, fromDPoP, err
		}
	}
	return otherCredentials(sources, req)
}

// dpopToken extracts the token of "Authorization: DPoP <token>" (RFC 9449 §7.1; the scheme is
// case-insensitive); errNoCredentials for any other scheme. bearerToken has refused two
// Authorization headers already.
func dpopToken(values []string) (string, error) {
	if len(values) != 1 || len(values[0]) < 4 || !strings.EqualFold(values[0][:4], "dpop") {
		return "", errNoCredentials
	}
	rest := values[0][4:]
	token := strings.TrimLeft(rest, " ")
	if len(token) == len(rest) && rest != "" {
		return "", errNoCredentials // "DPoPx…": another scheme
	}
	if token == "" || strings.IndexByte(token, ' ') >= 0 {
		return "", errNotOneDPoPToken
	}
	return token, nil
}

// otherCredentials is credentials past Authorization, apart so that under Yaegi the common case
// does not allocate its locals.
func otherCredentials(sources *tokenSources, req *http.Request) (string, credentialSource, error) {
	if sources.apiKey {
		if values := req.Header["X-Api-Key"]; len(values) > 0 {
			if len(values) > 1 {
				return "", fromAPIKey, errTwoAPIKeys
			}
			return strings.TrimSpace(values[0]), fromAPIKey, nil
		}
	}
	if sources.header != "" {
		if values := req.Header[sources.header]; len(values) > 0 {
			if len(values) > 1 {
				return "", fromHeader, errTwoTokenHeaders
			}
			token := strings.TrimSpace(values[0])
			if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
				token = strings.TrimLeft(token[7:], " ")
			}
			if token == "" || strings.IndexByte(token, ' ') >= 0 || strings.EqualFold(token, "bearer") {
				return "", fromHeader, errNotOneToken
			}
			return token, fromHeader, nil
		}
	}
	if sources.cookie != "" {
		if token, err := cookieToken(req, sources.cookie); token != "" || err != nil {
			return token, fromCookie, err
		}
	}
	if sources.query != "" {
		if values := req.URL.Query()[sources.query]; len(values) > 0 {
			if len(values) > 1 {
				return "", fromQuery, errTwoQueryTokens
			}
			return values[0], fromQuery, nil
		}
	}
	return "", fromAuthorization, errNoCredentials
}

// cookieToken is the value of the cookie name, "" when there is none or it is empty. Two
// cookies of that name are refused: one is judged, and an upstream may read the other.
func cookieToken(req *http.Request, name string) (string, error) {
	token, found := "", false
	for _, cookie := range req.Cookies() {
		if cookie.Name != name {
			continue
		}
		if found {
			return "", errTwoTokenCookies
		}
		token, found = cookie.Value, true
	}
	return token, nil
}

// bearerToken extracts the token of an RFC 6750 Authorization header; the scheme is
// case-insensitive. Without bearer credentials at all it fails with errNoCredentials.
func bearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", errNoCredentials
	}
	if len(values) > 1 {
		return "", errTwoAuthorization
	}
	value := values[0]
	if len(value) < 7 || !strings.EqualFold(value[:7], "bearer ") {
		return "", otherScheme(value)
	}
	token := strings.TrimLeft(value[7:], " ")
	if token == "" || strings.IndexByte(token, ' ') >= 0 {
		return "", errNotOneBearerToken
	}
	return token, nil
}

// otherScheme judges an Authorization header that is not "Bearer <token>": "Bearer" alone (the
// client's trailing space trimmed on the way) is an invalid credential, never an anonymous
// request; another scheme carries no bearer credentials.
func otherScheme(value string) error {
	if strings.EqualFold(strings.TrimSpace(value), "bearer") {
		return errNotOneBearerToken
	}
	return errNoCredentials
}

// removeQueryToken takes tokenQueryParameter out of the URL the upstream receives, whatever
// carried the credentials, so that the token never reaches the upstream's logs.
func removeQueryToken(req *http.Request, name string) {
	if query, present := queryWithout(req.URL, name); present {
		req.URL.RawQuery = query
		req.RequestURI = req.URL.RequestURI()
	}
}

// queryWithout is u's query without the parameter name, and whether it was there.
func queryWithout(u *url.URL, name string) (string, bool) {
	query := u.Query()
	if _, present := query[name]; !present {
		return u.RawQuery, false
	}
	query.Del(name)
	return query.Encode(), true
}

// removeCredential takes the token out of the source that carried it (forwardAuthorization:
// false). Authorization and x-api-key go on every request that way; the query parameter always.
func removeCredential(req *http.Request, sources tokenSources) {
	delete(req.Header, "Authorization")
	delete(req.Header, "X-Api-Key")
	delete(req.Header, "Dpop")
	if sources.header != "" {
		delete(req.Header, sources.header)
	}
	if sources.cookie != "" {
		removeCookie(req, sources.cookie)
	}
}

// removeCookie rewrites the Cookie header without the cookie name.
func removeCookie(req *http.Request, name string) {
	cookies := req.Cookies()
	kept := make([]string, 0, len(cookies))
	found := false
	for _, cookie := range cookies {
		if cookie.Name == name {
			found = true
			continue
		}
		kept = append(kept, cookie.Name+"="+cookie.Value)
	}
	if !found {
		return
	}
	delete(req.Header, "Cookie")
	if len(kept) > 0 {
		req.Header.Set("Cookie", strings.Join(kept, "; "))
	}
}
