package withauth

import (
	"fmt"
	"strings"
)

// Every configuration key, in one table: its name as the README spells it, its kind, its
// default, one line of what it means, and how a given value is read into Config. Decoding
// (decode.go), "did you mean" and the README's configuration reference all read this table.

// setting is one configuration key.
type setting struct {
	key  string // as the README spells it; matched case-insensitively
	kind string
	def  string // the default, as the README shows it ("" for none)
	doc  string // one line, for the README's configuration table
	set  func(c *Config, key string, value interface{}) error
}

// settings is the configuration's schema, in the README's order.
var settings = []setting{
	// Whose tokens, with which keys.
	{"jwksUrl", "string", "", "JWKS endpoint (Frontegg: `https://<app-domain>/.well-known/jwks.json`); a discovery document given here is refused, its `jwks_uri` named.",
		text(func(c *Config) *string { return &c.JWKSURL })},
	{"issuer", "string", "", "Expected `iss`, exact match. Without another key source, keys are discovered from it (OpenID discovery, RFC 8414, else `<issuer>/.well-known/jwks.json`).",
		text(func(c *Config) *string { return &c.Issuer })},
	{"publicKey", "PEM", "", "One PEM public key (RSA, EC P-256/384/521, Ed25519) verifying every token; `\\n` escapes accepted.",
		text(func(c *Config) *string { return &c.PublicKey })},
	{"jwks", "JWKS", "", "A key set given in the configuration (JSON text, or an object), never fetched; one holding a private member is refused.",
		keySet(func(c *Config) *string { return &c.JWKS })},
	{"issuers", "list of {issuer, jwksUrl, audience}", "", "Several issuers: the token's `iss` picks the entry whose keys (its `jwksUrl`, or discovery) and `audience` apply.",
		issuers(func(c *Config) *[]IssuerConfig { return &c.Issuers })},
	{"clientId", "string", "env `FRONTEGG_CLIENT_ID`", "Frontegg vendor mode (with `apiKey`), when no other key source is set: keys from Frontegg's API, access tokens in `x-api-key`.",
		text(func(c *Config) *string { return &c.ClientID })},
	{"apiKey", "string (secret)", "env `FRONTEGG_API_KEY`", "The vendor's Frontegg API key (vendor mode); never logged.",
		text(func(c *Config) *string { return &c.APIKey })},
	{"apiKeyFile", "path", "", "A file holding `apiKey` instead (a mounted Secret): read at load, one trailing newline trimmed; Traefik's API and dashboard show the path only.",
		text(func(c *Config) *string { return &c.APIKeyFile })},
	{"apiGatewayUrl", "string", "env `FRONTEGG_API_GATEWAY_URL`, then `https://api.frontegg.com`", "Frontegg's API for the vendor's region (`https://api.us.frontegg.com`, `…au…`, `…ca…`).",
		text(func(c *Config) *string { return &c.APIGatewayURL })},
	// The token.
	{"algorithms", "list", "`RS256`", "Accepted JWS algorithms: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA; a key verifies only what its type allows; `none` and HS* never.",
		list(func(c *Config) *[]string { return &c.Algorithms })},
	{"typ", "list", "", "If set, the header's `typ` must be one of them (`at+jwt` = `application/at+jwt`, any case).",
		list(func(c *Config) *[]string { return &c.Typ })},
	{"audience", "list", "", "If set, `aud` must hold one of them.",
		list(func(c *Config) *[]string { return &c.Audience })},
	{"authorizedParties", "list", "", "If set, `azp` (else `client_id`) must be one of them.",
		list(func(c *Config) *[]string { return &c.AuthorizedParties })},
	{"clockSkew", "duration", "`30s`", "Leeway for `exp`, `nbf` and `iat`.",
		text(func(c *Config) *string { return &c.ClockSkew })},
	{"maxTokenAge", "duration", "", "If set (at least `1s`), a token whose `exp` − `iat` exceeds it, or without `iat`, is refused (`token_lifetime`).",
		text(func(c *Config) *string { return &c.MaxTokenAge })},
	// What the route requires.
	{"roles", "list", "", "Any of them must be in the roles claim (with `permissions` too: both must pass).",
		list(func(c *Config) *[]string { return &c.Roles })},
	{"permissions", "list", "", "Any of them must be in the permissions claim.",
		list(func(c *Config) *[]string { return &c.Permissions })},
	{"rolesClaim", "string", "`roles`", "The roles claim: a dotted path reaches nested claims (`realm_access.roles`); a JSON array, a space-separated string or an object's keys.",
		text(func(c *Config) *string { return &c.RolesClaim })},
	{"permissionsClaim", "string", "`permissions`", "The permissions claim, read as `rolesClaim` is (`scope`, `scp` for OAuth scopes).",
		text(func(c *Config) *string { return &c.PermissionsClaim })},
	{"claimConditions", "expression", "", "Conditions on any claim, judged before `roles` and `permissions`: `Equals`, `Prefix`, `Contains`, `SplitContains`, `OneOf` of a claim and string values, with `&&`, `||`, `!` (`Equals(\"plan\", \"pro\") && !Equals(\"suspended\", \"true\")`); unmet: 403 `claim_conditions`.",
		text(func(c *Config) *string { return &c.ClaimConditions })},
	{"grantWildcards", "bool", "`false`", "A granted `prefix.*` covers the required names under `prefix.` (Frontegg's entitlements).",
		flag(func(c *Config) *bool { return &c.GrantWildcards })},
	{"tenants", "list", "", "If set, the tenant claim must be one string equal to one of them.",
		list(func(c *Config) *[]string { return &c.Tenants })},
	{"tenantClaim", "string", "`tenantId`", "The tenant claim (a dotted path reaches nested claims).",
		text(func(c *Config) *string { return &c.TenantClaim })},
	{"stepUp", "bool", "`false`", "Multi-factor step-up (`acr`, `amr`), else 401 with RFC 9470's challenge.",
		flag(func(c *Config) *bool { return &c.StepUp })},
	{"stepUpMaxAge", "duration", "", "With `stepUp`, the longest time since `auth_time`.",
		text(func(c *Config) *string { return &c.StepUpMaxAge })},
	{"acrValues", "list", "Frontegg's multi-factor `acr`", "With `stepUp`, the accepted `acr` values.",
		list(func(c *Config) *[]string { return &c.AcrValues })},
	{"amrValues", "list", "`mfa` and one of otp, sms, hwk, sso", "With `stepUp`, the `amr` values of which the token must hold one.",
		list(func(c *Config) *[]string { return &c.AmrValues })},
	{"accessTokenGrants", "string", "", "`always`: forward Frontegg access tokens' real roles and permissions on every route (vendor mode).",
		text(func(c *Config) *string { return &c.AccessTokenGrants })},
	{"optional", "bool", "`false`", "No credentials at all: the request passes, every identity header stripped; invalid ones are still refused.",
		flag(func(c *Config) *bool { return &c.Optional })},
	// What the upstream receives.
	{"forwardHeaders", "map header → claim", "`X-User-Id`, `X-Tenant-Id`, `X-User-Email`, `X-User-Roles`, `X-User-Permissions`", "Headers set for the upstream from claims; setting it replaces the defaults.",
		headers(func(c *Config) *map[string]string { return &c.ForwardHeaders })},
	{"claimsHeader", "string", "", "A header carrying the verified claims as base64url JSON.",
		text(func(c *Config) *string { return &c.ClaimsHeader })},
	{"forwardAuthorization", "bool", "`true`", "Pass the token on to the upstream in the source that carried it; `false` removes every token source.",
		flag(func(c *Config) *bool { return &c.ForwardAuthorization })},
	// Where the token comes from, and answers for browsers.
	{"tokenHeader", "string", "", "A header of your own carrying the token, tried after `Authorization` (and `x-api-key`).",
		text(func(c *Config) *string { return &c.TokenHeader })},
	{"tokenCookie", "string", "", "A cookie carrying the token, tried after `tokenHeader`.",
		text(func(c *Config) *string { return &c.TokenCookie })},
	{"tokenQueryParameter", "string", "", "A query parameter carrying the token, tried last, always removed from the URL the upstream receives.",
		text(func(c *Config) *string { return &c.TokenQueryParameter })},
	{"loginUrl", "string", "", "Browser navigations that would get 401 get 302 to it; `{url}` becomes the escaped URL they asked for.",
		text(func(c *Config) *string { return &c.LoginURL })},
	{"skipPreflight", "bool", "`true`", "A CORS preflight passes without a token, its credentials stripped.",
		flag(func(c *Config) *bool { return &c.SkipPreflight })},
	{"logRejections", "string", "`off`", "`debug` or `error`: one line per refused request in Traefik's log, at most 10 a second; `debug` lines show only with Traefik's `log.level: DEBUG`, `error` ones at its default level.",
		text(func(c *Config) *string { return &c.LogRejections })},
	// Keys and caching.
	{"refreshInterval", "duration", "`10m`", "How long fetched keys are used before they are fetched again, in the background.",
		text(func(c *Config) *string { return &c.RefreshInterval })},
	{"minRefreshInterval", "duration", "`5s`", "Least time between fetches an unknown `kid` or a failing endpoint causes; at least `1s`.",
		text(func(c *Config) *string { return &c.MinRefreshInterval })},
	{"httpTimeout", "duration", "`5s`", "Timeout of every call to a key endpoint, Frontegg's API or an introspection endpoint.",
		text(func(c *Config) *string { return &c.HTTPTimeout })},
	{"caBundle", "PEM", "", "Certificate authorities trusted beside the system's by every fetch (and `rediss://`).",
		text(func(c *Config) *string { return &c.CABundle })},
	{"clientCertificate", "PEM", "", "A client certificate presented to an identity provider that requires mutual TLS (with `clientKey`).",
		text(func(c *Config) *string { return &c.ClientCertificate })},
	{"clientKey", "PEM (secret)", "", "The private key of `clientCertificate`.",
		text(func(c *Config) *string { return &c.ClientKey })},
	{"clientKeyFile", "path", "", "A file holding `clientKey` instead.",
		text(func(c *Config) *string { return &c.ClientKeyFile })},
	{"cacheSize", "int", "`10000`", "Verified tokens remembered until they expire, per configuration; `0` disables; 64 MiB for the whole Traefik.",
		number(func(c *Config) *int { return &c.CacheSize })},
	// Opaque and bound tokens.
	{"introspectionUrl", "string", "", "An RFC 7662 introspection endpoint: tokens that are not JWTs are judged by its answer.",
		text(func(c *Config) *string { return &c.IntrospectionURL })},
	{"introspectionClientId", "string", "", "The client withauth authenticates as at the endpoint (HTTP Basic, with the secret).",
		text(func(c *Config) *string { return &c.IntrospectionClientID })},
	{"introspectionClientSecret", "string (secret)", "", "Its secret; never logged.",
		text(func(c *Config) *string { return &c.IntrospectionClientSecret })},
	{"introspectionClientSecretFile", "path", "", "A file holding `introspectionClientSecret` instead.",
		text(func(c *Config) *string { return &c.IntrospectionClientSecretFile })},
	{"introspect", "string", "`opaque`", "`always`: JWTs are introspected too, after their signature, so that a revoked one is refused.",
		text(func(c *Config) *string { return &c.Introspect })},
	{"introspectionCacheDuration", "duration", "`30s`", "How long an active answer is trusted, never past its `exp`.",
		text(func(c *Config) *string { return &c.IntrospectionCacheDuration })},
	{"introspectionRate", "int", "`100`", "Calls a second this Traefik makes to the endpoint, shared fairly by client address.",
		number(func(c *Config) *int { return &c.IntrospectionRate })},
	{"introspectionConcurrency", "int", "`8`", "Calls in flight at a time to the endpoint.",
		number(func(c *Config) *int { return &c.IntrospectionConcurrency })},
	{"dpop", "string", "`off`", "`allowed`: a DPoP-bound token (`cnf.jkt`) needs `Authorization: DPoP` and its proof; `required`: only DPoP-bound tokens.",
		text(func(c *Config) *string { return &c.DPoP })},
	{"dpopOrigins", "list", "(required with `dpop`)", "The origins (`scheme://host[:port]`) a proof's `htu` may name, with the request's path; never the client's `Host`.",
		list(func(c *Config) *[]string { return &c.DPoPOrigins })},
	{"dpopAlgorithms", "list", "`ES256, EdDSA, PS256, RS256`", "The proofs' accepted algorithms.",
		list(func(c *Config) *[]string { return &c.DPoPAlgorithms })},
	{"dpopProofMaxAge", "duration", "`60s`", "How old a proof's `iat` may be (`1s`–`10m`; at most 5 s ahead).",
		text(func(c *Config) *string { return &c.DPoPProofMaxAge })},
	{"dpopNonce", "string", "`off`", "`required`: proofs carry a nonce withauth issued (RFC 9449 §8–9), else 401 `use_dpop_nonce` with one.",
		text(func(c *Config) *string { return &c.DPoPNonce })},
	{"dpopNonceSecret", "string (secret)", "", "At least 32 bytes, the same on every replica: replicas accept each other's nonces.",
		text(func(c *Config) *string { return &c.DPoPNonceSecret })},
	{"dpopNonceSecretFile", "path", "", "A file holding `dpopNonceSecret` instead.",
		text(func(c *Config) *string { return &c.DPoPNonceSecretFile })},
	{"dpopNonceLifetime", "duration", "`5m`", "The longest a nonce lives (`10s`–`1h`); a fresh one is offered from half of it.",
		text(func(c *Config) *string { return &c.DPoPNonceLifetime })},
	{"replayStore", "string", "`process`", "Where used DPoP proofs are recorded: this Traefik, or `redis://[user:password@]host:port[/db]` (`rediss://`) shared by every replica.",
		text(func(c *Config) *string { return &c.ReplayStore })},
	{"replayStorePasswordFile", "path", "", "A file holding the password of `replayStore`'s Redis instead of its URL (`redis://[user@]host:port`).",
		text(func(c *Config) *string { return &c.ReplayStorePasswordFile })},
	{"certificateBound", "string", "`off`", "`allowed`: a token with `cnf[\"x5t#S256\"]` needs that TLS client certificate; `required`: only such tokens.",
		text(func(c *Config) *string { return &c.CertificateBound })},
	// A signed identity for the upstream.
	{"upstreamTokenKey", "PEM (secret)", "", "An EC P-256 (ES256) or Ed25519 (EdDSA) private key: each grant's identity is also sent as a JWT it signs, which backends verify with `upstreamJwksPath`'s keys.",
		text(func(c *Config) *string { return &c.UpstreamTokenKey })},
	{"upstreamTokenKeyFile", "path", "", "A file holding `upstreamTokenKey` instead.",
		text(func(c *Config) *string { return &c.UpstreamTokenKeyFile })},
	{"upstreamTokenIssuer", "string", "(required with the key)", "The assertion's `iss`.",
		text(func(c *Config) *string { return &c.UpstreamTokenIssuer })},
	{"upstreamTokenHeader", "string", "`X-Withauth-Assertion`", "The header carrying the assertion; a client's own is always replaced.",
		text(func(c *Config) *string { return &c.UpstreamTokenHeader })},
	{"upstreamTokenLifetime", "duration", "`60s`", "How long an assertion is valid (`10s`–`10m`, never past the token); renewed a quarter of it before it expires.",
		text(func(c *Config) *string { return &c.UpstreamTokenLifetime })},
	{"upstreamTokenAudience", "string", "the request's `Host`", "The assertion's `aud`.",
		text(func(c *Config) *string { return &c.UpstreamTokenAudience })},
	{"upstreamTokenClaims", "list", "`sub, email, tenantId`, the roles and permissions claims", "The verified claims copied into the assertion (dotted paths as `rolesClaim` reads them).",
		list(func(c *Config) *[]string { return &c.UpstreamTokenClaims })},
	{"upstreamTokenPreviousKeys", "list of PEM", "", "Keys still published after a rotation (public or private PEM), so that backends see no gap.",
		list(func(c *Config) *[]string { return &c.UpstreamTokenPreviousKeys })},
	{"upstreamJwksPath", "path", "", "A path this route answers itself, without a token, with the public keys (JWKS, `kid` the RFC 7638 thumbprint).",
		text(func(c *Config) *string { return &c.UpstreamJWKSPath })},
}

// The setters of the table, one per kind of value: each reads a given value into the Config field
// its argument points to. One assignment at a time: Yaegi v0.16.1 drops a value of a tuple
// assignment into a struct field.
func text(field func(*Config) *string) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenString(key, value)
		*field(c) = v
		return err
	}
}

func keySet(field func(*Config) *string) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenJWKS(key, value)
		*field(c) = v
		return err
	}
}

func list(field func(*Config) *[]string) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenList(key, value)
		*field(c) = v
		return err
	}
}

func flag(field func(*Config) *bool) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenBool(key, value)
		*field(c) = v
		return err
	}
}

func number(field func(*Config) *int) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenInt(key, value)
		*field(c) = v
		return err
	}
}

func headers(field func(*Config) *map[string]string) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenHeaders(key, value)
		*field(c) = v
		return err
	}
}

func issuers(field func(*Config) *[]IssuerConfig) func(*Config, string, interface{}) error {
	return func(c *Config, key string, value interface{}) error {
		v, err := givenIssuers(key, value)
		*field(c) = v
		return err
	}
}

// settingKeys are the keys of settings, for "did you mean".
func settingKeys() []string {
	keys := make([]string, len(settings))
	for i, s := range settings {
		keys[i] = s.key
	}
	return keys
}

// decodeGiven returns the configuration Given describes: CreateConfig's defaults with every
// given key applied. A key given twice (in two spellings), unknown, null, "" or of the wrong
// type is an error naming it.
func decodeGiven(given map[string]interface{}) (*Config, error) {
	config := CreateConfig()
	seen := map[string]string{}
	var unknown map[string]interface{}
	// Sorted, so that the same configuration is refused with the same error on every load.
	for _, key := range sortedKeys(given) {
		name := strings.ToLower(key)
		if other, twice := seen[name]; twice {
			return nil, fmt.Errorf("%s: is given twice (also as %q); keep one", key, other)
		}
		seen[name] = key
		known, err := setKey(config, name, key, given[key])
		if err != nil {
			return nil, err
		}
		if !known {
			if unknown == nil {
				unknown = map[string]interface{}{}
			}
			unknown[key] = given[key]
		}
	}
	if err := checkUnknownKeysOf("", settingKeys(), unknown); err != nil {
		return nil, err
	}
	return config, nil
}

// setKey sets the field of key (name is its lower case) from value, as the settings table says;
// known is false for a key Config has no field for.
func setKey(c *Config, name, key string, value interface{}) (known bool, err error) {
	for _, s := range settings {
		if strings.ToLower(s.key) == name {
			// Assigned first: under Yaegi v0.16.1, returning the call's error beside another
			// value loses it.
			err := s.set(c, key, value)
			return true, err
		}
	}
	return false, nil
}
