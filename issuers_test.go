package withauth

import (
	"net/http"
	"strings"
	"testing"
)

// twoIssuers serves two issuers' key sets: a's holds key-1, b's key-2.
func twoIssuers(t *testing.T) (a, b *keyServer) {
	a = newKeyServer(t)
	a.set(http.StatusOK, jwksOf(t, jwkOf(&privateKey(t, "key-1").PublicKey, "key-1")))
	b = newKeyServer(t)
	b.set(http.StatusOK, jwksOf(t, jwkOf(&privateKey(t, "key-2").PublicKey, "key-2")))
	return a, b
}

func tokenOf(t testing.TB, key, kid, issuer string, changes map[string]interface{}) string {
	claims := userClaims(t, changes)
	claims["iss"] = issuer
	return signRS256(t, privateKey(t, key), rs256Header(kid), claims)
}

// TestSeveralIssuers: a token's iss picks its entry; one entry's keys never verify another's
// tokens; unknown issuers are refused before any key is fetched; audiences per entry.
func TestSeveralIssuers(t *testing.T) {
	a, b := twoIssuers(t)
	withoutRefreshFloor(t)
	config := CreateConfig()
	config.MinRefreshInterval = "0s"
	config.Audience = []string{"2a3b4c5d-client-id-example"}
	config.Issuers = []IssuerConfig{
		{Issuer: "https://a.example", JWKSURL: a.url()},
		{Issuer: "https://b.example", JWKSURL: b.url(), Audience: []string{"api-b"}},
	}
	handler := newHandler(t, config, &upstream{})
	cases := []struct {
		name   string
		token  string
		status int
		err    error // nil for 200
	}{
		{"a's token", tokenOf(t, "key-1", "key-1", "https://a.example", nil), 200, nil},
		{"b's token for b's audience", tokenOf(t, "key-2", "key-2", "https://b.example", map[string]interface{}{"aud": "api-b"}), 200, nil},
		{"b's token for the top-level audience", tokenOf(t, "key-2", "key-2", "https://b.example", nil), 401, errAudience},
		{"a's iss, signed with b's key", tokenOf(t, "key-2", "key-2", "https://a.example", nil), 401, errUnknownKey},
		{"b's iss, signed with a's key under b's kid", tokenOf(t, "key-1", "key-2", "https://b.example", map[string]interface{}{"aud": "api-b"}), 401, errBadSignature},
		{"an unknown issuer", tokenOf(t, "key-1", "key-1", "https://c.example", nil), 401, errIssuer},
		{"no issuer", tokenOf(t, "key-1", "key-1", "", nil), 401, errIssuer},
	}
	for _, tc := range cases {
		rec, _ := serve(handler, request(tc.token))
		if rec.Code != tc.status || tc.err != nil && errorDescription(rec) != tc.err.Error() {
			t.Errorf("%s: status %d (%s); want %d %v", tc.name, rec.Code, errorDescription(rec), tc.status, tc.err)
		}
	}
	before := a.requests.Load() + b.requests.Load()
	serve(handler, request(tokenOf(t, "key-1", "key-9", "https://c.example", nil)))
	if after := a.requests.Load() + b.requests.Load(); after != before {
		t.Errorf("a token of an unknown issuer with an unknown kid made %d key fetches; want none", after-before)
	}
}

func TestIssuersConfiguration(t *testing.T) {
	pemKey := string(readFixture(t, "keys/key-1.pub.pem"))
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"with issuer", func(c *Config) {
			c.Issuer = "https://a.example"
			c.Issuers = []IssuerConfig{{Issuer: "https://b.example"}}
		}, "issuers: cannot be combined with issuer"},
		{"with publicKey", func(c *Config) { c.PublicKey = pemKey; c.Issuers = []IssuerConfig{{Issuer: "https://b.example"}} }, "issuers: cannot be combined"},
		{"empty", func(c *Config) { c.Issuers = []IssuerConfig{} }, "issuers: is set but empty"},
		{"an entry without issuer", func(c *Config) { c.Issuers = []IssuerConfig{{JWKSURL: "https://a.example/jwks"}} }, "issuers[0].issuer: is required"},
		{"twice the same issuer", func(c *Config) {
			c.Issuers = []IssuerConfig{{Issuer: "https://a.example"}, {Issuer: "https://a.example"}}
		}, `issuers[1].issuer: "https://a.example" is also an earlier entry's`},
		{"a misspelled key in an entry", func(c *Config) {
			c.Given = map[string]interface{}{"issuers": []interface{}{map[string]interface{}{"issuer": "https://a.example", "jwksUri": "x"}}}
		}, `unknown key "issuers[0].jwksUri" (did you mean issuers[0].jwksUrl?)`},
		{"an entry's bad jwksUrl", func(c *Config) { c.Issuers = []IssuerConfig{{Issuer: "https://a.example", JWKSURL: "a.example/jwks"}} }, `issuers[0].jwksUrl: "a.example/jwks" is not an http(s) URL`},
		{"an entry's empty audience", func(c *Config) { c.Issuers = []IssuerConfig{{Issuer: "https://a.example", Audience: []string{}}} }, "issuers[0].audience: is set but empty"},
	} {
		config := CreateConfig()
		tc.change(config)
		if got := newError(t, config); !strings.Contains(got, tc.want) {
			t.Errorf("%s: New error %q; want it to contain %q", tc.name, got, tc.want)
		}
	}
}
