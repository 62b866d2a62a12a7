package withauth

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// conditionClaims are the claims the condition cases judge, decoded as verification decodes
// them (numbers as json.Number).
func conditionClaims(t testing.TB) map[string]interface{} {
	t.Helper()
	decoder := json.NewDecoder(strings.NewReader(`{"sub": "alice", "plan": "pro", "tier": 42, "beta": true, "suspended": null,
		"scope": "orders:read orders:write", "groups": ["ops", "dev", 7], "org": {"plan": "enterprise", "id": "acme"},
		"email": "alice@admin.example.com", "metadata": {"a": 1}}`))
	decoder.UseNumber()
	var claims map[string]interface{}
	if err := decoder.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestClaimConditionsHold: each function, the operators, absent claims (never a match, so !
// holds), null, objects, nested paths, numbers and booleans by their JSON text.
func TestClaimConditionsHold(t *testing.T) {
	claims := conditionClaims(t)
	cases := []struct {
		expression string
		want       bool
	}{
		{`Equals("plan", "pro")`, true},
		{`Equals("plan", "Pro")`, false},
		{`Equals("tier", "42")`, true},
		{`Equals("beta", "true")`, true},
		{`Equals("absent", "")`, false},
		{`!Equals("absent", "x")`, true},
		{`Equals("suspended", "null")`, false},
		{`!Equals("suspended", "true")`, true},
		{`Equals("org", "enterprise")`, false},
		{`Equals("org.plan", "enterprise")`, true},
		{`Prefix("email", "alice@")`, true},
		{`Prefix("groups", "op")`, false},
		{`Contains("groups", "ops")`, true},
		{`Contains("groups", "7")`, true},
		{`Contains("groups", "o")`, false},
		{`Contains("email", "@admin.")`, true},
		{`SplitContains("scope", " ", "orders:write")`, true},
		{`SplitContains("scope", " ", "orders")`, false},
		{`OneOf("plan", "pro", "enterprise")`, true},
		{`OneOf("org.plan", "pro")`, false},
		{`OneOf("plan", "free")`, false},
		{`Equals("metadata", "{}")`, false},
		{`Equals("plan", "pro") && (Contains("groups", "ops") || Prefix("email", "root@"))`, true},
		{`Equals("plan", "free") || !Contains("groups", "admins")`, true},
		{`!(Equals("plan", "pro") && Equals("beta", "true"))`, false},
		{"Equals(`plan`, `pro`)", true},
	}
	for _, tc := range cases {
		c, err := newConditions(tc.expression)
		if err != nil {
			t.Errorf("%s: %v; want it compiled", tc.expression, err)
			continue
		}
		if got := holds(c, claims); got != tc.want {
			t.Errorf("%s over %v: %v; want %v", tc.expression, claims, got, tc.want)
		}
	}
}

// TestClaimConditionsRefused: what is not the grammar is refused at load, naming the column
// and the fix.
func TestClaimConditionsRefused(t *testing.T) {
	cases := map[string]string{
		`Equals("plan", "pro"`:                       "claimConditions: at column 21: missing ','",
		`Eq("plan", "pro")`:                          `claimConditions: at column 1: "Eq" is not a function; use Equals, Prefix, Contains, SplitContains or OneOf`,
		`Equals("plan")`:                             "claimConditions: at column 1: Equals takes a claim and a value",
		`SplitContains("scope", "orders")`:           "SplitContains takes a claim, a separator and a value",
		`OneOf("plan")`:                              "OneOf takes a claim and one or more values",
		`Equals("tier", 42)`:                         "claimConditions: at column 16: is not a string literal",
		`Equals(plan, "pro")`:                        "claimConditions: at column 8: is not a string literal",
		`Equals("plan", "pro") == true`:              "the operator == is not one",
		`-Equals("plan", "pro")`:                     "the operator - is not one",
		`plan`:                                       "is neither a call nor &&, || or !",
		`strings.Contains("plan", "pro")`:            "calls something other than a function",
		`Equals("", "pro")`:                          "names no claim",
		`Equals("plan", "pro"...)`:                   "Equals takes a claim and a value",
		strings.Repeat("!", 40) + `Equals("a", "b")`: "nests deeper than 32",
		strings.Repeat(`Equals("a", "b") || `, 64) + `Equals("a", "b")`: "has more than 64 calls",
		strings.Repeat(" ", 5000) + `Equals("a", "b")`:                  "is 5016 bytes; keep it under 4096",
	}
	for expression, want := range cases {
		_, err := newConditions(expression)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v; want an error with %q", expression, err, want)
		}
	}
}

// TestClaimConditionsInARoute: unmet conditions are refused 403 with their own reason, before the
// roles are judged; met ones leave the requirements their say; a refused expression closes the
// route (500).
func TestClaimConditionsInARoute(t *testing.T) {
	config := pemConfig(t)
	config.Roles = []string{"admin"}
	config.ClaimConditions = `Equals("metadata.plan", "pro") && !Equals("suspended", "true")`
	handler := newHandler(t, config, &upstream{})
	cases := []struct {
		name    string
		changes map[string]interface{}
		status  int
		reason  string
	}{
		{"a pro admin", nil, http.StatusOK, ""},
		{"a suspended pro admin", map[string]interface{}{"suspended": true}, http.StatusForbidden, "claim_conditions"},
		{"a free admin", map[string]interface{}{"metadata": map[string]interface{}{"plan": "free"}}, http.StatusForbidden, "claim_conditions"},
		{"a free user without the role (conditions first)", map[string]interface{}{"metadata": map[string]interface{}{"plan": "free"}, "roles": []string{"reader"}}, http.StatusForbidden, "claim_conditions"},
		{"a pro user without the role", map[string]interface{}{"roles": []string{"reader"}}, http.StatusForbidden, "insufficient_scope"},
	}
	for _, tc := range cases {
		rec, _ := serve(handler, request(tokenWith(tc.changes)(t)))
		if reason := bodyField(rec.Body.Bytes(), "reason"); rec.Code != tc.status || (tc.reason != "" && reason != tc.reason) {
			t.Errorf("%s: %d %s; want %d %s", tc.name, rec.Code, reason, tc.status, tc.reason)
		}
	}
	refused := pemConfig(t)
	refused.ClaimConditions = `Equals("plan")`
	if line := newError(t, refused); !strings.Contains(line, "claimConditions: at column 1: Equals takes a claim and a value") {
		t.Errorf("a refused expression logged %q; want the column and the fix", line)
	}
}

// FuzzClaimConditions: compiling any text is bounded and never panics; what compiles is judged
// over claims without panicking.
func FuzzClaimConditions(f *testing.F) {
	for _, seed := range []string{`Equals("plan", "pro")`, `!(OneOf("a", "b", "c") || SplitContains("s", " ", "x")) && Prefix("e", "@")`,
		`Contains("groups", "ops"`, "((((", `Equals("a", "\xff")`} {
		f.Add(seed)
	}
	claims := conditionClaims(f)
	f.Fuzz(func(t *testing.T, expression string) {
		start := time.Now()
		c, err := newConditions(expression)
		if err == nil && c != nil {
			holds(c, claims)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "claimConditions: ") {
			t.Fatalf("newConditions(%q): %v; want an error naming claimConditions", expression, err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Fatalf("newConditions(%q) took %s", expression, elapsed)
		}
	})
}
