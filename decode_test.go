package withauth

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// sampleValues are valid values of every key as a provider hands them over, for the decoding
// tests: what the README's examples give.
func sampleValues(t testing.TB) map[string]interface{} {
	return map[string]interface{}{
		"jwksUrl": "https://idp.example/jwks", "issuer": "https://idp.example", "publicKey": string(readFixture(t, "keys/key-1.pub.pem")),
		"issuers":    []interface{}{map[string]interface{}{"issuer": "https://a.example", "jwksUrl": "https://a.example/jwks", "audience": []interface{}{"api"}}},
		"algorithms": "RS256,ES256", "authorizedParties": []interface{}{"web"}, "typ": "at+jwt", "audience": "api",
		"roles": []interface{}{"admin", "read-only"}, "permissions": "uploadFile", "grantWildcards": "true",
		"tenants": []interface{}{"acme"}, "tenantClaim": "tid", "stepUp": true, "stepUpMaxAge": "15m",
		"acrValues": []interface{}{"mfa"}, "amrValues": "otp", "rolesClaim": "realm_access.roles", "permissionsClaim": "scope",
		"clockSkew": "10s", "forwardHeaders": map[string]interface{}{"X-User-Id": "sub"}, "tokenHeader": "X-Auth-Token",
		"tokenCookie": "__session", "tokenQueryParameter": "access_token", "optional": "TRUE",
		"loginUrl": "https://login.example/?r={url}", "logRejections": "debug", "forwardAuthorization": "false",
		"skipPreflight": false, "refreshInterval": "5m", "minRefreshInterval": "10s", "httpTimeout": "3s",
		"cacheSize": "100", "claimsHeader": "X-Auth-Claims", "clientId": json.Number("12345"), "apiKey": "key",
		"apiGatewayUrl": "https://api.us.frontegg.com", "accessTokenGrants": "always", "maxTokenAge": "24h",
		"jwks": map[string]interface{}{"keys": []interface{}{}}, "caBundle": "-----BEGIN CERTIFICATE-----",
		"clientCertificate": "-----BEGIN CERTIFICATE-----", "clientKey": "-----BEGIN PRIVATE KEY-----",
		"introspectionUrl": "https://idp.example/introspect", "introspectionClientId": "withauth", "introspectionClientSecret": "secret",
		"introspect": "always", "introspectionCacheDuration": "10s", "dpop": "allowed", "dpopAlgorithms": "ES256, EdDSA",
		"dpopProofMaxAge": "30s", "certificateBound": "required", "introspectionRate": "20", "introspectionConcurrency": json.Number("4"),
		"dpopOrigins": "https://api.example.com", "dpopNonce": "required", "dpopNonceSecret": "0123456789abcdef0123456789abcdef",
		"dpopNonceLifetime": "2m", "replayStore": "redis://replay.example:6379/1",
		"apiKeyFile": "/run/secrets/api-key", "introspectionClientSecretFile": "/run/secrets/introspection", "clientKeyFile": "/run/secrets/client.key",
		"dpopNonceSecretFile": "/run/secrets/nonce", "replayStorePasswordFile": "/run/secrets/redis",
		"claimConditions": `Equals("plan", "pro")`, "upstreamTokenKey": "-----BEGIN PRIVATE KEY-----", "upstreamTokenKeyFile": "/run/secrets/upstream.key",
		"upstreamTokenIssuer": "https://gateway.example", "upstreamTokenHeader": "X-Assertion", "upstreamTokenLifetime": "2m",
		"upstreamTokenAudience": "api", "upstreamTokenClaims": []interface{}{"sub"}, "upstreamTokenPreviousKeys": []interface{}{"-----BEGIN PUBLIC KEY-----"},
		"upstreamJwksPath": "/.well-known/withauth-jwks.json",
	}
}

// TestEveryKeyIsDecoded: every key of the README decodes into its field, whatever shape the
// provider gives it (a label's string, YAML's list, JSON's number), matched case-insensitively.
func TestEveryKeyIsDecoded(t *testing.T) {
	values := sampleValues(t)
	for _, key := range settingKeys() {
		if _, ok := values[key]; !ok {
			t.Errorf("sampleValues lacks %q; give it a value so that its decoding is tested", key)
		}
	}
	config, err := decodeGiven(values)
	if err != nil {
		t.Fatalf("decodeGiven(the README's keys): %v; want every key accepted", err)
	}
	defaults := reflect.ValueOf(*CreateConfig())
	got := reflect.ValueOf(*config)
	for i := 0; i < got.NumField(); i++ {
		name := got.Type().Field(i).Name
		if !got.Type().Field(i).IsExported() {
			continue // read from a file, never given
		}
		if name != "Given" && name != "Now" && reflect.DeepEqual(got.Field(i).Interface(), defaults.Field(i).Interface()) {
			t.Errorf("Config.%s kept its default %v; want the given value decoded into it", name, got.Field(i).Interface())
		}
	}
	want := Config{Roles: []string{"admin", "read-only"}, Permissions: []string{"uploadFile"}, CacheSize: 100, GrantWildcards: true,
		ClientID: "12345", ForwardHeaders: map[string]string{"X-User-Id": "sub"}, Algorithms: []string{"RS256,ES256"},
		Issuers: []IssuerConfig{{Issuer: "https://a.example", JWKSURL: "https://a.example/jwks", Audience: []string{"api"}}}}
	if !reflect.DeepEqual(config.Roles, want.Roles) || !reflect.DeepEqual(config.Permissions, want.Permissions) || config.CacheSize != want.CacheSize ||
		config.GrantWildcards != want.GrantWildcards || config.ClientID != want.ClientID || !reflect.DeepEqual(config.ForwardHeaders, want.ForwardHeaders) ||
		!reflect.DeepEqual(config.Algorithms, want.Algorithms) || !reflect.DeepEqual(config.Issuers, want.Issuers) {
		t.Errorf("decoded %+v; want roles, permissions, cacheSize, grantWildcards, clientId, forwardHeaders, algorithms and issuers as %+v", *config, want)
	}
	upper, err := decodeGiven(map[string]interface{}{"ROLES": "admin", "JwksURL": "https://idp.example/jwks"})
	if err != nil || len(upper.Roles) != 1 || upper.JWKSURL != "https://idp.example/jwks" {
		t.Errorf("keys in other case: %+v, %v; want them matched as Traefik's decoder matches field names", upper, err)
	}
}

// TestKeysWithoutValueAreRefused: a key given as null or "" (an emptied YAML list, an empty
// label, an unset ${VARIABLE}) used to mean "not set": issuer: "" turned the iss check off,
// stepUp: "" step-up, roles: (null) every requirement. Every key, whatever its type, is
// refused by name, and so is an item or member without a value.
func TestKeysWithoutValueAreRefused(t *testing.T) {
	for _, key := range settingKeys() {
		for _, value := range []interface{}{nil, "", "  "} {
			config := givenConfig(t, map[string]interface{}{key: value})
			got := newError(t, config)
			if !strings.Contains(got, key+": is ") {
				t.Errorf("%s given as %#v: New logged %q; want the key named with what is wrong", key, value, got)
			}
		}
	}
	for name, given := range map[string]map[string]interface{}{
		"roles[1]":                   {"roles": []interface{}{"admin", nil}},
		"forwardHeaders.X-User-Name": {"forwardHeaders": map[string]interface{}{"X-User-Id": "sub", "X-User-Name": nil}},
		"issuers[0].issuer":          {"publicKey": nil, "issuers": []interface{}{map[string]interface{}{"issuer": ""}}},
		"issuers[0].audience":        {"publicKey": nil, "issuers": []interface{}{map[string]interface{}{"issuer": "https://a.example", "audience": nil}}},
		"forwardHeaders":             {"forwardHeaders": map[string]interface{}{}},
		"audience: is set but empty": {"audience": []interface{}{}},
	} {
		if given["publicKey"] == nil {
			delete(given, "publicKey")
		}
		config := givenConfig(t, given)
		if _, ok := given["issuers"]; ok {
			delete(config.Given, "publicKey")
		}
		if got := newError(t, config); !strings.Contains(got, name) {
			t.Errorf("%v: New logged %q; want %q named", given, got, name)
		}
	}
}

// TestGivenValuesOfTheWrongShapeAreRefused: what Traefik's decoder would have failed on (and
// so disabled the router) or coerced (a number for a boolean) is refused by name.
func TestGivenValuesOfTheWrongShapeAreRefused(t *testing.T) {
	for _, tc := range []struct {
		given map[string]interface{}
		want  string
	}{
		{map[string]interface{}{"cacheSize": "banana"}, `cacheSize: "banana" is not a whole number`},
		{map[string]interface{}{"stepUp": "yes"}, `stepUp: "yes" is not true or false`},
		{map[string]interface{}{"optional": 1.0}, `optional: "1" is not true or false`},
		{map[string]interface{}{"issuer": []interface{}{"https://a.example"}}, "issuer: is a list; give one value"},
		{map[string]interface{}{"roles": map[string]interface{}{"admin": true}}, "roles: is an object; give a list of names"},
		{map[string]interface{}{"roles": []interface{}{[]interface{}{"admin"}}}, "roles[0]: is a list"},
		{map[string]interface{}{"forwardHeaders": "X-User-Id"}, "forwardHeaders: is a single value"},
		{map[string]interface{}{"issuers": map[string]interface{}{"issuer": "https://a.example"}}, "issuers: is an object"},
		{map[string]interface{}{"roles": "admin", "Roles": "owner"}, `is given twice`},
	} {
		if got := newError(t, givenConfig(t, tc.given)); !strings.Contains(got, tc.want) {
			t.Errorf("%v: New logged %q; want it to contain %q", tc.given, got, tc.want)
		}
	}
}

// TestGivenIsNeverModified: Traefik decodes a middleware's configuration once and calls New
// with it for every router that uses it, on every reload.
func TestGivenIsNeverModified(t *testing.T) {
	config := givenConfig(t, map[string]interface{}{"roles": "owner", "cacheSize": "5"})
	before := len(config.Given)
	for i := 0; i < 2; i++ {
		next := &upstream{}
		rec, _ := serve(newHandler(t, config, next), request(validToken(t)))
		if rec.Code != http.StatusForbidden {
			t.Fatalf("New %d: a read-only token got %d; want 403 (roles: owner applied)", i+1, rec.Code)
		}
	}
	if len(config.Given) != before || config.Roles != nil || config.CacheSize != 10000 {
		t.Errorf("New changed the configuration it was given: %d keys (want %d), typed roles %v, cacheSize %d; want it left as Traefik made it", len(config.Given), before, config.Roles, config.CacheSize)
	}
}
