package withauth

import (
	"regexp"
	"testing"
	"time"
)

// challengeSyntax is RFC 6750 section 3's challenge as withauth writes it: error_description
// may hold only %x20-21 / %x23-5B / %x5D-7E (no double quote, no backslash).
var challengeSyntax = regexp.MustCompile(`^Bearer realm="withauth"(, error="(invalid_request|invalid_token|insufficient_scope)", error_description="[\x20\x21\x23-\x5B\x5D-\x7E]*")?$`)

// TestChallengesAreWellFormed: every WWW-Authenticate challenge parses as RFC 6750 says, so that
// clients read the error and its description: no description may hold a double quote, which
// would end the quoted string early.
func TestChallengesAreWellFormed(t *testing.T) {
	config := pemConfig(t)
	config.Roles = []string{"owner"}
	handler := newHandler(t, config, &upstream{})
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no token", nil},
		{"another scheme", []string{"Basic YWRhOnB3"}},
		{"bearer without a token", []string{"Bearer "}},
		{"a space in the token", []string{"Bearer a b"}},
		{"two headers", []string{"Bearer a", "Bearer b"}},
		{"garbage", []string{"Bearer garbage"}},
		{"forged", []string{"Bearer " + tamperedPayload(t)}},
		{"expired", []string{"Bearer " + tokenWith(map[string]interface{}{"exp": time.Now().Unix() - 3600})(t)}},
		{"alg none", []string{"Bearer " + segment(t, map[string]string{"alg": "none"}) + "." + segment(t, userClaims(t, nil)) + "."}},
		{"lacking the role", []string{"Bearer " + validToken(t)}},
	} {
		req := request("")
		if tc.header != nil {
			req.Header["Authorization"] = tc.header
		}
		rec, _ := serve(handler, req)
		if challenge := rec.Header().Get("WWW-Authenticate"); !challengeSyntax.MatchString(challenge) {
			t.Errorf("%s: status %d, WWW-Authenticate %s; want an RFC 6750 challenge (no \" or \\ in error_description)", tc.name, rec.Code, challenge)
		}
	}
}
