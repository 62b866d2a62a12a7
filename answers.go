package withauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Every error a client can see, and how it is answered. They are sentinels compared with ==,
// since errors.Is and errors.As do not work on interpreted error types under Yaegi; their text
// is the error_description clients read.
var (
	// No credentials: 401 with the bare challenge.
	errNoCredentials = errors.New("a bearer token is required")

	// Credentials that are not one token: 400 invalid_request.
	errTwoAuthorization  = errors.New("more than one Authorization header")
	errNotOneBearerToken = errors.New("the Authorization header is not Bearer followed by one token")
	errTwoAPIKeys        = errors.New("more than one x-api-key header")

	// The token (jwt.go, keys): 401 invalid_token.
	errTokenTooLarge  = errors.New("the token is larger than 64 KiB")
	errMalformed      = errors.New("the token is not a compact JWS (three base64url parts)")
	errEncrypted      = errors.New("encrypted tokens (JWE) are not accepted")
	errBadHeader      = errors.New("the token header is not a JSON object")
	errAlgorithm      = errors.New("the token is not signed with an accepted algorithm (algorithms)")
	errKeyAlgorithm   = errors.New("the token's algorithm is not one its key may verify")
	errCritical       = errors.New("the token header lists critical extensions, which are not supported")
	errKidType        = errors.New("the token header kid is not a string")
	errBadSignature   = errors.New("the token signature is invalid")
	errBadClaims      = errors.New("the token claims are not a JSON object")
	errNoExpiry       = errors.New("the token has no numeric exp claim")
	errExpired        = errors.New("the token has expired")
	errNotYetValid    = errors.New("the token is not valid yet (nbf)")
	errIssuedInFuture = errors.New("the token was issued in the future (iat)")
	errBadTimeClaim   = errors.New("the token has a non-numeric nbf or iat claim")
	errIssuer         = errors.New("the token issuer (iss) is not the expected one")
	errAudience       = errors.New("the token audience (aud) is not an expected one")
	errUnknownKey     = errors.New("the token is signed by an unknown key (kid)")
	errTokenTyp       = errors.New("the token header's typ is not an accepted one")
	errAuthorized     = errors.New("the token's authorized party (azp, else client_id) is not an accepted one")

	// Frontegg's token rules (frontegg_tokens.go, frontegg_access.go): 401 invalid_token.
	errTokenType      = errors.New("the token type is not accepted in this header")
	errNoTokenType    = errors.New("the token has no Frontegg token type (type claim)")
	errAccessRevoked  = errors.New("the access token is not active")
	errAccessDisabled = errors.New("access tokens are disabled for this Frontegg account")

	// A valid token without the step-up the route requires: 401 with RFC 9470's challenge.
	errStepUpRequired = errors.New("this route requires a stronger, or more recent, authentication")

	// A valid token without what the route requires: 403 insufficient_scope.
	errInsufficientScope = errors.New("the token lacks the roles or permissions this route requires")

	// Not decidable now: 503 temporarily_unavailable with Retry-After.
	errKeysUnavailable  = errors.New("the signing keys could not be obtained yet; try again shortly")
	errCheckUnavailable = errors.New("the access token could not be checked with Frontegg; try again shortly")

	// A bug in withauth (a recovered panic): 500 server_error, for that request alone.
	errInternal = errors.New("internal error in the authentication middleware")
)

const realm = "withauth"

// refuse answers a request withauth does not let through: the one place where an error
// becomes a status, an OAuth error code (RFC 6750) and a challenge.
func (m *Middleware) refuse(rw http.ResponseWriter, err error) {
	switch err {
	case errNoCredentials:
		writeError(rw, http.StatusUnauthorized, "unauthorized", err.Error(), `Bearer realm="`+realm+`"`)
	case errTwoAuthorization, errNotOneBearerToken, errTwoAPIKeys:
		writeChallenge(rw, http.StatusBadRequest, "invalid_request", err)
	case errInsufficientScope:
		writeChallenge(rw, http.StatusForbidden, "insufficient_scope", err)
	case errStepUpRequired:
		writeError(rw, http.StatusUnauthorized, "insufficient_user_authentication", err.Error(), m.stepUp.challenge)
	case errKeysUnavailable, errCheckUnavailable:
		wait := time.Second
		if err == errKeysUnavailable {
			if d := m.trust.retryAfter(); d > 0 {
				wait = d
			}
		}
		rw.Header().Set("Retry-After", strconv.FormatInt(int64(wait/time.Second)+1, 10))
		writeError(rw, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error(), "")
	case errInternal:
		writeError(rw, http.StatusInternalServerError, "server_error", err.Error(), "")
	default:
		writeChallenge(rw, http.StatusUnauthorized, "invalid_token", err)
	}
}

// writeChallenge answers with an RFC 6750 WWW-Authenticate challenge naming the error.
func writeChallenge(rw http.ResponseWriter, status int, code string, err error) {
	challenge := `Bearer realm="` + realm + `", error="` + code + `", error_description="` + err.Error() + `"`
	writeError(rw, status, code, err.Error(), challenge)
}

func writeError(rw http.ResponseWriter, status int, code, description, challenge string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	header := rw.Header()
	if challenge != "" {
		header.Set("WWW-Authenticate", challenge)
	}
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}
