package withauth

// Which request headers withauth owns: forwarded names, their spellings, stripping.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// defaultForwardHeaders are the identity headers of a middleware without forwardHeaders. Every
// spelling of them is stripped from every request, whatever forwardHeaders says: a backend
// written against the defaults must never read a client's value in them.
var defaultForwardHeaders = []string{"X-User-Id", "X-Tenant-Id", "X-User-Email", "X-User-Roles", "X-User-Permissions"}

// headersNotForwardable are headers whose meaning to the upstream or to HTTP itself a claim
// must not replace.
var headersNotForwardable = map[string]bool{
	"Authorization": true, "Host": true, "Content-Length": true, "Content-Type": true,
	"Transfer-Encoding": true, "Connection": true, "Cookie": true, "Te": true, "Upgrade": true,
}

// forwardedHeader sets a request header for the upstream from a claim, or from all of them.
type forwardedHeader struct {
	name      string // canonical form
	claim     claimPath
	allClaims bool
	// asList renders the claim as meets reads it: set for the roles and permissions claims.
	asList bool
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
		asList := claim == strings.TrimSpace(rolesClaim) || claim == strings.TrimSpace(permissionsClaim)
		headers = append(headers, forwardedHeader{name: name, claim: newClaimPath(claim), asList: asList})
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

// maxListedDashes bounds the spellings listed per owned name, 2^dashes of them. Listing them
// keeps the request path at one map lookup a header: under Yaegi a call into headerKey costs
// about 1 µs and 8 allocations, once for every header of every request.
const maxListedDashes = 6

// ownedHeaders returns the headerKey of every identity header withauth owns (the forwarded ones
// and the defaults) and, when none has more than maxListedDashes dashes, every spelling of them
// as Go's server canonicalizes it (X_user_id, X-User_id, ...), which is how Traefik's entry
// points (HTTP/1 and HTTP/2 alike) hand header names on. Past that it returns no
// spellings, and every request header name is normalized instead: linear in the names either way.
func ownedHeaders(forward []forwardedHeader) (keys, spellings map[string]bool) {
	names := append([]string{}, defaultForwardHeaders...)
	for _, h := range forward {
		names = append(names, h.name)
	}
	keys = make(map[string]bool)
	spellings = make(map[string]bool)
	for _, name := range names {
		key := headerKey(name)
		keys[key] = true
		parts := strings.Split(key, "-")
		if spellings == nil || len(parts)-1 > maxListedDashes {
			spellings = nil
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
			spellings[http.CanonicalHeaderKey(spelling)] = true
		}
	}
	return keys, spellings
}

// stripNormalized deletes the headers whose headerKey is owned.
func stripNormalized(owned map[string]bool, header http.Header) {
	for name := range header {
		if owned[headerKey(name)] {
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
