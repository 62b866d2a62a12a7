package withauth

// The refusal table's contract: every error a client can see has one row, one status, one
// stable reason, and a body and challenge made from them.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRefusalsCarryAReason: every refusal's JSON body has a stable reason code.
func TestRefusalsCarryAReason(t *testing.T) {
	expired := tokenWith(map[string]interface{}{"exp": 1000})
	for _, tc := range []struct {
		token  func(testing.TB) string
		config func(*Config)
		want   string
	}{
		{expired, nil, "expired"},
		{tamperedPayload, nil, "bad_signature"},
		{literal("garbage"), nil, "malformed_token"},
		{validToken, func(c *Config) { c.Roles = []string{"owner"} }, "insufficient_scope"},
		{nil, nil, "no_credentials"},
	} {
		config := pemConfig(t)
		if tc.config != nil {
			tc.config(config)
		}
		token := ""
		if tc.token != nil {
			token = tc.token(t)
		}
		rec, _ := serve(newHandler(t, config, &upstream{}), request(token))
		if got := bodyField(rec.Body.Bytes(), "reason"); got != tc.want {
			t.Errorf("status %d body %s: reason %q; want %q", rec.Code, rec.Body.String(), got, tc.want)
		}
	}
}

// TestEverySentinelHasOneRow: every sentinel errors.go declares (its own, and the token core's it
// names) has its row in refusalTable, once; every sentinel of the token core is named.
func TestEverySentinelHasOneRow(t *testing.T) {
	t.Parallel()
	declared := regexp.MustCompile(`(?m)^\s+err\w+\s+= (errors\.New\(|jose\.Err)`).FindAllString(string(readFixture(t, "../errors.go")), -1)
	if len(declared) != len(refusalTable) || len(refusals) != len(refusalTable) {
		t.Errorf("errors.go declares %d errors, refusalTable has %d rows for %d distinct errors; want one row for each", len(declared), len(refusalTable), len(refusals))
	}
	core := regexp.MustCompile(`(?m)^\s+(Err\w+)\s+= errors\.New\(`).FindAllStringSubmatch(string(readFixture(t, "../internal/jose/errors.go")), -1)
	named := string(readFixture(t, "../errors.go"))
	for _, sentinel := range core {
		if !strings.Contains(named, "jose."+sentinel[1]+"\n") {
			t.Errorf("internal/jose's %s is not named in errors.go; every error a client can see needs its row", sentinel[1])
		}
	}
}

// TestRefusalRows: each row's answer is made from it alone: a status withauth answers with, a
// stable snake_case reason, a body holding error, description (the error's text) and reason, and
// a challenge where RFC 6750 wants one.
func TestRefusalRows(t *testing.T) {
	t.Parallel()
	statuses := map[int]bool{400: true, 401: true, 403: true, 429: true, 500: true, 503: true}
	reason := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	for _, row := range refusalTable {
		r := refusals[row.err]
		if !statuses[row.status] || !reason.MatchString(row.reason) || r.status != row.status || r.reason != row.reason {
			t.Errorf("%q: status %d, reason %q; want one of 400, 401, 403, 429, 500, 503 and a snake_case reason", row.err, row.status, row.reason)
		}
		var body map[string]string
		if err := json.Unmarshal(r.body, &body); err != nil || body["error_description"] != row.err.Error() || body["reason"] != row.reason || body["error"] == "" {
			t.Errorf("%q: body %s; want error, its text as error_description, and reason %q", row.err, r.body, row.reason)
		}
		needsChallenge := row.status == http.StatusUnauthorized || row.status == http.StatusForbidden || row.status == http.StatusBadRequest
		if perRoute := r.perRoute || r.dpopError != ""; needsChallenge && !perRoute && !strings.HasPrefix(r.challenge, `Bearer realm="withauth"`) {
			t.Errorf("%q: challenge %q; want a Bearer challenge", row.err, r.challenge)
		}
	}
}

// TestRequestPathErrorsAreSentinels: refuse looks an error up by identity, so an error wrapped
// on the request path (fmt.Errorf's %w) would answer 500. Only key discovery wraps, and its
// errors stay in the key source's log line, never reaching refuse.
func TestRequestPathErrorsAreSentinels(t *testing.T) {
	t.Parallel()
	wrapping := regexp.MustCompile(`fmt\.Errorf\("[^"]*%w`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || file == "discovery.go" {
			continue
		}
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if wrapping.Match(text) {
			t.Errorf("%s wraps an error (%%w); errors reaching refuse must be the sentinels of refusalTable", file)
		}
	}
}
