package withauth

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
		headers = append(headers, forwardedHeader{name: name, claim: newClaimPath(claim)})
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

// ownedHeaders returns the headerKey of every header withauth owns (the forwarded ones and the
// defaults), and which name lengths they have: headerKey keeps a name's length, so the
// request path normalizes only names of an owned length.
func ownedHeaders(forward []forwardedHeader) (map[string]bool, []bool) {
	keys := make(map[string]bool)
	longest := 0
	add := func(name string) {
		keys[headerKey(name)] = true
		if len(name) > longest {
			longest = len(name)
		}
	}
	for _, name := range defaultForwardHeaders {
		add(name)
	}
	for _, h := range forward {
		add(h.name)
	}
	lengths := make([]bool, longest+1)
	for key := range keys {
		lengths[len(key)] = true
	}
	return keys, lengths
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
