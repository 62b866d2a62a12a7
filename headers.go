package withauth

// Which request headers withauth owns: forwarded names, their spellings, stripping.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// defaultForwardHeaders are the identity headers of a middleware without forwardHeaders. Every
// spelling of them is stripped from every request, whatever forwardHeaders says: a backend
// written against the defaults must never read a client's value in them.
var defaultForwardHeaders = []string{"X-User-Id", "X-Tenant-Id", "X-User-Email", "X-User-Roles", "X-User-Permissions"}

// headersNotForwardable are headers whose meaning to the upstream, to HTTP itself or to withauth
// a claim must not replace: withauth reads the credentials (Authorization, DPoP, Frontegg's
// x-api-key) and the client's address (X-Real-Ip) from them, and a name one route forwards is
// stripped from every request of every route.
var headersNotForwardable = map[string]bool{
	"Authorization": true, "Host": true, "Content-Length": true, "Content-Type": true,
	"Transfer-Encoding": true, "Connection": true, "Cookie": true, "Te": true, "Upgrade": true,
	"Dpop": true, "Dpop-Nonce": true, "X-Api-Key": true, "X-Real-Ip": true, "X-Forwarded-For": true,
	"X-Forwarded-Host": true, "X-Forwarded-Proto": true, "X-Forwarded-Port": true, "X-Forwarded-Prefix": true,
	"Forwarded": true,
}

// forwardedHeader sets a request header for the upstream from a claim, or from all of them.
type forwardedHeader struct {
	name      string // canonical form
	claim     claimPath
	allClaims bool
	// asList renders the claim as meets reads it: set for the roles and permissions claims.
	asList bool
	// isUserID: the claim is "id", which names the user id withauth computes (userID), never
	// a token's own "id" claim.
	isUserID bool
}

// headerKey is the form every spelling of a header name shares: CGI-style servers (WSGI, PHP,
// Rack) read X-User-Id, X_User_Id and x-user_id all as HTTP_X_USER_ID. Linear in the name.
func headerKey(name string) string {
	return http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
}

func newForwardedHeaders(configured map[string]string, rolesClaim, permissionsClaim, claimsHeader string) ([]forwardedHeader, error) {
	if len(configured) == 0 {
		configured = map[string]string{
			"X-User-Id":          "id",
			"X-Tenant-Id":        "tenantId",
			"X-User-Email":       "email",
			"X-User-Roles":       strings.TrimSpace(rolesClaim),
			"X-User-Permissions": strings.TrimSpace(permissionsClaim),
		}
	}
	// Sorted, so that a clash is reported the same way on every load.
	var names []string
	for header := range configured {
		names = append(names, header)
	}
	sort.Strings(names)
	var headers []forwardedHeader
	spelledAs := map[string]string{}
	for _, header := range names {
		name := http.CanonicalHeaderKey(strings.TrimSpace(header))
		if !isHeaderName(name) || headersNotForwardable[headerKey(name)] {
			return nil, fmt.Errorf("forwardHeaders: %q cannot carry a claim; use a header name of your own such as X-User-Id", header)
		}
		if other, clash := spelledAs[headerKey(name)]; clash {
			return nil, fmt.Errorf("forwardHeaders: %q and %q are the same header to a backend (case, and _ for -, do not count); keep one", other, header)
		}
		spelledAs[headerKey(name)] = header
		claim := strings.TrimSpace(configured[header])
		if claim == "" {
			return nil, fmt.Errorf("forwardHeaders.%s: names no claim; give a claim such as sub", header)
		}
		// One rendering of a list, whichever header carries it: the roles and permissions
		// claims, and OAuth's space-separated scope (RFC 8693's scope, scp), comma-joined.
		asList := claim == strings.TrimSpace(rolesClaim) || claim == strings.TrimSpace(permissionsClaim) || claim == "scope" || claim == "scp"
		headers = append(headers, forwardedHeader{name: name, claim: newClaimPath(claim), asList: asList, isUserID: claim == "id"})
	}
	if claimsHeader = strings.TrimSpace(claimsHeader); claimsHeader != "" {
		name := http.CanonicalHeaderKey(claimsHeader)
		if !isHeaderName(name) || headersNotForwardable[headerKey(name)] {
			return nil, fmt.Errorf("claimsHeader: %q cannot carry the claims; use a header name of your own such as X-Auth-Claims", claimsHeader)
		}
		if other, clash := spelledAs[headerKey(name)]; clash {
			return nil, fmt.Errorf("claimsHeader: %q is also forwardHeaders' %q; give the claims a header of their own", claimsHeader, other)
		}
		headers = append(headers, forwardedHeader{name: name, allClaims: true})
	}
	return headers, nil
}

// forwardsHeader reports whether name is one of the default identity headers or of forward's,
// in any spelling.
func forwardsHeader(forward []forwardedHeader, name string) bool {
	key := headerKey(name)
	for _, h := range forward {
		if headerKey(h.name) == key {
			return true
		}
	}
	for _, d := range defaultForwardHeaders {
		if headerKey(d) == key {
			return true
		}
	}
	return false
}

// maxListedDashes bounds the spellings listed per owned name, 2^dashes of them. Listing them
// keeps the request path at one map lookup a header: under Yaegi a call into headerKey costs
// about 1 µs and 8 allocations, once for every header of every request.
const maxListedDashes = 6

// ownedNames are the identity headers of the whole process, as the request path reads them:
// every withauth middleware strips every name any of them forwards (and the defaults), so that
// a header one route forwards cannot be spoofed through another route to the same backend.
// A snapshot is never modified; registering names stores a new one.
type ownedNames struct {
	// spellings lists every spelling of the names of at most maxListedDashes dashes as Go's
	// server canonicalizes it (X_user_id, X-User_id, ...), which is how Traefik's entry points
	// (HTTP/1 and HTTP/2 alike) hand header names on.
	spellings map[string]bool
	// longKeys holds the headerKey of the longer names, nil when there are none: then every
	// request header name is normalized as well. Linear in the names either way.
	longKeys map[string]bool
}

// headerRegistry holds the identity header names of the process: New adds a middleware's
// forwarded names. It only grows, bounded by the names configurations have given since Traefik
// started: a middleware of an older configuration may still serve requests, and stripping a name
// no route forwards any more costs nothing but that name. It never refuses a configuration, so
// that New depends on its configuration alone, whatever loaded before.
type headerRegistry struct {
	mu    sync.Mutex
	names []string        // the headerKey of every owned name, in the order first given
	keys  map[string]bool // their headerKeys
	// owned is the *ownedNames of the registered names, read by every request: a middleware
	// built before another registered more names (the first configuration's earlier routes)
	// must strip them too. Under Yaegi the load and assertion cost 9 allocations a request (86
	// to 95 a cache hit); a snapshot per middleware with an atomic generation check cost 13,
	// so this is the cheapest measured.
	owned atomic.Value
}

// newHeaderRegistry holds the default identity headers.
func newHeaderRegistry() *headerRegistry {
	r := &headerRegistry{keys: make(map[string]bool)}
	for _, name := range defaultForwardHeaders {
		r.addLocked(name)
	}
	r.storeLocked()
	return r
}

// register adds a middleware's forwarded names. A route whose tokenHeader another route
// forwards still reads its tokens from it (stripOwnedKeepingTokenHeader), and never passes it on.
func (r *headerRegistry) register(forward []forwardedHeader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	grown := false
	for _, h := range forward {
		grown = r.addLocked(h.name) || grown
	}
	if grown {
		r.storeLocked()
	}
}

func (r *headerRegistry) addLocked(name string) bool {
	key := headerKey(name)
	if r.keys[key] {
		return false
	}
	r.keys[key] = true
	r.names = append(r.names, key)
	return true
}

// storeLocked stores the snapshot of the registered names.
func (r *headerRegistry) storeLocked() {
	owned := &ownedNames{spellings: make(map[string]bool)}
	for _, key := range r.names {
		parts := strings.Split(key, "-")
		if len(parts)-1 > maxListedDashes {
			if owned.longKeys == nil {
				owned.longKeys = make(map[string]bool)
			}
			owned.longKeys[key] = true
			continue
		}
		for choice := 0; choice < 1<<(len(parts)-1); choice++ {
			spelling := parts[0]
			for i, part := range parts[1:] {
				separator := "-"
				if choice&(1<<i) != 0 {
					separator = "_"
				}
				spelling += separator + part
			}
			owned.spellings[http.CanonicalHeaderKey(spelling)] = true
		}
	}
	r.owned.Store(owned)
}

// stripOwnedKeepingTokenHeader strips the owned names from a request of a route that reads tokens
// from tokenHeader (canonical): a token header that some route forwards as an identity header is
// still the route's credential, read from its own spelling. It is kept only for a request
// without Authorization (which otherwise carries the credential), and tokenHeaderOwned tells
// whether it must never reach the upstream.
func stripOwnedKeepingTokenHeader(header http.Header, owned *ownedNames, tokenHeader string) (tokenHeaderOwned bool) {
	token := header[tokenHeader]
	for name := range header {
		if owned.spellings[name] {
			delete(header, name)
		}
	}
	if owned.longKeys != nil {
		stripNormalized(owned.longKeys, header)
	}
	if _, stripped := header[tokenHeader]; token == nil || stripped {
		return false
	}
	if header["Authorization"] == nil {
		header[tokenHeader] = token
	}
	return true
}

// stripNormalized deletes the headers whose headerKey is one of keys.
func stripNormalized(keys map[string]bool, header http.Header) {
	for name := range header {
		if keys[headerKey(name)] {
			delete(header, name)
		}
	}
}

// isHeaderName reports whether name is an RFC 9110 token.
func isHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
