package withauth

// Frontegg's token rules, which apply wherever a token carries one of Frontegg's types.

// Token types accepted per header, as Frontegg's SDKs accept them.
var (
	authorizationTokenTypes = map[string]bool{"userToken": true, "userApiToken": true, "tenantApiToken": true}
	apiKeyTokenTypes        = map[string]bool{"userAccessToken": true, "tenantAccessToken": true}
)

// fronteggTokenTypes is checkTokenType for a route, in vendor mode or not.
func fronteggTokenTypes(vendorMode bool) func(claims map[string]interface{}, source credentialSource) error {
	return func(claims map[string]interface{}, source credentialSource) error {
		return checkTokenType(claims, source, vendorMode)
	}
}

// checkTokenType applies Frontegg's token types: access tokens only in x-api-key, where
// Frontegg is asked whether they are active; the others in every other source (Authorization,
// tokenHeader, tokenCookie, tokenQueryParameter). A type that is not one of Frontegg's five is
// another issuer's and ignored, except in vendor mode, where every token is signed by
// Frontegg, which always sets one.
func checkTokenType(claims map[string]interface{}, source credentialSource, vendorMode bool) error {
	value, present := claims["type"]
	tokenType, _ := value.(string)
	if !authorizationTokenTypes[tokenType] && !apiKeyTokenTypes[tokenType] {
		switch {
		case vendorMode && !present:
			return errNoFronteggType
		case vendorMode:
			return errFronteggType
		}
		return nil
	}
	if source == fromAPIKey && !apiKeyTokenTypes[tokenType] || source != fromAPIKey && !authorizationTokenTypes[tokenType] {
		return errFronteggType
	}
	return nil
}

// userID is the id Frontegg's SDKs give the user of a token (req.frontegg.user.id), which a
// forwarded header naming the claim "id" carries, never a token's own "id" claim: the creating
// user for API tokens, the owning user for access tokens, none for tenant tokens. Tokens of
// other issuers, without a Frontegg type, are identified by sub.
func userID(claims map[string]interface{}) (interface{}, bool) {
	tokenType, _ := claims["type"].(string)
	var id interface{}
	switch tokenType {
	case "userApiToken":
		id = claims["createdByUserId"]
	case "userAccessToken":
		id = claims["userId"]
	case "tenantApiToken", "tenantAccessToken":
		return "", false
	default:
		id = claims["sub"]
	}
	s, ok := id.(string)
	return s, ok && s != ""
}
